"""A group commit's warnings look up their stored warnings and persons once for the whole batch,
and decide exactly as they would one at a time: replays, merges by ID number and by phone, and a
warning rolled back to its savepoint takes the person it created along. On both engines."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select, text, update
from sqlalchemy.orm import Session

from quanzu.intake import repository, service
from quanzu.intake.schemas import WarningIn
from quanzu.intake.tabular import IMPORT_ACTOR
from quanzu.kit.db import hold_advisory_locks
from quanzu.kit.errors import Conflict
from quanzu.kit.groupcommit import GroupCommit
from quanzu.kit.validation import parse
from quanzu.models.banks import WatchEntry
from quanzu.models.cases import Case, CaseAssignee, CaseSla, EarlyWarning, Person
from quanzu.models.dispatch import Notification
from tests.conftest import Env
from tests.factories import id_number, seed, warning

Job = tuple[Callable[[Session], service.IntakeOutcome], list[str]]


def _job(env: Env, body: dict[str, Any], *, then_fail: bool = False) -> Job:
    received = parse(WarningIn, body)

    def work(session: Session) -> service.IntakeOutcome:
        outcome = service.receive(session, env.rt, IMPORT_ACTOR, received)
        if then_fail:
            raise Conflict("refused after storing")
        return outcome

    return work, service.lock_keys(env.rt, received)


@contextmanager
def _lookups(env: Env, table: str) -> Iterator[list[str]]:
    """The statements that read rows of `table` (persons by their identifiers, cases with their
    persons)."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().startswith("SELECT") and re.search(rf"\b(FROM|JOIN) {table}\b", statement):
            seen.append(statement)

    engine = env.factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _outcome(result: object) -> service.IntakeOutcome:
    assert isinstance(result, service.IntakeOutcome), result
    return result


def test_a_batch_looks_its_persons_up_once_and_merges_as_one_by_one(env: Env) -> None:
    seed(env)
    known, new = id_number(seq="601"), id_number(seq="602")
    [stored] = GroupCommit(env.factory).write([_job(env, warning("B-0", target={"id_number": known}))])
    first_case = _outcome(stored).accepted.case_id
    bodies = [
        warning("B-1", target={"id_number": new, "phone": "13862516020"}),  # a new person
        warning("B-2", target={"id_number": known, "phone": "13862516011"}),  # the stored person again
        warning("B-3", target={"id_number": None, "phone": "13862516020"}),  # B-1's person, by phone
        warning("B-1", target={"id_number": new, "phone": "13862516020"}),  # a replay of B-1
        warning("B-4", target={"id_number": id_number(seq="603"), "phone": "13862516030"}),
    ]
    with _lookups(env, "persons") as lookups:
        results = [_outcome(r) for r in GroupCommit(env.factory).write([_job(env, b) for b in bodies])]
    assert len(lookups) == 1  # one by one, each new warning would look its person up
    assert [r.status for r in results] == [201, 200, 200, 200, 201]
    cases = [r.accepted.case_id for r in results]
    assert cases[1] == first_case and cases[2] == cases[0] == cases[3]
    assert len({first_case, cases[0], cases[4]}) == 3
    assert results[3].accepted == results[0].accepted  # the replay answers with the same ids


def test_a_batch_looks_the_open_cases_of_its_stored_persons_up_once(env: Env) -> None:
    seed(env)
    people = [{"id_number": id_number(seq=f"63{n}"), "phone": f"1386251630{n}"} for n in range(3)]
    stored = GroupCommit(env.factory).write(
        [_job(env, warning(f"O-{n}", target=p)) for n, p in enumerate(people)]
    )
    opened = [_outcome(r).accepted.case_id for r in stored]
    bodies = [warning(f"P-{n}", target=p) for n, p in enumerate(people)]
    bodies.append(warning("P-new", target={"id_number": id_number(seq="639"), "phone": "13862516309"}))
    with _lookups(env, "cases") as lookups, _lookups(env, "persons") as person_lookups:
        results = [_outcome(r) for r in GroupCommit(env.factory).write([_job(env, b) for b in bodies])]
    assert len(lookups) == 1  # one by one, each repeat would look its person's case up
    assert lookups == person_lookups  # and they come with the persons
    assert [r.status for r in results] == [200, 200, 200, 201]
    assert [r.accepted.case_id for r in results[:3]] == opened
    with env.reader() as session:
        counts = session.scalars(select(Case.signal_count).where(Case.id.in_(opened)).order_by(Case.id))
        assert list(counts) == [2, 2, 2]


