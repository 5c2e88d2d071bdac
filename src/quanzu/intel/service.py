"""Intelligence (研判): the scam-type suggestion for a case that arrived as `other`, the explained
risk score, the dissuasion script, and fraudster contacts linked across cases and stations.

Intake and case close each make one call here (`on_warning`, `on_case_closed`); both stay in the
milliseconds: the models are loaded once per process, contacts are matched by blind index in a
few indexed queries. A warning's contacts are linked by the worker, just after intake commits
(an `intel_link` timer per warning, fired in batches): the alerts to other cases need not hold
the intake transaction; the case close's reverse-check list is linked at once."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy.orm import Session

from quanzu.audit import service as audit
from quanzu.auth.actor import SYSTEM, Actor
from quanzu.auth.scoping import case_scope, require_role
from quanzu.banks import service as banks
from quanzu.cases import repository as cases_repo
from quanzu.cases.service import urgency
from quanzu.cases.timeline import add_event, add_events
from quanzu.codes import OPEN_CASE_STATES, SCAM_TYPE_LABELS, STATE_LABELS, RiskLevel, Role
from quanzu.dispatch.service import Announcement, announce_many, broadcast_change, not_repeated
from quanzu.escalation.service import plan_slas
from quanzu.intel import repository
from quanzu.intel.contacts import mask_contact, normalise_contact
from quanzu.intel.risk import RiskAssessment, RiskInputs, assess
from quanzu.intel.schemas import (
    CaseIntelOut,
    DriverOut,
    FactorOut,
    IdentifierOut,
    LinkedCaseOut,
    RankingRow,
    RiskOut,
    ScamTypeDecisionIn,
    ScriptOut,
    SharedIdentifier,
    SuggestionOut,
    SuggestOut,
)
from quanzu.intel.suggest import suggest
from quanzu.intel.text import normalise
from quanzu.kit.db import advisory_lock, get, insert_returning_ids, insert_rows, update_by_id
from quanzu.kit.errors import NotFound
from quanzu.kit.runtime import Runtime
from quanzu.models.cases import Case, EarlyWarning
from quanzu.models.intel import FraudIdentifier, FraudSighting, ScamSuggestion
from quanzu.models.timers import Timer
from quanzu.org.cache import Unit
from quanzu.timers.service import TimerRow

if TYPE_CHECKING:
    from collections.abc import Iterable

    from quanzu.intake.schemas import WarningIn

# Kinds that identify a fraud ring: the same value in two cases links them. An app name does not
# (unrelated victims are told to install the same meeting or screen-sharing app): apps are ranked
# on /intel but never link cases, and neither does free-text `other`.
LINKING_KINDS = frozenset({"phone", "qq", "wechat", "bank_account", "url"})
DECIDERS = (Role.DISSUADER, Role.DUTY_LEADER, Role.CHIEF, Role.BRANCH, Role.CENTRE)
IDENTIFIER_CONTEXT = "fraud.identifier"


# --- at intake and at close: one call each ---------------------------------------------------------


def on_warning(session: Session, rt: Runtime, actor: Actor, row: EarlyWarning, warning: WarningIn) -> None:
    """A warning was stored: suggest a type if it has none and let the score raise the risk where
    policy allows. (Its fraudster contacts are linked by the worker: `link_timers`.)"""
    case = get(session, Case, row.case_id)
    if case is None:
        return
    if case.scam_type == "other":
        _suggest_for(session, rt, actor, case, opened_by=None if row.merged else row)
    if rt.policy.intel.auto_raise_risk:
        _raise_by_score(session, rt, actor, case)


def link_timers(row: EarlyWarning, warning: WarningIn) -> list[TimerRow]:
    """The timer that links a stored warning's fraudster contacts, due at once, for the caller to
    insert with its other timers; none for a warning without a usable contact. The worker reads
    the contacts back from the warning's `scam_contacts` rows."""
    if not any(normalise_contact(str(c.kind), c.value) is not None for c in warning.scam_contacts):
        return []
    return [(LINK_TIMER, row.id, row.received_at, "", "")]


