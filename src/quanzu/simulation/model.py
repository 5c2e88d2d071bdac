"""The discrete-event model (SimPy) of a district: warnings arrive, the real routing function
places them, the station's on-duty dissuaders work them through the prescribed steps while the
fraudster's clock runs; guards, relatives and bank branches may win the race first.

What is real and what is simulated:
- routing: `routing.rules.route` (pure) on each warning's address and phone;
- what a case needs before it may close: `dissuasion.rules.close_shortfalls` over the policy;
- SLA deadlines, the escalation ladder and its waits: the policy (`policy/default.yaml`);
- follow-up callbacks: `followups.rules.starts_plan` / `plan_callbacks`;
- people's times and choices: drawn from the scenario, with common random numbers (each warning
  carries its own random stream, so two scenarios run with one seed meet the same targets).
Time is seconds since the scenario's start; `records` are what a run leaves behind."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import NormalDist
from typing import Any

import simpy

from quanzu.codes import RiskLevel
from quanzu.dissuasion.rules import DoneStep, close_shortfalls
from quanzu.followups.rules import LOCAL_TZ, plan_callbacks, starts_plan
from quanzu.policy.schemas import Policy, Rung
from quanzu.simulation.district import ELSEWHERE, ELSEWHERE_PHONE, LOCAL_PHONE, District, route_warning
from quanzu.simulation.scenario import SHIFTS, LogNormal, Scenario

HOUR = 3600.0
DAY = 24 * HOUR
MINUTE = 60.0
_NORMAL = NormalDist()
TRIAGE = "__triage__"  # the centre's queue


class Draws:
    """One warning's own random stream: its choices do not depend on what else happens in the run."""

    def __init__(self, seed: int, index: int) -> None:
        self._rng = random.Random(f"{seed}:{index}")

    def u(self) -> float:
        return self._rng.random()

    def chance(self, p: float) -> bool:
        return self._rng.random() < p

    def lognormal(self, d: LogNormal) -> float:
        u = min(max(self._rng.random(), 1e-12), 1 - 1e-12)
        return d.median * math.exp(d.sigma * _NORMAL.inv_cdf(u))

    def minutes(self, d: LogNormal) -> float:
        return self.lognormal(d) * MINUTE

    def pick(self, weights: dict[Any, float]) -> Any:
        return self._rng.choices(list(weights), weights=list(weights.values()))[0]


@dataclass(slots=True)
class Step:
    kind: str
    started: float
    ended: float
    outcome: str | None
    actor: str = "dissuader"


@dataclass(slots=True)
class CaseRecord:
    """One warning's life as the run saw it (seconds since start)."""

    index: int
    received: float
    station: str | None  # None: stayed in triage (never happens: the centre routes it)
    routing_method: str
    routing_detail: str
    risk: str
    scam_type: str
    amount: float
    address: str | None
    phone: str
    transfer_at: float  # when the fraudster would get the first transfer
    steps: list[Step] = field(default_factory=list)
    signed_at: float | None = None
    first_contact_at: float | None = None
    first_contact_by: str | None = None  # officer | guard | relative
    dissuaded_at: float | None = None
    first_meeting_outcome: str | None = None
    closed_at: float | None = None
    outcome: str | None = None
    amount_protected: float | None = None
    amount_lost: float | None = None
    bank_stopped: bool = False
    callbacks: int = 0
    second_attempt: str | None = None  # None | caught | lost
    second_amount: float = 0.0
    slas: dict[str, tuple[float, float | None, float | None]] = field(default_factory=dict)
    escalated_at: float | None = None
    acks: list[float] = field(default_factory=list)  # escalations acknowledged
    routed_at: float | None = None  # a triage warning routed by the centre
    tier: int = 1

    @property
    def reached_before_transfer(self) -> bool:
        return self.first_contact_at is not None and self.first_contact_at < self.transfer_at

    @property
    def protected(self) -> float:
        return self.amount_protected or 0.0


@dataclass(slots=True)
class RunLog:
    records: list[CaseRecord]
    busy: dict[tuple[str, int], float]  # (station, local hour) → officer-seconds working
    on_duty: dict[tuple[str, int], float]  # (station, local hour) → officer-seconds on duty
    events: int  # SimPy events processed (the benchmark's event count)


def local_hour(start: datetime, t: float) -> tuple[int, int]:
    """(local hour of day, weekday) at `t` seconds after `start`."""
    at = (start + timedelta(seconds=t)).astimezone(LOCAL_TZ)
    return at.hour, at.weekday()