def test_a_batchs_merges_read_their_cases_assignees_and_watches_once(env: Env) -> None:
    """Each repeat alerts its case's assignees and watches its target once, as one by one: a
    case at a low level (no watch yet) raised to a watched one gets its watch, a watched case no
    second one. The batch reads the assignees and watches of its open cases in one statement."""
    seed(env)
    people = [{"id_number": id_number(seq=f"64{n}"), "phone": f"1386251640{n}"} for n in range(3)]
    levels = ["low", "high", "high"]
    firsts = [
        warning(f"A-{n}", target=p, risk_level=lv)
        for n, (p, lv) in enumerate(zip(people, levels, strict=True))
    ]
    stored = GroupCommit(env.factory).write([_job(env, b) for b in firsts])
    opened = [_outcome(r).accepted.case_id for r in stored]
    bodies = [warning(f"A2-{n}", target=p, risk_level="high") for n, p in enumerate(people)]
    with _lookups(env, "case_assignees") as assignee_lookups, _lookups(env, "watch_entries") as watch_lookups:
        results = [_outcome(r) for r in GroupCommit(env.factory).write([_job(env, b) for b in bodies])]
    assert [r.accepted.case_id for r in results] == opened
    assert len(assignee_lookups) == len(watch_lookups) == 1
    assert assignee_lookups == watch_lookups  # the same statement
    with env.reader() as session:
        for case_id in opened:
            assignees = select(CaseAssignee.user_id).where(CaseAssignee.case_id == case_id)
            assigned = set(session.scalars(assignees))
            told = session.scalars(
                select(Notification.user_id).where(
                    Notification.case_id == case_id, Notification.kind == "case.merged"
                )
            ).all()
            assert assigned and sorted(told) == sorted(assigned)
            watches = select(func.count()).select_from(WatchEntry).where(WatchEntry.case_id == case_id)
            assert session.scalar(watches) == 1


@pytest.mark.postgres_only
def test_loading_a_batchs_open_cases_holds_nobody_up(env: Env) -> None:
    """A batch loads the open cases of every stored person its keys find, also those it will not
    merge into (a phone's earlier holder): a lock there would hold up other batches and officers."""
    seed(env)
    [stored] = GroupCommit(env.factory).write([_job(env, warning("L-0"))])
    case_id = _outcome(stored).accepted.case_id
    with env.factory() as batch, env.factory() as officer:
        case = batch.get(Case, case_id)
        person = batch.get(Person, case.person_id) if case is not None else None
        assert person is not None and person.id_number_bidx is not None
        _persons, open_cases = repository.persons_with_any(batch, [person.id_number_bidx])
        assert list(open_cases) == [person.id]
        officer.execute(text("SET LOCAL lock_timeout = '2s'"))
        officer.execute(update(Case).where(Case.id == case_id).values(state="closed"))
        officer.commit()
        batch.rollback()


def test_a_stored_person_warned_twice_in_one_batch_merges_both_into_the_stored_case(env: Env) -> None:
    """The first repeat reads the stored case as it is; the second must see what the first wrote
    (signal count, clocks) though neither has been committed yet."""
    seed(env)
    person = {"id_number": id_number(seq="621"), "phone": "13862516210"}
    [stored] = GroupCommit(env.factory).write([_job(env, warning("S-0", target=person))])
    case_id = _outcome(stored).accepted.case_id
    bodies = [warning("S-1", target=person), warning("S-2", target={**person, "phone": "13862516211"})]
    results = [_outcome(r) for r in GroupCommit(env.factory).write([_job(env, b) for b in bodies])]
    assert [(r.status, r.accepted.case_id) for r in results] == [(200, case_id), (200, case_id)]
    with env.reader() as session:
        case = session.get(Case, case_id)
        assert case is not None and case.signal_count == 3
        clocks = session.scalars(select(CaseSla.kind).where(CaseSla.case_id == case_id)).all()
        assert len(clocks) == len(set(clocks))  # each clock once: the second saw the first's
        persons = session.scalars(select(Person)).all()
        assert [p.phone_masked for p in persons] == ["138****6211"]  # the newest number kept


def test_a_warning_rolled_back_to_its_savepoint_takes_its_new_person_along(env: Env) -> None:
    """The first warning creates a person and then fails: the second, about the same person, must
    create the person again, not merge into one that was never stored."""
    seed(env)
    person = {"id_number": id_number(seq="611"), "phone": "13862516110"}
    jobs = [
        _job(env, warning("R-1", target=person), then_fail=True),
        _job(env, warning("R-2", target=person)),
    ]
    refused, stored = GroupCommit(env.factory).write(jobs)
    assert isinstance(refused, Conflict)
    assert _outcome(stored).status == 201
    with env.reader() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 1


def _persons_by_phone(env: Env, phone: str) -> list[Person]:
    """What intake's lookup loads for a warning giving `phone` alone."""
    stated = parse(WarningIn, warning("lookup", target={"id_number": None, "phone": phone})).target.phone
    assert stated is not None
    with env.reader() as session:
        persons, _cases = repository.persons_with_any(
            session, [env.rt.cipher.blind_index(stated, kind="phone")]
        )
        return persons