def warning_risk(warning: WarningIn) -> RiskAssessment:
    """The score of a warning on its own (no case yet): what it says, its amount, age and type."""
    return assess(
        RiskInputs(
            amount_at_risk=warning.amount_at_risk,
            age=warning.target.age,
            scam_type=str(warning.scam_type),
            signal_count=1,
            watched=False,
            bank_events=0,
            text=normalise(warning.description),
        )
    )


def with_risk_level(warning: WarningIn) -> WarningIn:
    """A warning that came without a risk level gets the level its score gives."""
    if warning.risk_level is not None:
        return warning
    return warning.model_copy(update={"risk_level": RiskLevel(warning_risk(warning).level)})


def record_scored_level(
    session: Session, rt: Runtime, actor: Actor, case_id: int, warning: WarningIn
) -> None:
    """The case timeline says which level the score gave a warning that had none, and why."""
    case = get(session, Case, case_id)
    if case is None:
        return
    risk = warning_risk(warning)
    add_event(
        session,
        rt,
        case,
        "risk_scored",
        actor,
        level=risk.level,
        score=risk.score,
        factors=[f"{f.label} +{f.points}" for f in risk.factors],
    )


def on_case_closed(session: Session, rt: Runtime, actor: Actor, case: Case, entries: Iterable[Any]) -> None:
    """The reverse-check list (倒查清单) of a closed case joins the fraudster index (at once: a
    close is rare, and the officer sees the links on the closed case)."""
    contacts = _normalised(rt, [(e.kind, e.value) for e in entries])
    if contacts:
        advisory_lock(session, *_lock_keys(contacts))
        _link_set(session, rt, actor, [(case, _LinkJob(case.id, rt.clock.now(), contacts, "reverse_check"))])


def _suggest_for(
    session: Session, rt: Runtime, actor: Actor, case: Case, opened_by: EarlyWarning | None
) -> None:
    """`opened_by`: the warning that opened the case in this transaction, whose description is
    all there is to read and before which no suggestion can exist (two queries saved on intake)."""
    existing = None if opened_by else repository.suggestion(session, case.id)
    if existing is not None and existing.decision is not None:
        return  # an officer has decided: a repeat warning does not second-guess them
    texts = [opened_by.description] if opened_by else repository.descriptions(session, case.id)
    found = suggest("\n".join(t for t in texts if t), rt.data_dir)
    fields = {
        "scam_type": found.scam_type,
        "confidence": found.confidence,
        "model": found.model,
        "drivers": [{"term": d.term, "weight": d.weight} for d in found.drivers],
        "created_at": rt.clock.now(),
    }
    if existing is None:
        # A row kept back, written with the transaction's others: an object added to the
        # session would cost the commit a flush of its own, two more round trips.
        insert_rows(session, ScamSuggestion, [{"case_id": case.id, **fields}])
    else:
        for name, value in fields.items():
            setattr(existing, name, value)
    if found.scam_type and found.confidence >= rt.policy.intel.min_confidence:
        add_event(
            session,
            rt,
            case,
            "scam_type_suggested",
            actor,
            scam_type=found.scam_type,
            confidence=found.confidence,
            drivers=[d.term for d in found.drivers[:5]],
            model=found.model,
        )


def _raise_by_score(session: Session, rt: Runtime, actor: Actor, case: Case) -> None:
    risk = _assess(session, case)
    if RiskLevel(risk.level).rank <= RiskLevel(case.risk_level).rank:
        return
    previous, case.risk_level = case.risk_level, risk.level
    case.urgency = urgency(case.risk_level, case.signal_count)
    plan_slas(session, rt, case)  # a raised risk tightens the open deadlines
    add_event(
        session,
        rt,
        case,
        "risk_raised_by_score",
        actor,
        previous=previous,
        level=risk.level,
        score=risk.score,
    )
    banks.watch_by_policy(session, rt, case)


LINK_FANOUT = 5

# --- fraudster contacts across cases ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Contact:
    kind: str
    value: str
    bidx: str


