"""`--full`: the same simulated decisions replayed through the real services on a throwaway
SQLite database, with a FakeClock the simulation advances — intake (routing, merging, dispatch,
SLA clocks, bank watch), the centre's routing of triage warnings, every step, helpers' contacts,
acknowledgements, closes with their reverse-check lists — and the worker's timer handlers (SLA
breaches, the escalation ladder, shift handovers, follow-up reminders) fired at their due times.

About 40 warnings and 13 handled cases a second here (measured), so this is for days, not
years: the fast mode writes the same rows in bulk for the district year."""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from quanzu.auth.actor import Actor
from quanzu.auth.service import actor_for
from quanzu.codes import Role
from quanzu.demo.people import add_people
from quanzu.dissuasion import service as dissuasion
from quanzu.dissuasion.schemas import CloseIn, RouteIn, StepIn
from quanzu.intake import service as intake
from quanzu.intake.schemas import WarningIn
from quanzu.kit.clock import FakeClock
from quanzu.kit.db import transaction
from quanzu.kit.errors import DomainError
from quanzu.kit.identifiers import id_check_char
from quanzu.kit.runtime import Runtime
from quanzu.models.cases import Case
from quanzu.models.org import User
from quanzu.org.service import import_org
from quanzu.simulation.district import District
from quanzu.simulation.model import CaseRecord
from quanzu.timers.service import fire_due, next_due
from quanzu.worker.runner import TIMER_BATCH_HOOKS, TIMER_BATCHES, TIMER_HANDLERS

FEED = Actor(kind="client", id=None, name="simulation-feed", role=Role.FEED)
REVERSE_CHECK = [{"kind": "app", "value": "模拟诈骗APP"}]


@dataclass(frozen=True, slots=True)
class Action:
    at: float
    order: int  # ties: intake before routing before steps before the close
    record: CaseRecord
    kind: str
    payload: Any = None


def load_org_with_roster(
    session: Session, rt: Runtime, district: District, start: datetime, days: int
) -> None:
    org = add_people(district.org, random.Random(0), start, days + 2)
    org = org.model_copy(update={"users": [u.model_copy(update={"password": None}) for u in org.users]})
    import_org(session, rt, org.model_dump(mode="json"))
    rt.org.invalidate()


def actions(records: list[CaseRecord]) -> list[Action]:
    out: list[Action] = []
    for r in records:
        out.append(Action(r.received, 0, r, "receive"))
        if r.routed_at is not None:
            out.append(Action(r.routed_at, 1, r, "route"))
        if r.first_contact_by in ("guard", "relative") and r.first_contact_at is not None:
            out.append(Action(r.first_contact_at, 2, r, "contact"))
        out += [Action(s.ended, 2, r, "step", s) for s in r.steps]
        out += [Action(t, 3, r, "acknowledge") for t in r.acks]
        if r.closed_at is not None:
            out.append(Action(r.closed_at, 4, r, "close"))
    return sorted(out, key=lambda a: (a.at, a.order, a.record.index))


class Replayer:
    def __init__(
        self, factory: sessionmaker[Session], rt: Runtime, clock: FakeClock, start: datetime
    ) -> None:
        self.factory, self.rt, self.clock, self.start = factory, rt, clock, start
        self.case_ids: dict[int, int] = {}
        self.actors: dict[str, Actor] = {}
        with factory() as session:
            for user in session.scalars(select(User)):
                self.actors[user.username] = actor_for(session, user)
        self.centre = self.actors["centre"]

    def run(self, plan: list[Action], progress: Callable[[float], None] | None = None) -> None:
        for n, action in enumerate(plan):
            self.advance_to(self.start + timedelta(seconds=action.at))
            with transaction(self.factory) as session:
                self.apply(session, action)
            if progress is not None and n % 50 == 0:
                progress(n / len(plan))

    def advance_to(self, when: datetime) -> None:
        """Fires every timer due before `when`, each at its own due time, as the worker would."""
        while (due := next_due(self.factory)) is not None and due <= when:
            self.clock.set(max(due, self.clock.now()))
            fire_due(self.factory, self.rt, TIMER_HANDLERS, prepare=TIMER_BATCH_HOOKS, batches=TIMER_BATCHES)
        self.clock.set(max(when, self.clock.now()))

    def apply(self, session: Session, a: Action) -> None:
        r = a.record
        if a.kind == "receive":
            out = intake.receive(session, self.rt, FEED, warning_for(r, self.clock.now()))
            self.case_ids[r.index] = out.accepted.case_id
            return
        case_id = self.case_ids[r.index]
        station = (r.station or "").lower()
        if a.kind == "route" and r.station is not None:
            dissuasion.route(session, self.rt, self.centre, case_id, RouteIn(station=r.station))
        elif a.kind == "contact":
            case = session.get(Case, case_id)
            if case is not None:
                dissuasion.record_contact(session, case, self.clock.now())
        elif a.kind == "step":
            who = self.actors[f"{station}-leader1" if a.payload.actor == "duty_leader" else f"{station}-d1"]
            dissuasion.record_step(
                session, self.rt, who, case_id, StepIn(kind=a.payload.kind, outcome=a.payload.outcome)
            )
        elif a.kind == "acknowledge":
            with suppress(DomainError):  # the real timers may not have started a climb just now
                dissuasion.acknowledge(session, self.rt, self.centre, case_id)
        elif a.kind == "close":
            body: dict[str, Any] = {"outcome": r.outcome}
            if r.outcome == "dissuaded":
                body["amount_protected"] = f"{r.amount_protected:.2f}"
            if r.outcome == "lost":
                body["amount_lost"] = f"{r.amount_lost:.2f}"
            if r.outcome in self.rt.policy.reverse_check_required:
                body["reverse_check"] = REVERSE_CHECK
            dissuasion.close(
                session, self.rt, self.actors[f"{station}-d1"], case_id, CloseIn.model_validate(body)
            )


def warning_for(r: CaseRecord, now: datetime) -> WarningIn:
    """A unique synthetic person per warning (the simulator does not model repeat warnings)."""
    local = r.phone.startswith("+86138625")
    phone = ("1386251" if local else "1380571") + f"{r.index % 10_000:04d}"
    born = date(1970, 1, 1) + timedelta(days=r.index % 15_000)
    first17 = f"320584{born:%Y%m%d}{r.index % 1000:03d}"
    return WarningIn.model_validate(
        {
            "external_id": f"SIM-{r.index:07d}",
            "source": "national",
            "issued_at": now.isoformat(),
            "target": {
                "name": "模拟对象",
                "phone": phone,
                "id_number": first17 + id_check_char(first17),
                "address": r.address,
            },
            "scam_type": r.scam_type,
            "risk_level": r.risk,
            "amount_at_risk": f"{r.amount:.2f}",
            "description": "模拟预警",
        }
    )
