"""Receiving a warning: idempotency, merging into the person's open case, routing, dispatch."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from quanzu.audit import service as audit
from quanzu.auth.actor import Actor
from quanzu.auth.scoping import require_role
from quanzu.banks import service as banks
from quanzu.cases import service as cases
from quanzu.codes import Role
from quanzu.followups import service as followups
from quanzu.intake import repository
from quanzu.intake.schemas import WarningAccepted, WarningIn
from quanzu.intel import service as intel
from quanzu.kit.crypto import mask_id_number, mask_name, mask_phone
from quanzu.kit.db import (
    add_with_id,
    advisory_lock,
    after_commit,
    batch_notes,
    draw_ids_with_locks,
    found_with_locks,
    held_keys,
    insert_rows,
)
from quanzu.kit.errors import Conflict
from quanzu.kit.runtime import Runtime
from quanzu.models.banks import WatchEntry
from quanzu.models.cases import Case, EarlyWarning, Person, ScamContact
from quanzu.models.dispatch import Notification
from quanzu.routing.rules import route
from quanzu.timers.service import schedule_many

INTAKE_ROLES = (Role.FEED, Role.CENTRE, Role.ADMIN)
_WARNING_KEY = "warning:"  # advisory lock key on an idempotency key: what it guards follows
# A batch holding a warning's key draws ids for what the warning adds with its locks: at most
# one of each; the alerts are a guess (`take_ids` draws more when they run out). The same
# statement finds the warnings already received under the keys (PostgreSQL; migration 0022).
draw_ids_with_locks(
    _WARNING_KEY,
    {Person: 1, Case: 1, EarlyWarning: 1, WatchEntry: 1, Notification: 3},
    find="quanzu_stored_warnings",
)
# And the persons its person keys match (migration 0024): most often nobody, then no query.
draw_ids_with_locks(cases.PERSON_LOCK, {}, find="quanzu_stored_persons")


@dataclass(frozen=True, slots=True)
class IntakeOutcome:
    accepted: WarningAccepted
    created: bool  # False: a replay of a warning already stored

    @property
    def status(self) -> int:
        """The contract's HTTP status: 201 only for a new case; replays and merges are 200."""
        return 201 if self.created and not self.accepted.merged else 200


@dataclass(frozen=True, slots=True)
class Prepared:
    """What receiving a warning computes from the warning alone: its content hash, its person's
    blind indexes and its lock keys. A feed's warning is prepared in the serving process that
    parsed it (`Receive.of`), so that the one shared writer does not spend its time on it."""

    content_hash: str
    keys: _IdentityKeys
    lock_keys: tuple[str, ...]

    @classmethod
    def of(cls, rt: Runtime, warning: WarningIn) -> Prepared:
        keys = _identity_keys(rt, warning)
        return cls(_content_hash(warning), keys, tuple(_lock_keys(warning, keys)))


@dataclass(frozen=True, slots=True)
class Receive:
    """`receive` as a group commit's job: data, so that it can run in the shared writer
    (`kit.writer`), and idempotent on rerun by `(source, external_id)`, as such a job must be."""

    warning: WarningIn
    actor: Actor
    prepared: Prepared

    @classmethod
    def of(cls, rt: Runtime, actor: Actor, warning: WarningIn) -> Receive:
        return cls(warning, actor, Prepared.of(rt, warning))

    @property
    def lock_keys(self) -> tuple[str, ...]:
        return self.prepared.lock_keys

    def run(self, session: Session, rt: Runtime) -> IntakeOutcome:
        return receive(session, rt, self.actor, self.warning, self.prepared)


def require_intake(actor: Actor) -> None:
    require_role(actor, *INTAKE_ROLES)


def lock_keys(rt: Runtime, warning: WarningIn) -> list[str]:
    """The advisory locks `receive` takes: the idempotency key and the person's identifiers (for
    a group commit, which takes a whole batch's at once)."""
    return _lock_keys(warning, _identity_keys(rt, warning))


def _lock_keys(warning: WarningIn, keys: _IdentityKeys) -> list[str]:
    return [f"{_WARNING_KEY}{warning.source}:{warning.external_id}", *keys.lock_keys()]