def _normalised(rt: Runtime, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], _Contact]:
    """(kind, blind index) → the contact, for the pairs that are usable contacts."""
    out: dict[tuple[str, str], _Contact] = {}
    for kind, raw in pairs:
        value = normalise_contact(str(kind), raw)
        if value is not None:
            bidx = rt.cipher.blind_index(value, kind=f"fraud.{kind}")
            out[(str(kind), bidx)] = _Contact(str(kind), value, bidx)
    return out


def _lock_keys(contacts: Iterable[tuple[str, str]]) -> list[str]:
    return [f"fraud:{kind}:{bidx}" for kind, bidx in contacts]


# --- a warning's contacts, linked by the worker ------------------------------------------------------

LINK_TIMER = "intel_link"
_LINK_BATCH = "quanzu.intel.link_batch"  # session.info: the batch's jobs, by warning id
_LINK_CASES = "quanzu.intel.link_cases"  # session.info: their cases (a tuple: not a savepoint's list)


@dataclass(frozen=True, slots=True)
class _LinkJob:
    case_id: int
    received_at: datetime  # when the contacts were seen
    contacts: dict[tuple[str, str], _Contact]
    source: str = "warning"  # or "reverse_check": a closed case's list


def _link_jobs(session: Session, rt: Runtime, warning_ids: list[int]) -> dict[int, _LinkJob]:
    """The warnings' cases and normalised contacts, in one query."""
    heads: dict[int, tuple[int, datetime]] = {}
    pairs: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for warning_id, case_id, received_at, kind, value in repository.warning_contacts(session, warning_ids):
        heads[warning_id] = (case_id, received_at)
        pairs[warning_id].append((kind, value))
    return {w: _LinkJob(c, at, _normalised(rt, pairs[w])) for w, (c, at) in heads.items()}


def prepare_links(session: Session, rt: Runtime, timers: list[Timer]) -> list[Timer]:
    """A batch of link timers shares its reads and locks: the warnings' contacts in one query,
    their cases in another, every contact's advisory lock in one statement (sorted, so two
    workers' batches cannot deadlock on them). The warnings fire in id order: of two warnings in
    one batch that share a new phone, the later links to the earlier, as at intake."""
    jobs = _link_jobs(session, rt, [t.subject_id for t in timers])
    # Held here: the identity map holds objects weakly, and `session.get` would read them again.
    session.info[_LINK_CASES] = tuple(repository.cases_by_ids(session, {j.case_id for j in jobs.values()}))
    keys = [key for j in jobs.values() for key in _lock_keys(j.contacts)]
    if keys:
        advisory_lock(session, *keys)
    session.info[_LINK_BATCH] = jobs  # last: a failed hook leaves the handlers to load for themselves
    return sorted(timers, key=lambda t: (t.subject_id, t.id))


def on_link_timer(session: Session, rt: Runtime, timer: Timer) -> str:
    """One timer alone (a batch of one): the worker fires a batch with `link_batch`, and this
    only if that fails (or without the batch handler)."""
    return link_batch(session, rt, [timer])[timer.id]


@dataclass(slots=True)
class _Known:
    """An identifier a batch of link jobs sights: `made_by` is the index of the job that made it
    (−1: known before the batch)."""

    id: int
    kind: str
    masked: str
    last_seen_at: datetime
    made_by: int
    moved: bool = False  # a known one's last sighting moved: to update


def link_batch(session: Session, rt: Runtime, timers: list[Timer]) -> dict[int, str]:
    """Fires a batch of link timers (in firing order), set by set (`_link_set`); each warning's
    case is re-read: it may have closed since (a closed case is linked, its officers not alerted)."""
    prepared: dict[int, _LinkJob] | None = session.info.get(_LINK_BATCH)
    if prepared is None:  # no batch hook ran: load, lock and order here
        timers = prepare_links(session, rt, timers)
        prepared = session.info[_LINK_BATCH]
    outcomes: dict[int, str] = {}
    jobs: list[tuple[Case, _LinkJob]] = []
    fired: list[int] = []
    for timer in timers:
        job = prepared.get(timer.subject_id)
        case = session.get(Case, job.case_id) if job is not None else None
        if job is None or case is None:
            outcomes[timer.id] = "stale"  # no such warning (or no contacts left to read)
        else:
            jobs.append((case, job))
            fired.append(timer.id)
    for timer_id, linked in zip(fired, _link_set(session, rt, SYSTEM, jobs), strict=True):
        outcomes[timer_id] = f"linked {linked} cases"
    return outcomes