class Model:
    def __init__(self, scenario: Scenario, policy: Policy, district: District, start: datetime, seed: int):
        self.s, self.policy, self.district, self.start, self.seed = scenario, policy, district, start, seed
        self.env = simpy.Environment()
        self.horizon = scenario.days * DAY
        self.records: list[CaseRecord] = []
        self.busy: dict[tuple[str, int], float] = {}
        self.on_duty: dict[tuple[str, int], float] = {}
        self.teams: dict[str, simpy.PriorityResource] = {}
        self.events = 0
        self.progress: Callable[[float], None] | None = None
        for st in district.stations:
            top = max(scenario.staffing.on_duty(st.code, i) for i in range(len(SHIFTS)))
            self.teams[st.code] = simpy.PriorityResource(self.env, capacity=max(top, 1))

    # --- arrivals ------------------------------------------------------------------------------

    def arrival_times(self) -> Iterator[float]:
        """A non-homogeneous Poisson process by thinning: daily and weekly profile."""
        a = self.s.arrivals
        if a.fixed_interval_minutes is not None:
            t = 0.0
            while t < self.horizon:
                yield t
                t += a.fixed_interval_minutes * MINUTE
            return
        rng = random.Random(f"{self.seed}:arrivals")
        hourly_mean = sum(a.hourly) / 24
        weekly_mean = sum(a.weekly) / 7
        peak = max(a.hourly) / hourly_mean * max(a.weekly) / weekly_mean
        base = a.warnings_per_year / (365 * DAY)
        t = 0.0
        while True:
            t += rng.expovariate(base * peak)
            if t >= self.horizon:
                return
            hour, weekday = local_hour(self.start, t)
            accept = (a.hourly[hour] / hourly_mean) * (a.weekly[weekday] / weekly_mean) / peak
            if rng.random() < accept:
                yield t

    def arrivals(self) -> Generator[simpy.Event, Any, None]:
        for index, t in enumerate(self.arrival_times()):
            if t > self.env.now:
                yield self.env.timeout(t - self.env.now)
            self.env.process(self.case(index, Draws(self.seed, index)))
            if self.progress is not None:
                self.progress(self.env.now)

    # --- staffing: capacity follows the shifts --------------------------------------------------

    def shifts(self, code: str) -> Generator[simpy.Event, Any, None]:
        """Holds the slots of dissuaders who are not on duty in this shift (they finish the case
        in hand first, as people do)."""
        team = self.teams[code]
        t = 0.0
        while t < self.horizon:
            hour, _ = local_hour(self.start, t)
            shift = next(i for i, (a, b) in enumerate(SHIFTS) if a <= hour < b)
            end = t + (SHIFTS[shift][1] - hour) * HOUR
            end -= (self.start + timedelta(seconds=t)).astimezone(LOCAL_TZ).minute * MINUTE
            end = min(end, self.horizon)
            staff = self.s.staffing.on_duty(code, shift)
            self._count_duty(code, t, end, staff)
            blocked = int(team.capacity) - staff
            holds = [team.request(priority=-1) for _ in range(blocked)]
            yield self.env.timeout(end - t)
            for req in holds:
                if req.triggered:
                    team.release(req)
                else:
                    req.cancel()
            t = end

    def _count_duty(self, code: str, a: float, b: float, staff: int) -> None:
        self._spread(self.on_duty, code, a, b, staff)

    def _spread(self, table: dict[tuple[str, int], float], code: str, a: float, b: float, n: float) -> None:
        """Adds `n` × the seconds of [a, b) to each local hour of day it covers."""
        t = a
        while t < b:
            at = self.start + timedelta(seconds=t)
            local = at.astimezone(LOCAL_TZ)
            next_hour = t + (3600 - local.minute * 60 - local.second - local.microsecond / 1e6)
            upto = min(b, next_hour)
            key = (code, local.hour)
            table[key] = table.get(key, 0.0) + n * (upto - t)
            t = upto

    # --- one warning ----------------------------------------------------------------------------

    def new_record(self, index: int, d: Draws) -> CaseRecord:
        a, st = self.s.arrivals, self.district.stations
        kind = d.u()
        station = st[int(d.u() * len(st))]
        address: str | None = station.addresses[int(d.u() * len(station.addresses))]
        phone = LOCAL_PHONE
        if kind < a.triage_share:
            address, phone = ELSEWHERE[int(d.u() * len(ELSEWHERE))], ELSEWHERE_PHONE
        elif kind < a.triage_share + a.phone_only_share:
            address = None
        decision = route_warning(address, phone, self.district.rules)
        risk = d.pick(dict(a.risk_mix))
        scam = d.pick(dict(a.scam_mix))
        amount = round(d.lognormal(a.amount_yuan[risk]), 2)
        hours = d.lognormal(self.s.targets.transfer_hours[scam]) * self.s.targets.transfer_risk_factor[risk]
        known = {x.code for x in st}
        target_station = decision.station_code if decision.station_code in known else None
        return CaseRecord(
            index=index,
            received=self.env.now,
            station=target_station,
            routing_method=str(decision.method) if target_station else "triage",
            routing_detail=decision.detail,
            risk=str(risk),
            scam_type=str(scam),
            amount=amount,
            address=address,
            phone=phone,
            transfer_at=self.env.now + hours * HOUR,
        )

    def case(self, index: int, d: Draws) -> Generator[simpy.Event, Any, None]:
        rec = self.new_record(index, d)
        self.records.append(rec)
        not_fraud = d.chance(self.s.arrivals.not_fraud_share)
        if rec.station is None:  # the centre's triage queue: a person routes it by hand
            yield self.env.timeout(d.minutes(self.s.officers.triage))
            rec.station = self.district.stations[int(d.u() * len(self.district.stations))].code
            rec.routed_at = self.env.now
        yield self.env.timeout(d.minutes(self.s.officers.sign))
        rec.signed_at = self.env.now
        rec.steps.append(Step("sign", self.env.now, self.env.now, None, actor="duty_leader"))
        helper = self.helper_race(rec, d, not_fraud)
        if helper is not None:
            self.env.process(helper)
        team = self.teams[rec.station]
        priority = -RiskLevel(rec.risk).rank  # extreme first (0 is reserved for shift holds: -1)
        with team.request(priority=priority + 10) as req:
            yield req
            began = self.env.now
            yield from self.work(rec, d, not_fraud)
            self._spread(self.busy, rec.station, began, self.env.now, 1)
        self.after_close(rec, d)

    def helper_race(
        self, rec: CaseRecord, d: Draws, not_fraud: bool
    ) -> Generator[simpy.Event, Any, None] | None:
        """Guards and relatives are asked as soon as the warning is signed; the first to reach
        the target wins the race (and may talk them out of it)."""
        soc = self.s.social
        tries: list[tuple[float, str, bool]] = []
        guard = d.chance(soc.guard_coverage) and d.chance(soc.guard_reach)
        guard_t, guard_ok = d.minutes(soc.guard_minutes), d.chance(soc.guard_dissuades)
        relative = d.chance(soc.relative_reach)
        relative_t, relative_ok = d.minutes(soc.relative_minutes), d.chance(soc.relative_dissuades)
        if soc.guards and guard:
            tries.append((guard_t, "guard", guard_ok))
        if soc.relatives and relative:
            tries.append((relative_t, "relative", relative_ok))
        if not tries or not_fraud:
            return None
        return self._helpers(rec, sorted(tries))

    def _helpers(
        self, rec: CaseRecord, tries: list[tuple[float, str, bool]]
    ) -> Generator[simpy.Event, Any, None]:
        started = self.env.now
        for after, who, dissuades in tries:
            yield self.env.timeout(started + after - self.env.now)
            if rec.closed_at is not None:
                return
            self.contact(rec, who)
            if dissuades and rec.dissuaded_at is None and not self.transferred(rec):
                rec.dissuaded_at = self.env.now

    # --- the officer's work -----------------------------------------------------------------------

    def contact(self, rec: CaseRecord, who: str) -> None:
        if rec.first_contact_at is None:
            rec.first_contact_at, rec.first_contact_by = self.env.now, who

    def transferred(self, rec: CaseRecord) -> bool:
        """The fraudster got the first transfer (unless a linked bank branch stopped it)."""
        return self.env.now >= rec.transfer_at and not rec.bank_stopped

    def step(self, rec: CaseRecord, kind: str, began: float, outcome: str | None) -> None:
        rec.steps.append(Step(kind, began, self.env.now, outcome))

    def work(self, rec: CaseRecord, d: Draws, not_fraud: bool) -> Generator[simpy.Event, Any, None]:
        o, tg = self.s.officers, self.s.targets
        self.bank_check(rec, d)
        answered = False
        for attempt in range(o.call_attempts):
            if attempt:
                yield self.env.timeout(d.minutes(o.retry_gap))
            began = self.env.now
            yield self.env.timeout(d.minutes(o.call))
            if not d.chance(tg.answer):
                self.step(rec, "phone", began, "no_answer")
                continue
            answered = True
            self.contact(rec, "officer")
            if not_fraud:
                self.step(rec, "phone", began, "answered")
                return (yield from self.close(rec, d, "not_fraud"))
            if self.transferred(rec):
                self.step(rec, "phone", began, "answered")
                return (yield from self.close(rec, d, "lost"))
            if rec.dissuaded_at is not None or d.chance(tg.phone_dissuaded[RiskLevel(rec.risk)]):
                self.step(rec, "phone", began, "dissuaded")
                rec.dissuaded_at = rec.dissuaded_at or self.env.now
                if not close_shortfalls(self.policy, rec.risk, "dissuaded", self.done(rec)):
                    return (yield from self.close(rec, d, "dissuaded"))
            else:
                self.step(rec, "phone", began, "not_convinced")
            break
        # On the way: analysis runs alongside (the duty leader's work), the dissuader goes on site.
        rec.steps.append(
            Step("analysis", self.env.now, self.env.now + d.minutes(o.analysis), "done", "duty_leader")
        )
        travel = d.lognormal(o.distance_km) / o.speed_kmh * HOUR
        yield self.env.timeout(travel)
        began = self.env.now
        yield self.env.timeout(d.minutes(o.search))
        found = answered or d.chance(tg.found_on_site)
        self.step(rec, "onsite_search", began, "found" if found else "not_found")
        if found:
            began = self.env.now
            yield self.env.timeout(d.minutes(o.meet))
            self.contact(rec, "officer")
            if self.transferred(rec) and rec.dissuaded_at is None:
                outcome = "lost"
                self.meeting(rec, began, "not_convinced")
            elif not_fraud:
                outcome = "not_fraud"
                self.meeting(rec, began, "not_convinced")
            elif rec.dissuaded_at is not None or d.chance(tg.meeting_dissuaded):
                outcome = "dissuaded"
                rec.dissuaded_at = rec.dissuaded_at or self.env.now
                self.meeting(rec, began, "dissuaded")
            else:  # deeply deceived: the money goes when the fraudster asks for it
                outcome = "lost"
                self.meeting(rec, began, "not_convinced")
        elif rec.dissuaded_at is not None:
            outcome = "dissuaded"  # a guard or relative talked them out of it
        else:
            outcome = (
                "lost" if self.transferred(rec) or rec.transfer_at < self.env.now + DAY else "unreachable"
            )
        yield self.env.timeout(travel)  # back to the station
        yield from self.close(rec, d, outcome)

    def meeting(self, rec: CaseRecord, began: float, outcome: str) -> None:
        self.step(rec, "face_to_face", began, outcome)
        rec.first_meeting_outcome = rec.first_meeting_outcome or outcome

    def bank_check(self, rec: CaseRecord, d: Draws) -> None:
        """Watched customers (the policy's risk levels) are screened at linked branches."""
        b = self.s.banks
        watched = RiskLevel(rec.risk) in self.policy.banks.watch_risk_levels
        covered, stops = d.chance(b.coverage), d.chance(b.stops)
        rec.bank_stopped = b.enabled and watched and covered and stops

    def done(self, rec: CaseRecord) -> list[DoneStep]:
        return [DoneStep(s.kind, s.outcome, True) for s in rec.steps]

    def close(self, rec: CaseRecord, d: Draws, outcome: str) -> Generator[simpy.Event, Any, None]:
        """Does what the policy's close rules still require (the real `close_shortfalls`),
        then writes the feedback."""
        o = self.s.officers
        if outcome == "dissuaded" and rec.dissuaded_at is None:
            rec.dissuaded_at = self.env.now
        for gap in close_shortfalls(self.policy, rec.risk, outcome, self.done(rec)):
            kind = gap.removeprefix("step ").removesuffix(" not done") if gap.startswith("step ") else "phone"
            began = self.env.now
            if kind == "face_to_face":
                yield self.env.timeout(d.minutes(o.meet))
                self.contact(rec, "officer")
                self.meeting(rec, began, "dissuaded" if outcome == "dissuaded" else "not_convinced")
            elif kind == "phone":
                yield self.env.timeout(d.minutes(o.call))
                self.contact(rec, "officer")
                self.step(rec, "phone", began, "dissuaded" if outcome == "dissuaded" else "answered")
            elif kind == "onsite_search":
                yield self.env.timeout(d.minutes(o.search))
                self.step(rec, "onsite_search", began, "not_found")
            else:  # analysis and anything else the policy may add
                yield self.env.timeout(d.minutes(o.analysis))
                self.step(rec, kind, began, "done" if kind == "analysis" else None)
        yield self.env.timeout(d.minutes(o.feedback))
        for s in rec.steps:  # the analysis running alongside is finished by the close
            s.ended = min(s.ended, self.env.now)
        rec.closed_at, rec.outcome = self.env.now, outcome
        if outcome == "dissuaded":
            rec.amount_protected = rec.amount
        elif outcome == "lost":
            rec.amount_lost = rec.amount

    # --- after the close: SLA clocks, the ladder, follow-ups --------------------------------------

    def after_close(self, rec: CaseRecord, d: Draws) -> None:
        self.clocks(rec, d)
        self.followups(rec, d)

    def clocks(self, rec: CaseRecord, d: Draws) -> None:
        """The policy's SLA clocks, met or breached as the real timers would decide, and the
        escalation ladder climbed from the first breach until acknowledged or closed."""
        closed = rec.closed_at if rec.closed_at is not None else math.inf
        meetings = [s.ended for s in rec.steps if s.kind == "face_to_face"]
        met = {
            "sign": rec.signed_at,
            "first_contact": rec.first_contact_at,
            "face_to_face": min(meetings) if meetings else None,
            "feedback": rec.closed_at,
        }
        breaches = []
        for kind, allowed in self.policy.sla[RiskLevel(rec.risk)].items():
            due = rec.received + allowed.total_seconds()
            at = met[kind]
            breached = due if (at is None or at > due) and closed > due else None
            rec.slas[kind] = (due, at, breached)
            if breached is not None:
                breaches.append(breached)
        # As `escalation.service`: a breach starts a climb unless one is under way; each rung
        # waits the policy's wait; an acknowledgement stops the climb, a later breach restarts it.
        wait = self.policy.escalation.wait[RiskLevel(rec.risk)].total_seconds()
        ack = d.minutes(self.s.officers.leader_ack) if self.s.officers.leader_ack is not None else None
        climbing_until = -math.inf
        for breach in sorted(breaches):
            if breach < climbing_until:
                continue
            rec.escalated_at = rec.escalated_at if rec.escalated_at is not None else breach
            stop = min(closed, breach + ack) if ack is not None else closed
            for i, rung in enumerate(self.ladder(rec, breach)):
                if i and breach + i * wait >= stop:
                    break
                rec.tier = max(rec.tier, rung.tier)
            if stop < closed:
                rec.acks.append(stop)
            climbing_until = stop if stop < closed else math.inf

    def ladder(self, rec: CaseRecord, at: float) -> list[Rung]:
        """The ladder frozen when a climb starts: a warning still in the centre's triage queue has
        no station, so only the rungs with someone to tell (the centre) remain."""
        in_triage = rec.routed_at is not None and at < rec.routed_at
        return [r for r in self.policy.escalation.ladder if not in_triage or r.notify == "centre"]

    def followups(self, rec: CaseRecord, d: Draws) -> None:
        """Callbacks (回访) from the real plan; a second attempt inside the window is caught if a
        callback comes before it and notices."""
        fu = self.policy.followups
        starter = next((s for s in rec.steps if starts_plan(fu, rec.risk, s.kind, s.outcome)), None)
        second = d.chance(self.s.targets.second_attempt)
        when = d.u() * 28 * DAY
        notices = d.chance(self.s.targets.callback_catches)
        if starter is None or rec.outcome != "dissuaded":
            return
        callbacks = plan_callbacks(fu, rec.risk, self.start + timedelta(seconds=starter.ended))
        rec.callbacks = len(callbacks)
        if not second:
            return
        attempt_at = (rec.closed_at or starter.ended) + when
        before = [c for c in callbacks if (c.due_at - self.start).total_seconds() < attempt_at]
        rec.second_amount = rec.amount
        rec.second_attempt = "caught" if before and notices else "lost"

    # --- running --------------------------------------------------------------------------------

    def run(self) -> RunLog:
        self.env.process(self.arrivals())
        for code in self.teams:
            self.env.process(self.shifts(code))
        env = self.env
        while True:
            try:
                env.step()
            except simpy.core.EmptySchedule:
                break
            self.events += 1
        return RunLog(records=self.records, busy=self.busy, on_duty=self.on_duty, events=self.events)