def receive(
    session: Session, rt: Runtime, actor: Actor, warning: WarningIn, prepared: Prepared | None = None
) -> IntakeOutcome:
    require_intake(actor)
    prepared = prepared or Prepared.of(rt, warning)
    content_hash, keys = prepared.content_hash, prepared.keys
    advisory_lock(session, *prepared.lock_keys)
    known = _batch_known(session, prepared.lock_keys)

    existing = _stored_warning(session, known, warning)
    if existing is not None:
        if existing.content_hash != content_hash:
            key = f"({warning.source}, {warning.external_id})"
            raise Conflict(f"warning {key} was already received with different content")
        return IntakeOutcome(cases.acceptance(session, rt, existing), created=False)
    # Flushes happen where ids are needed (person, case, warning, watch; none through the group
    # commit on PostgreSQL, which draws ids ahead) and at commit: autoflush before every query
    # would add a round trip and a unit-of-work pass each time.
    with session.no_autoflush:
        outcome = _receive_new(session, rt, actor, intel.with_risk_level(warning), content_hash, keys, known)
    if warning.risk_level is None:
        intel.record_scored_level(session, rt, actor, outcome.accepted.case_id, warning)
    return outcome


def _receive_new(
    session: Session,
    rt: Runtime,
    actor: Actor,
    warning: WarningIn,
    content_hash: str,
    keys: _IdentityKeys,
    known: _Known | None,
) -> IntakeOutcome:
    person, new_person = _find_or_create_person(session, rt, warning, keys, known)
    open_case = None if new_person else _case_to_merge_into(session, rt, actor, person.id, known)
    now = rt.clock.now()
    if open_case is not None:
        row = _store_warning(
            session,
            rt,
            warning,
            content_hash,
            person,
            open_case.id,
            merged=True,
            routing=("merged", f"并入进行中的案件 #{open_case.id}"),
            station_id=open_case.station_id,
        )
        assignee_ids, watched = _loaded_context(known, person.id, open_case)
        cases.merge_signal(session, rt, actor, open_case, row, assignee_ids=assignee_ids)
        # The repeat may have raised the risk.
        banks.watch_by_policy(session, rt, open_case, watched=watched)
        link = intel.link_timers(row, warning)
        schedule_many(session, link)
    else:
        decision = route(warning.target.address, warning.target.phone, rt.org.get(session).rules)
        case = cases.open_case(session, rt, actor, person, warning, decision, now, new_person=new_person)
        row = _store_warning(
            session,
            rt,
            warning,
            content_hash,
            person,
            case.id,
            merged=False,
            routing=(case.routing_method, case.routing_detail),
            station_id=case.station_id,
        )
        # Contact linking runs in the worker after commit; its timer goes in with the SLA clocks'.
        link = intel.link_timers(row, warning)
        cases.record_first_signal(session, rt, actor, case, row, timers=link)
        banks.watch_by_policy(session, rt, case, watched=False)  # opened now: no watch yet
    if known is not None:
        known.noted.append(row)
    if link:
        after_commit(session, rt.wake_delivery)  # the worker: links within its wake-up, not in a second
    intel.on_warning(session, rt, actor, row, warning)  # suggested type, risk score
    audit.record(
        session,
        rt.clock,
        actor,
        "warning.received",
        "warning",
        row.id,
        {
            "source": warning.source,
            "external_id": warning.external_id,
            "case_id": row.case_id,
            "merged": row.merged,
        },
    )
    return IntakeOutcome(cases.acceptance(session, rt, row), created=True)


def _case_to_merge_into(
    session: Session, rt: Runtime, actor: Actor, person_id: int, known: _Known | None
) -> Case | None:
    """The person's open case, else the case still under follow-up (回访), which the new warning
    reopens (one indexed query each; in a batch the open case was loaded with the person, unless
    an earlier warning of the batch was about them). A person created just now has neither."""
    loaded = _still_loaded(known, person_id)
    open_case = (
        loaded.open_cases.get(person_id)
        if loaded is not None
        else repository.open_case_for(session, person_id)
    )
    return open_case or followups.reopen_for_new_warning(session, rt, actor, person_id)


def _loaded_context(known: _Known | None, person_id: int, case: Case) -> tuple[list[int] | None, bool | None]:
    """The case's active assignees' user ids and whether it has an active watch, where the batch
    loaded them with the person's open case; (None, None) where the merge must read them (a
    lone warning, a reopened case, a person an earlier warning of the batch was about)."""
    loaded = _still_loaded(known, person_id)
    if loaded is None or loaded.open_cases.get(person_id) is not case:
        return None, None
    return loaded.assignees[case.id], case.id in loaded.watched


def _still_loaded(known: _Known | None, person_id: int) -> _Loaded | None:
    """What the batch loaded at its start, where it still holds for the person; None where the
    person's cases, clocks and follow-ups must be read from the database: a lone warning, a
    person the batch did not load (a phone's earlier holder), or an earlier warning of the batch
    was about them (what it wrote must be seen)."""
    if known is None or known.concerned(person_id) or not known.loaded.has(person_id):
        return None
    return known.loaded