def _link_set(session: Session, rt: Runtime, actor: Actor, jobs: list[tuple[Case, _LinkJob]]) -> list[int]:
    """Records each job's contacts as seen in its case and links it to the other cases sharing
    them; returns how many cases each job linked. The caller holds the contacts' advisory locks.
    Every statement is one for all the jobs — the known identifiers, an insert of the new ones,
    the sightings already there, an insert of the new ones, the newest cases sighting the
    identifiers to link (and which of those they share), the other cases, an update of the last
    sightings, an insert of the events, the audiences and an insert of the alerts. What an
    earlier job sighted counts for a later one exactly as if it had been written before (kept in
    memory with the job's place), so the result is that of the jobs one after another.
    Idempotent: contacts a case has already sighted link nothing again (a replayed timer)."""
    known = _batch_identifiers(session, rt, [job for _, job in jobs])
    ours, rows, to_link = _new_sightings(session, jobs, known)
    chosen = _cases_to_link(session, jobs, ours, to_link)
    every = {c for ids in chosen for c in ids}
    shared = repository.sightings_among(session, every, {i for ids in to_link for i in ids})
    others = {c.id: c for c in repository.cases_by_ids(session, every, named_only=True)}
    units = rt.org.get(session).units
    names = {i.id: {"kind": i.kind, "value": i.masked} for i in known.values()}
    linkings: list[_Linking] = [
        (
            case,
            [
                (
                    others[c],
                    [names[i] for i in to_link[n] if (c, i) in shared or ours.get((c, i), n + 1) <= n],
                )
                for c in chosen[n]
            ],
        )
        for n, (case, _) in enumerate(jobs)
        if chosen[n]
    ]
    insert_rows(session, FraudSighting, rows)
    moved = [{"id": i.id, "last_seen_at": i.last_seen_at} for i in known.values() if i.moved]
    update_by_id(session, FraudIdentifier, moved)  # one statement, not one per identifier
    events = [event for case, linked in linkings for event in _link_events(units, case, linked)]
    add_events(session, rt, actor, [(this, "intel_linked", data) for this, data in events])
    if linkings:
        _alert_links(session, rt, units, linkings)
    return [len(c) for c in chosen]


def _new_sightings(
    session: Session, jobs: list[tuple[Case, _LinkJob]], known: dict[tuple[str, str], _Known]
) -> tuple[dict[tuple[int, int], int], list[dict[str, Any]], list[list[int]]]:
    """The jobs' new sightings: (case, identifier) → the job's place, their rows, and per job the
    identifiers it links (those known before its turn)."""
    before = [i.id for i in known.values() if i.made_by < 0]
    sighted = repository.sightings_among(session, (case.id for case, _ in jobs), before)
    ours: dict[tuple[int, int], int] = {}
    rows: list[dict[str, Any]] = []
    to_link: list[list[int]] = []
    for n, (case, job) in enumerate(jobs):
        ids: list[int] = []
        for key in job.contacts:
            item = known[key]
            if (case.id, item.id) in sighted or (case.id, item.id) in ours:
                continue
            ours[case.id, item.id] = n
            rows.append(
                {
                    "identifier_id": item.id,
                    "case_id": case.id,
                    "source": job.source,
                    "seen_at": job.received_at,
                }
            )
            if item.kind in LINKING_KINDS and item.made_by < n:
                ids.append(item.id)
        to_link.append(sorted(ids))
    return ours, rows, to_link