def test_a_phone_many_people_gave_loads_only_its_newest_holder(env: Env) -> None:
    """A number several people gave (a placeholder, a shared line): a warning with that number
    alone merges into its newest holder's case, and the lookup reads that holder, not every one."""
    seed(env)
    shared = "13862516500"
    firsts = [
        warning(f"H-{n}", target={"id_number": id_number(seq=f"65{n}"), "phone": shared}) for n in range(4)
    ]
    opened = [
        _outcome(r).accepted.case_id for r in GroupCommit(env.factory).write([_job(env, b) for b in firsts])
    ]
    assert len(set(opened)) == 4  # four people: their ID numbers differ
    holders = _persons_by_phone(env, shared)
    assert len(holders) == 1 and holders[0].id_number_masked.endswith(id_number(seq="653")[-4:])
    [again] = GroupCommit(env.factory).write(
        [_job(env, warning("H-x", target={"id_number": None, "phone": shared}))]
    )
    assert (_outcome(again).status, _outcome(again).accepted.case_id) == (200, opened[3])


def test_a_holder_who_gave_another_number_earlier_in_the_batch_leaves_it_to_the_one_before(env: Env) -> None:
    """As one by one: the newest holder's ID number comes with a new phone, so the next warning
    with the old number alone belongs to the number's holder before them, whom the batch did not
    load; it merges into that person's open case."""
    seed(env)
    old_phone = "13862516600"
    people = [{"id_number": id_number(seq=f"66{n}"), "phone": old_phone} for n in range(2)]
    stored = GroupCommit(env.factory).write(
        [_job(env, warning(f"M-{n}", target=p)) for n, p in enumerate(people)]
    )
    earlier, newest = (_outcome(r).accepted.case_id for r in stored)
    bodies = [
        warning("M-2", target={"id_number": people[1]["id_number"], "phone": "13862516601"}),
        warning("M-3", target={"id_number": None, "phone": old_phone}),
    ]
    results = [_outcome(r) for r in GroupCommit(env.factory).write([_job(env, b) for b in bodies])]
    assert [(r.status, r.accepted.case_id) for r in results] == [(200, newest), (200, earlier)]
    with env.reader() as session:
        counts = session.scalars(
            select(Case.signal_count).where(Case.id.in_([earlier, newest])).order_by(Case.id)
        )
        assert list(counts) == [2, 2]


@pytest.mark.postgres_only
def test_a_batch_finds_its_stored_warnings_with_its_locks_and_sees_what_it_waited_for(env: Env) -> None:
    """The batch's stored warnings come back from the statement that takes its locks (no query
    of their own when there are none), and after the locks: a warning committed by the
    transaction the batch waited for is found, and answered as a replay, not stored twice."""
    seed(env)
    body = warning("W-1")
    with _lookups(env, "warnings") as lookups:
        [first] = GroupCommit(env.factory).write([_job(env, body)])
    assert _outcome(first).status == 201 and lookups == []
    racing, holder_has_written = warning("W-2"), threading.Event()
    answers: list[Any] = []
    with env.factory() as holder:  # a retry's original, still writing when the retry arrives
        work, keys = _job(env, racing)
        hold_advisory_locks(holder, *keys)
        original = work(holder)
        holder_has_written.set()
        retry = threading.Thread(
            target=lambda: answers.extend(GroupCommit(env.factory).write([_job(env, racing)]))
        )
        retry.start()
        retry.join(timeout=1.0)
        assert retry.is_alive()  # waiting for the key
        holder.commit()
    retry.join(timeout=30)
    assert holder_has_written.is_set() and len(answers) == 1
    replay = _outcome(answers[0])
    assert (replay.status, replay.accepted) == (200, original.accepted)
    with env.reader() as session:
        stored = select(func.count()).select_from(EarlyWarning).where(EarlyWarning.external_id == "W-2")
        assert session.scalar(stored) == 1


@pytest.mark.postgres_only
def test_a_batch_finds_its_stored_persons_with_its_locks_and_sees_what_it_waited_for(env: Env) -> None:
    """The persons a batch's keys match come back from the statement that takes its locks (no
    query for them when there are none, one by id when there are), and after the locks: the
    person created by the transaction the batch waited for is found, and its case merged into."""
    seed(env)
    with _lookups(env, "persons") as lookups:
        [first] = GroupCommit(env.factory).write([_job(env, warning("Q-1", target={"id_number": None}))])
    assert _outcome(first).status == 201 and lookups == []
    person = {"id_number": id_number(seq="671"), "phone": "13862516710"}
    answers: list[Any] = []
    with env.factory() as holder:  # another batch about the same new person, still writing
        work, keys = _job(env, warning("Q-2", target=person))
        hold_advisory_locks(holder, *keys)
        created = work(holder)
        later = threading.Thread(
            target=lambda: answers.extend(
                GroupCommit(env.factory).write([_job(env, warning("Q-3", target=person))])
            )
        )
        with _lookups(env, "persons") as lookups:
            later.start()
            later.join(timeout=1.0)
            assert later.is_alive()  # waiting for the person's keys
            holder.commit()
            later.join(timeout=30)
    assert len(answers) == 1 and len(lookups) == 1  # the person, by id
    merged = _outcome(answers[0])
    assert (merged.status, merged.accepted.case_id) == (200, created.accepted.case_id)
    with env.reader() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 2