def _content_hash(warning: WarningIn) -> str:
    canonical = json.dumps(warning.canonical(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class _IdentityKeys:
    id_bidx: str | None
    phone_bidx: str | None

    def lock_keys(self) -> list[str]:
        # A person is serialised on each identifier, so two warnings about one new person
        # arriving at once cannot open two cases.
        return cases.person_lock_keys(self.id_bidx, self.phone_bidx)


def _identity_keys(rt: Runtime, warning: WarningIn) -> _IdentityKeys:
    t = warning.target
    return _IdentityKeys(
        id_bidx=rt.cipher.blind_index(t.id_number, kind="id_number") if t.id_number else None,
        phone_bidx=rt.cipher.blind_index(t.phone, kind="phone") if t.phone else None,
    )


def _find_or_create_person(
    session: Session, rt: Runtime, warning: WarningIn, keys: _IdentityKeys, known: _Known | None
) -> tuple[Person, bool]:
    """The ID number decides identity; a phone alone matches only a person with no conflicting
    ID number (numbers get reassigned, people do not). Also whether the person is new."""
    candidates = _persons_matching(session, known, keys)
    person = next((p for p in candidates if keys.id_bidx and p.id_number_bidx == keys.id_bidx), None)
    if person is None and keys.phone_bidx:
        by_phone = [p for p in candidates if p.phone_bidx == keys.phone_bidx]
        candidate = by_phone[-1] if by_phone else None  # the newest holder of the number
        if candidate is not None and (
            keys.id_bidx is None or candidate.id_number_bidx in (None, keys.id_bidx)
        ):
            person = candidate
    if person is not None:
        _update_person(rt, person, warning, keys)
        if _still_loaded(known, person.id) is None:
            session.flush()  # its cases, clocks and follow-ups are read next
        return person, False
    person = Person(created_at=rt.clock.now())
    _update_person(rt, person, warning, keys)
    add_with_id(session, person)
    if known is not None:
        known.noted.append(person)
    return person, True


def _update_person(rt: Runtime, person: Person, warning: WarningIn, keys: _IdentityKeys) -> None:
    """Newer warnings fill in what the person record lacks; they never blank a known value."""
    t, enc = warning.target, rt.cipher.encrypt
    if t.name:
        person.name_enc = enc(t.name, context="person.name")
        person.name_masked = mask_name(t.name)
    if t.id_number and not person.id_number_bidx:
        person.id_number_enc = enc(t.id_number, context="person.id_number")
        person.id_number_bidx = keys.id_bidx
        person.id_number_masked = mask_id_number(t.id_number)
    if t.phone:
        person.phone_enc = enc(t.phone, context="person.phone")
        person.phone_bidx = keys.phone_bidx
        person.phone_masked = mask_phone(t.phone)
    if t.address:
        person.address_enc = enc(t.address, context="person.address")
    person.employer = t.employer or person.employer
    person.age = t.age if t.age is not None else person.age
    person.gender = t.gender or person.gender


def _store_warning(
    session: Session,
    rt: Runtime,
    warning: WarningIn,
    content_hash: str,
    person: Person,
    case_id: int,
    *,
    merged: bool,
    routing: tuple[str, str],
    station_id: int | None,
) -> EarlyWarning:
    target_json = json.dumps(warning.target.model_dump(mode="json"), ensure_ascii=False)
    row = EarlyWarning(
        source=warning.source,
        external_id=warning.external_id,
        content_hash=content_hash,
        case_id=case_id,
        person_id=person.id,
        merged=merged,
        issued_at=warning.issued_at,
        received_at=rt.clock.now(),
        scam_type=warning.scam_type,
        risk_level=warning.level,
        amount_at_risk=warning.amount_at_risk,
        description=warning.description,
        routing_method=routing[0],
        routing_detail=routing[1],
        station_id=station_id,
        target_enc=rt.cipher.encrypt(target_json, context="warning.target"),
    )
    add_with_id(session, row)
    contacts = [{"warning_id": row.id, "kind": c.kind, "value": c.value} for c in warning.scam_contacts]
    insert_rows(session, ScamContact, contacts)
    return row


# --- a group commit's lookups, made once for the whole batch ------------------------------------


@dataclass(frozen=True, slots=True)
class _Loaded:
    """What the batch's held keys guard, as stored when its first warning was received."""

    keys: frozenset[str]
    warnings: dict[tuple[str, str], EarlyWarning]
    persons: list[Person]  # those holding a key's ID number, and each key's phone's newest holder
    phone_holders: dict[str, Person]  # the newest holder of each key's phone that has one
    open_cases: dict[int, Case]  # by person id
    assignees: dict[int, list[int]]  # the open cases' active assignees' user ids, by case id
    watched: set[int]  # the open cases with an active watch

    def has(self, person_id: int) -> bool:
        return any(p.id == person_id for p in self.persons)


@dataclass(frozen=True, slots=True)
class _Known:
    """A batch's warnings and persons: loaded once, then each warning adds the rows it created
    (`noted`, the transaction's `batch_notes`: a warning rolled back to its savepoint takes its
    rows along). The batch holds their keys, so nobody else can add or change any of them."""

    loaded: _Loaded
    noted: list[Any]

    def warning(self, key: tuple[str, str]) -> EarlyWarning | None:
        added = (w for w in self.noted if isinstance(w, EarlyWarning) and (w.source, w.external_id) == key)
        return next(added, None) or self.loaded.warnings.get(key)

    def concerned(self, person_id: int) -> bool:
        """Whether an earlier warning of the batch was about the person."""
        return any(isinstance(w, EarlyWarning) and w.person_id == person_id for w in self.noted)

    def persons(self) -> list[Person]:
        return [*self.loaded.persons, *(p for p in self.noted if isinstance(p, Person))]

    def holder_moved(self, phone_bidx: str | None) -> bool:
        """Whether the phone's newest holder as loaded has since given another number in this
        batch: its holder is then one the batch did not load (the one before)."""
        holder = self.loaded.phone_holders.get(phone_bidx or "")
        return holder is not None and holder.phone_bidx != phone_bidx


def _batch_known(session: Session, lock_keys: Sequence[str]) -> _Known | None:
    """In a group commit's transaction, which holds every warning's keys from its start, the
    batch's stored warnings and persons are looked up on its first warning, in two round trips
    at most instead of two per warning (on PostgreSQL its locks' statement found their ids, so
    mostly none). Elsewhere (a lone warning) None: each looks up its own."""
    held = held_keys(session)
    if not held.issuperset(lock_keys):
        return None
    notes = batch_notes(session)
    if not notes or not notes[0].keys.issuperset(lock_keys):
        session.flush()  # a reload must find the rows the batch has added so far (drawn ids)
        notes[:] = [_load(session, held)]
    return _Known(notes[0], notes)


def _load(session: Session, held: frozenset[str]) -> _Loaded:
    warning_keys: list[tuple[str, str]] = []
    blind_indexes: list[str] = []
    for key in held:  # the keys `_lock_keys` makes
        if key.startswith(_WARNING_KEY):
            source, _, external_id = key.removeprefix(_WARNING_KEY).partition(":")
            warning_keys.append((source, external_id))
        elif key.startswith(cases.PERSON_LOCK):
            blind_indexes.append(key.removeprefix(cases.PERSON_LOCK))
    found_ids = found_with_locks(session, _WARNING_KEY, held)
    if found_ids is None:
        found = repository.warnings_by_keys(session, warning_keys)
    else:  # found with the locks: almost always none, else a round trip for the replays
        found = repository.warnings_by_ids(session, found_ids)
    # Most of the batch's stored persons are warned about again: their open cases come with
    # them, where each merge looked its case up (and wrote the batch's rows kept so far).
    person_ids = found_with_locks(session, cases.PERSON_LOCK, held)
    if person_ids is None:
        persons, open_cases = repository.persons_with_any(session, blind_indexes)
    else:  # found with the locks: most often nobody, else a round trip for them
        persons, open_cases = repository.persons_by_ids(session, person_ids)
    # And what a merge into each reads (a round trip per batch with open cases, not two a merge).
    assignees, watched = repository.assignees_and_watches(session, [c.id for c in open_cases.values()])
    found_by_key = {(w.source, w.external_id): w for w in found}
    holders = {p.phone_bidx: p for p in persons if p.phone_bidx}  # oldest first: the newest stays
    return _Loaded(held, found_by_key, persons, holders, open_cases, assignees, watched)


def _stored_warning(session: Session, known: _Known | None, warning: WarningIn) -> EarlyWarning | None:
    if known is None:
        return repository.warning_by_key(session, warning.source, warning.external_id)
    return known.warning((warning.source, warning.external_id))


def _persons_matching(session: Session, known: _Known | None, keys: _IdentityKeys) -> list[Person]:
    """The persons holding the ID number and the phone's newest holder, oldest first (one round
    trip, or none in a batch, unless that holder gave another number earlier in the batch)."""
    if known is None or known.holder_moved(keys.phone_bidx):
        session.flush()  # what this transaction has changed and added so far, the lookup must see
        return repository.persons_matching(session, keys.id_bidx, keys.phone_bidx)
    return sorted(
        (
            p
            for p in known.persons()
            if (keys.id_bidx and p.id_number_bidx == keys.id_bidx)
            or (keys.phone_bidx and p.phone_bidx == keys.phone_bidx)
        ),
        key=lambda p: p.id,
    )