def _cases_to_link(
    session: Session,
    jobs: list[tuple[Case, _LinkJob]],
    ours: dict[tuple[int, int], int],
    to_link: list[list[int]],
) -> list[list[int]]:
    """Per job, the newest `LINK_FANOUT` other cases sighting what it links: the database's and
    the earlier jobs'. A job's case had not sighted the identifiers it links, so the newest
    LINK_FANOUT cases per identifier in the database hold its newest LINK_FANOUT others there."""
    newest: dict[int, set[int]] = defaultdict(set)
    linking = {i for ids in to_link for i in ids}
    for other_id, identifier_id in repository.newest_sightings(session, linking, LINK_FANOUT):
        newest[identifier_id].add(other_id)
    by_identifier: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for (case_id, identifier_id), n in ours.items():
        by_identifier[identifier_id].append((case_id, n))
    chosen: list[list[int]] = []
    for n, (case, _) in enumerate(jobs):
        candidates = {c for i in to_link[n] for c in newest[i]}
        candidates |= {c for i in to_link[n] for c, m in by_identifier[i] if m <= n}
        candidates.discard(case.id)
        chosen.append(sorted(candidates, reverse=True)[:LINK_FANOUT][::-1])
    return chosen


def _batch_identifiers(session: Session, rt: Runtime, jobs: list[_LinkJob]) -> dict[tuple[str, str], _Known]:
    """The jobs' identifiers: the known ones in one read, the new ones in one insert (in the
    order the jobs would have made them, with the last sighting of the whole batch)."""
    known = {
        key: _Known(i, key[0], masked, last, -1)
        for key, (i, masked, last) in repository.identifier_rows(
            session, {key for job in jobs for key in job.contacts}
        ).items()
    }
    new: list[tuple[_Known, _Contact, datetime]] = []
    for n, job in enumerate(jobs):
        for key, contact in job.contacts.items():
            item = known.get(key)
            if item is None:
                masked = mask_contact(contact.kind, contact.value)[:300]
                known[key] = item = _Known(0, contact.kind, masked, job.received_at, n)
                new.append((item, contact, job.received_at))
            elif job.received_at > item.last_seen_at:
                item.last_seen_at, item.moved = job.received_at, item.made_by < 0
    if new:
        rows = [
            {
                "kind": contact.kind,
                "value_bidx": contact.bidx,
                "value_enc": rt.cipher.encrypt(contact.value, context=IDENTIFIER_CONTEXT),
                "value_masked": item.masked,
                "first_seen_at": first,
                "last_seen_at": item.last_seen_at,
            }
            for item, contact, first in new
        ]
        ids = insert_returning_ids(session, FraudIdentifier, rows)
        for (item, _, _), new_id in zip(new, ids, strict=True):
            item.id = new_id
    return known


_Shared = list[dict[str, str]]  # the identifiers two cases share, masked: {"kind", "value"}
_Linking = tuple[Case, list[tuple[Case, _Shared]]]  # a job's case and the cases it linked (id order)
_Alert = tuple[Announcement, list[int], list[int]]  # for `announce_many`: to users, to no endpoint
TRIAGE = "反诈中心待分流"  # where a case without a station is


def _link_events(
    units: dict[int, Unit], case: Case, linked: list[tuple[Case, _Shared]]
) -> list[tuple[Case, dict[str, Any]]]:
    """The `intel_linked` events (case, data) of linking `case` to the other cases: one on each
    timeline per pair."""
    events: list[tuple[Case, dict[str, Any]]] = []
    for other, items in linked:
        for this, that in ((case, other), (other, case)):
            unit = units.get(that.station_id) if that.station_id is not None else None
            events.append(
                (
                    this,
                    {
                        "other_case_id": that.id,
                        "station_code": unit.code if unit else None,
                        "station_name": unit.name if unit else None,
                        "state": that.state,
                        "scam_type": that.scam_type,
                        "shared": items,
                    },
                )
            )
    return events


def _alert_links(session: Session, rt: Runtime, units: dict[int, Unit], linkings: list[_Linking]) -> None:
    """The open cases' audiences (leaders on shift, officers, leads) hear of each linking, all in
    one audience query and one insert. A closed case's officers have moved on: not told."""
    alerted = {
        c.id: c
        for case, linked in linkings
        for c in (case, *(other for other, _ in linked))
        if c.state in OPEN_CASE_STATES
    }
    if not alerted:
        return
    audiences = cases_repo.audiences(session, list(alerted.values()), on_shift="leaders", at=rt.clock.now())
    alerts = [alert for linking in linkings for alert in _linking_alerts(units, linking, audiences)]
    # A ring calling victim after victim links each new case to the same few: each person hears
    # of a case's links once per interval, and its intelligence panel lists all of them.
    announce_many(session, rt, not_repeated(session, rt, alerts, rt.policy.intel.link_alert_interval))


def _linking_alerts(
    units: dict[int, Unit], linking: _Linking, audiences: dict[int, list[int]]
) -> list[_Alert]:
    """One alert per user per linking, however many of its cases they follow: a duty leader on
    shift is in the audience of most of a station's cases, and a ring phone links the new case to
    five, so one alert per case told the same people the same news up to six times. The new
    case's audience hear of it (naming every case it linked); anyone else hears of their own
    open cases it linked, and of the new case only what one of those alerts said before."""
    case, linked = linking
    told = audiences[case.id] if case.state in OPEN_CASE_STATES else []
    alerts: list[_Alert] = [(_new_case_alert(units, case, linked), told, [])] if told else []
    theirs: dict[int, list[tuple[Case, _Shared]]] = defaultdict(list)  # user → their cases, newest first
    for other, items in reversed(linked):
        if other.state in OPEN_CASE_STATES:
            for user_id in audiences[other.id]:
                theirs[user_id].append((other, items))
    for user_id in told:
        theirs.pop(user_id, None)
    by_cases: dict[tuple[int, ...], list[int]] = defaultdict(list)  # one announcement per set of cases
    for user_id, cases in theirs.items():
        by_cases[tuple(c.id for c, _ in cases)].append(user_id)
    for user_ids in by_cases.values():
        alerts.append((_their_cases_alert(units, case, theirs[user_ids[0]]), user_ids, []))
    return alerts


def _new_case_alert(units: dict[int, Unit], case: Case, linked: list[tuple[Case, _Shared]]) -> Announcement:
    """About the new case, naming every case it linked (one: with its station and state)."""
    what = _shared_text(item for _, items in linked for item in items)
    if len(linked) == 1:
        that = linked[0][0]
        state = STATE_LABELS.get(that.state, that.state)
        title = f"关联案件：#{case.id} ↔ #{that.id}"
        body = f"{_where(units, that)}的案件 #{that.id}（{state}）"
    else:
        ids = "、".join(f"#{c.id}" for c, _ in linked)
        title, body = f"关联案件：#{case.id} ↔ {len(linked)} 起案件", f"其他案件 {ids}"
    return Announcement("intel.linked", case.id, title, f"本案的骗子联系方式（{what}）也出现在{body}。")


def _their_cases_alert(
    units: dict[int, Unit], case: Case, theirs: list[tuple[Case, _Shared]]
) -> Announcement:
    """About the user's own cases (newest first) that the new case linked: where the new case is,
    its state and what it shares with them — as each case's alert said before, nothing of the
    other cases it linked."""
    what = _shared_text(item for _, items in theirs for item in items)
    ids = "、".join(f"#{c.id}" for c, _ in theirs)
    whose = "本案" if len(theirs) == 1 else f"案件 {ids} "
    state = STATE_LABELS.get(case.state, case.state)
    return Announcement(
        "intel.linked",
        theirs[0][0].id,
        f"关联案件：{ids} ↔ #{case.id}",
        f"{whose}的骗子联系方式（{what}）也出现在{_where(units, case)}的案件 #{case.id}（{state}）。",
    )


def _where(units: dict[int, Unit], case: Case) -> str:
    unit = units.get(case.station_id) if case.station_id is not None else None
    return unit.name if unit else TRIAGE


def _shared_text(items: Iterable[dict[str, str]]) -> str:
    """The first three distinct identifiers, masked."""
    return "、".join(list(dict.fromkeys(f"{i['kind']} {i['value']}" for i in items))[:3])


# --- reading: the case's intelligence panel ----------------------------------------------------------


def case_intel(session: Session, rt: Runtime, actor: Actor, case_id: int) -> CaseIntelOut:
    case = cases_repo.get_readable(session, actor, case_id)
    if case is None:
        raise NotFound(f"case {case_id} not found")
    row = repository.suggestion(session, case.id)
    risk = _assess(session, case)
    effective = case.scam_type
    if effective == "other" and row is not None and row.scam_type:
        effective = row.scam_type  # the officer's script follows the suggestion until decided
    return CaseIntelOut(
        case_id=case.id,
        scam_type=case.scam_type,
        suggestion=_suggestion_out(rt, case, row) if row is not None else None,
        risk=_risk_out(rt, case, risk),
        script=script_for(effective),
        identifiers=[
            IdentifierOut(kind=i.kind, value=i.value_masked, source=s.source)
            for i, s in repository.case_identifiers(session, case.id)
        ],
        linked=_linked(session, actor, case.id),
    )


def _assess(session: Session, case: Case) -> RiskAssessment:
    watched, events = repository.bank_signals(session, case.id)
    return assess(
        RiskInputs(
            amount_at_risk=case.amount_at_risk,
            age=repository.age_of(session, case.person_id),
            scam_type=case.scam_type,
            signal_count=case.signal_count,
            watched=watched,
            bank_events=events,
            text=normalise("\n".join(repository.descriptions(session, case.id))),
        )
    )


def _suggestion_out(rt: Runtime, case: Case, row: ScamSuggestion) -> SuggestionOut:
    return SuggestionOut(
        scam_type=row.scam_type,
        label=SCAM_TYPE_LABELS.get(row.scam_type) if row.scam_type else None,
        confidence=row.confidence,
        drivers=[DriverOut(**d) for d in row.drivers],
        model=row.model,
        offered=bool(
            row.scam_type and row.decision is None and row.confidence >= rt.policy.intel.min_confidence
        ),
        decision=row.decision,
        decided_type=row.decided_type,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
    )


def _risk_out(rt: Runtime, case: Case, risk: RiskAssessment) -> RiskOut:
    return RiskOut(
        score=risk.score,
        level=risk.level,
        current_level=case.risk_level,
        higher_than_current=RiskLevel(risk.level).rank > RiskLevel(case.risk_level).rank,
        auto_raise=rt.policy.intel.auto_raise_risk,
        factors=[
            FactorOut(code=f.code, label=f.label, detail=f.detail, points=f.points) for f in risk.factors
        ],
    )


def _linked(session: Session, actor: Actor, case_id: int) -> list[LinkedCaseOut]:
    rows = repository.linked(session, case_id, LINKING_KINDS)
    may_read = repository.readable_ids(session, actor, (c.id for _, c, _ in rows))
    out: dict[int, LinkedCaseOut] = {}
    for identifier, other, unit in rows:
        item = out.get(other.id)
        if item is None:
            item = out[other.id] = LinkedCaseOut(
                case_id=other.id,
                station_code=unit.code if unit else None,
                station_name=unit.name if unit else None,
                state=other.state,
                scam_type=other.scam_type,
                opened_at=other.opened_at,
                readable=other.id in may_read,
                shared=[],
            )
        item.shared.append(SharedIdentifier(kind=identifier.kind, value=identifier.value_masked))
    return list(out.values())


@cache
def _officer_scripts() -> dict[str, dict[str, list[str]]]:
    text = (resources.files("quanzu.intel") / "scripts.yaml").read_text(encoding="utf-8")
    loaded: dict[str, dict[str, list[str]]] = yaml.safe_load(text)
    return loaded


@cache
def _helper_lines() -> dict[str, str]:
    """What helpers are texted (helpers/scripts.yaml), read here rather than imported: the
    helpers' service depends on the workflow, which calls this module at close."""
    text = (resources.files("quanzu.helpers") / "scripts.yaml").read_text(encoding="utf-8")
    loaded: dict[str, str] = yaml.safe_load(text)
    return loaded


def script_for(scam_type: str) -> ScriptOut:
    entry = _officer_scripts().get(scam_type) or _officer_scripts()["other"]
    return ScriptOut(
        scam_type=scam_type,
        label=SCAM_TYPE_LABELS.get(scam_type, scam_type),
        helper_line=_helper_lines().get(scam_type, ""),
        say=list(entry.get("say", [])),
        check=list(entry.get("check", [])),
    )


# --- the officer's decision -------------------------------------------------------------------------


def decide_scam_type(
    session: Session, rt: Runtime, actor: Actor, case_id: int, body: ScamTypeDecisionIn
) -> CaseIntelOut:
    """Confirms the suggested type or corrects it; either sets the case's type (and so the
    helpers' script) and becomes a training example for the next `quanzu model train`."""
    require_role(actor, *DECIDERS)
    case = cases_repo.get_readable(session, actor, case_id, for_update=True)
    if case is None:
        raise NotFound(f"case {case_id} not found")
    row = repository.suggestion(session, case.id)
    if row is None:
        row = ScamSuggestion(case_id=case.id, scam_type=None, confidence=0.0, model="none", drivers=[])
        row.created_at = rt.clock.now()
        session.add(row)
    decision = "confirmed" if row.scam_type == body.scam_type else "corrected"
    previous = case.scam_type
    row.decision, row.decided_type, row.decided_by = decision, body.scam_type, actor.label
    row.decided_at = case.updated_at = rt.clock.now()
    case.scam_type = body.scam_type
    add_event(
        session,
        rt,
        case,
        "scam_type_decided",
        actor,
        decision=decision,
        previous=previous,
        scam_type=case.scam_type,
    )
    audit.record(
        session,
        rt.clock,
        actor,
        f"case.scam_type.{decision}",
        "case",
        case.id,
        {"previous": previous, "scam_type": case.scam_type, "suggested": row.scam_type},
    )
    session.flush()
    broadcast_change(session, rt, case.id, case.state, cases_repo.audience(session, case, centre=True))
    return case_intel(session, rt, actor, case.id)


def suggest_text(rt: Runtime, actor: Actor, text: str) -> SuggestOut:
    """A suggestion for a text not yet stored (a hotline operator typing a report)."""
    case_scope(actor)  # any case reader
    found = suggest(text, rt.data_dir)
    return SuggestOut(
        scam_type=found.scam_type,
        label=SCAM_TYPE_LABELS.get(found.scam_type) if found.scam_type else None,
        confidence=found.confidence,
        drivers=[DriverOut(term=d.term, weight=d.weight) for d in found.drivers],
        model=found.model,
    )


# --- the intelligence page: identifiers ranked by victims and money ---------------------------------


def ranking(session: Session, actor: Actor, *, kind: str | None = None, limit: int = 100) -> list[RankingRow]:
    case_scope(actor)
    return [
        RankingRow(
            identifier_id=identifier.id,
            kind=identifier.kind,
            value=identifier.value_masked,
            victims=victims,
            cases=cases,
            money=money or 0,
            first_seen=first,
            last_seen=last,
        )
        for identifier, victims, cases, money, first, last in repository.ranking(
            session, actor, kind=kind, limit=limit
        )
    ]


def full_values(session: Session, rt: Runtime, rows: list[RankingRow]) -> list[RankingRow]:
    """The centre's export carries the values in full, for upstream blocking and stop-payment."""
    found = repository.identifiers_by_ids(session, [r.identifier_id for r in rows])
    context = IDENTIFIER_CONTEXT
    return [
        r.model_copy(update={"value": rt.cipher.decrypt(found[r.identifier_id].value_enc, context=context)})
        for r in rows
    ]
