"""Fraudster contacts are linked by the worker, just after intake commits, on both databases: not
before its timer fires, never twice for a replayed or duplicated timer, in warning order within a
batch (two warnings sharing a new phone link each other), for merged warnings too, and a warning
without a usable contact schedules nothing. Each linking tells each officer once, however many of
its cases they follow, and not again of the same case within the policy's interval."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from quanzu.intel import service as intel_service
from quanzu.intel.service import LINK_TIMER
from quanzu.kit.db import transaction
from quanzu.models.cases import Case, CaseEvent
from quanzu.models.dispatch import Notification
from quanzu.models.intel import FraudIdentifier, FraudSighting
from quanzu.models.org import User
from quanzu.models.timers import Timer
from quanzu.timers.service import fire_due, schedule_many
from quanzu.worker.runner import TIMER_BATCH_HOOKS, TIMER_HANDLERS, Worker
from tests.conftest import Env
from tests.dissuasion.test_workflow_api import SL
from tests.factories import District, bearer, id_number, seed, warning

SZ = {"address": "江苏省苏州市吴江区盛泽镇舜湖西路1号", "id_number": id_number("19500303", "333")}
RING = {"kind": "phone", "value": "+86 171 0000 5555"}


def post(env: Env, district: District, external_id: str, **overrides: Any) -> tuple[int, int]:
    """(case id, warning id)."""
    r = env.client.post(
        "/api/v1/warnings", json=warning(external_id, **overrides), headers=bearer(district.feed_token)
    )
    assert r.status_code in (200, 201), r.text
    return r.json()["case_id"], r.json()["warning_id"]


def link(env: Env) -> int:
    worker: Worker = env.app.state.worker
    return worker.fire_timers()


def counts(env: Env) -> tuple[int, int, int]:
    """(sightings, intel_linked events, intel.linked notifications): what linking writes."""
    with env.reader() as s:
        return (
            s.scalar(select(func.count(FraudSighting.id))) or 0,
            s.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.kind == "intel_linked")) or 0,
            s.scalar(select(func.count(Notification.id)).where(Notification.kind == "intel.linked")) or 0,
        )


def link_timers(env: Env) -> list[Timer]:
    with env.reader() as s:
        return list(s.scalars(select(Timer).where(Timer.kind == LINK_TIMER).order_by(Timer.id)))


def linked_to(env: Env, case_id: int) -> set[int]:
    with env.reader() as s:
        rows = s.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == "intel_linked")
        )
        return {int(e.data["other_case_id"]) for e in rows}


def test_contacts_are_linked_when_the_timer_fires_and_not_before(env: Env) -> None:
    district = seed(env)
    sl_case, sl_warning = post(env, district, "LW-1", target=SL, scam_contacts=[RING])
    link(env)
    sz_case, sz_warning = post(env, district, "LW-2", target=SZ, scam_contacts=[RING])
    # Intake committed the warning and its timer, due at once; nothing is linked yet.
    pending = [t for t in link_timers(env) if t.fired_at is None]
    assert [(t.subject_id, t.due_at) for t in pending] == [(sz_warning, env.clock.now())]
    assert linked_to(env, sz_case) == set() and counts(env) == (1, 0, 0)
    assert link(env) == 1
    assert linked_to(env, sz_case) == {sl_case} and linked_to(env, sl_case) == {sz_case}
    sightings, events, alerts = counts(env)
    assert (sightings, events) == (2, 2) and alerts > 0
    [fired] = [t for t in link_timers(env) if t.subject_id == sz_warning]
    assert fired.fired_at == env.clock.now() and fired.outcome == "linked 1 cases"
    with env.reader() as s:
        actors = set(s.scalars(select(CaseEvent.actor).where(CaseEvent.kind == "intel_linked")))
    assert actors == {"system:quanzu"}  # the system linked them, not the feed
    assert sl_warning < sz_warning


def test_a_replayed_or_duplicated_timer_links_nothing_twice(env: Env) -> None:
    district = seed(env)
    post(env, district, "LD-1", target=SL, scam_contacts=[RING])
    _, second = post(
        env, district, "LD-2", target=SZ, scam_contacts=[RING, {"kind": "qq", "value": "778899"}]
    )
    assert link(env) == 2
    before = counts(env)
    assert before[1] == 2 and before[2] > 0
    # The same warnings' timers again (a retried job, a duplicate row): in a batch, and one by
    # one without the batch hook (the handlers then read and lock for themselves).
    with transaction(env.factory) as s:
        schedule_many(s, [(LINK_TIMER, t.subject_id, env.clock.now(), "", "") for t in link_timers(env)])
    assert link(env) == 2
    assert counts(env) == before
    with transaction(env.factory) as s:
        schedule_many(s, [(LINK_TIMER, second, env.clock.now(), "", "")])
    assert fire_due(env.factory, env.rt, TIMER_HANDLERS) == 1
    assert counts(env) == before
    # Done, not failed on the sightings' unique key and left to retry.
    assert [t.outcome for t in link_timers(env)] == ["linked 0 cases", "linked 1 cases"] + [
        "linked 0 cases"
    ] * 3


def test_two_warnings_in_one_batch_sharing_a_new_phone_link_each_other_in_warning_order(env: Env) -> None:
    district = seed(env)
    first_case, first = post(env, district, "LB-1", target=SL, scam_contacts=[RING])
    received_first = env.clock.now()
    env.clock.advance(timedelta(seconds=1))
    second_case, second = post(env, district, "LB-2", target=SZ, scam_contacts=[RING])
    # The later warning's timer claimed first: the batch still fires them in warning order.
    with transaction(env.factory) as s:
        s.execute(
            update(Timer)
            .where(Timer.subject_id == second, Timer.kind == LINK_TIMER)
            .values(due_at=received_first)
        )
        s.execute(
            update(Timer)
            .where(Timer.subject_id == first, Timer.kind == LINK_TIMER)
            .values(due_at=env.clock.now())
        )
    assert link(env) == 2  # one batch
    assert linked_to(env, first_case) == {second_case} and linked_to(env, second_case) == {first_case}
    with env.reader() as s:
        [ring] = s.scalars(select(FraudIdentifier).where(FraudIdentifier.kind == "phone")).all()
        titles = set(s.scalars(select(Notification.title).where(Notification.kind == "intel.linked")))
    # The first warning made the identifier; the second found it and linked to the first.
    assert ring.first_seen_at == received_first and ring.last_seen_at == env.clock.now()
    assert titles == {
        f"关联案件：#{first_case} ↔ #{second_case}",
        f"关联案件：#{second_case} ↔ #{first_case}",
    }
    assert first < second


def test_a_merged_warnings_contacts_are_linked_to_the_case_it_joined(env: Env) -> None:
    district = seed(env)
    other_case, _ = post(env, district, "LM-0", target=SZ, scam_contacts=[RING])
    case_id, _ = post(env, district, "LM-1", target=SL, scam_contacts=[{"kind": "qq", "value": "12345678"}])
    assert link(env) == 2 and linked_to(env, case_id) == set()
    merged_case, merged = post(env, district, "LM-2", target=SL, scam_contacts=[RING])
    assert merged_case == case_id
    assert [t.subject_id for t in link_timers(env) if t.fired_at is None] == [merged]
    assert link(env) == 1
    assert linked_to(env, case_id) == {other_case} and linked_to(env, other_case) == {case_id}
    with env.reader() as s:
        kinds = s.scalars(
            select(FraudIdentifier.kind)
            .join(FraudSighting, FraudSighting.identifier_id == FraudIdentifier.id)
            .where(FraudSighting.case_id == case_id)
        )
        assert sorted(kinds) == ["phone", "qq"]
    # A third warning for the person with the same phone: already sighted, nothing new.
    before = counts(env)
    post(env, district, "LM-3", target=SL, scam_contacts=[RING])
    assert link(env) == 1 and counts(env) == before
    assert link_timers(env)[-1].outcome == "linked 0 cases"


def test_a_case_closed_before_the_worker_runs_is_linked_without_alerting_it(env: Env) -> None:
    district = seed(env)
    open_case, _ = post(env, district, "LC-1", target=SL, scam_contacts=[RING])
    link(env)
    closed_case, _ = post(env, district, "LC-2", target=SZ, scam_contacts=[RING])
    with transaction(env.factory) as s:
        s.execute(update(Case).where(Case.id == closed_case).values(state="closed"))
    assert link(env) == 1
    assert linked_to(env, closed_case) == {open_case} and linked_to(env, open_case) == {closed_case}
    with env.reader() as s:
        alerted = set(s.scalars(select(Notification.case_id).where(Notification.kind == "intel.linked")))
    assert alerted == {open_case}


def test_a_warning_without_a_usable_contact_schedules_nothing(env: Env) -> None:
    district = seed(env)
    post(env, district, "LN-1", target=SL, scam_contacts=[])
    post(env, district, "LN-2", target=SZ, scam_contacts=[{"kind": "phone", "value": "not a phone"}])
    assert link_timers(env) == []
    _, app_only = post(
        env,
        district,
        "LN-3",
        target={"id_number": id_number("19700101", "777"), "phone": "13962517777"},
        scam_contacts=[{"kind": "app", "value": "趣兼职"}],
    )
    # An app links no cases but is ranked on /intel: it is still recorded by the worker.
    assert [t.subject_id for t in link_timers(env)] == [app_only]
    assert link(env) == 1 and counts(env) == (1, 0, 0)


def person(n: int) -> dict[str, str]:
    return {
        "address": "江苏省苏州市吴江区盛泽镇舜湖西路1号",
        "id_number": id_number("19600101", f"{n:03d}"),
        "phone": f"139625{n:05d}",
    }


@pytest.mark.parametrize("mode", ["batch", "one_by_one", "batch_fails"])
def test_a_batch_links_each_warning_as_if_linked_one_by_one(
    env: Env, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newest LINK_FANOUT (5) other cases per warning, counting the batch's earlier warnings
    and what the database held before; a failing batch is rolled back and its timers fire one
    by one with the same result."""
    district = seed(env)
    if mode == "batch_fails":
        link_together = intel_service._link_set

        def only_alone(session: Any, rt: Any, actor: Any, jobs: list[Any]) -> list[int]:
            if len(jobs) > 1:  # one job that poisons its batch, fine on its own
                raise RuntimeError("the batch failed")
            return link_together(session, rt, actor, jobs)

        monkeypatch.setattr(intel_service, "_link_set", only_alone)

    def fire() -> int:
        if mode == "one_by_one":
            return fire_due(env.factory, env.rt, TIMER_HANDLERS, prepare=TIMER_BATCH_HOOKS)
        return link(env)

    qq = {"kind": "qq", "value": "55667788"}
    cases = [post(env, district, f"LF-{n}", target=person(n), scam_contacts=[RING])[0] for n in range(1, 8)]
    assert fire() == 7
    assert [t.outcome for t in link_timers(env)] == [f"linked {n} cases" for n in (0, 1, 2, 3, 4, 5, 5)]
    assert linked_to(env, cases[6]) == set(cases[1:6])
    # Two more in one batch: the ring's newest five before them, then the eighth's new qq too.
    c8, _ = post(env, district, "LF-8", target=person(8), scam_contacts=[RING, qq])
    c9, _ = post(env, district, "LF-9", target=person(9), scam_contacts=[qq, RING])
    assert fire() == 2
    assert [t.outcome for t in link_timers(env)][-2:] == ["linked 5 cases", "linked 5 cases"]
    assert linked_to(env, c8) == set(cases[2:7]) | {c9}
    assert linked_to(env, c9) == set(cases[3:7]) | {c8}
    with env.reader() as s:
        shared = s.scalars(
            select(CaseEvent.data).where(CaseEvent.case_id == c9, CaseEvent.kind == "intel_linked")
        ).all()
    by_other = {int(d["other_case_id"]): [i["kind"] for i in d["shared"]] for d in shared}
    assert by_other[c8] == ["phone", "qq"] and by_other[cases[6]] == ["phone"]
    # Each linked pair is on both timelines once: 0 + 1 + 2 + 3 + 4 + 5 + 5, then 5 + 5 pairs.
    sightings, events, alerts = counts(env)
    assert (sightings, events) == (7 + 2 + 2, 2 * (20 + 10)) and alerts > 0


def sl_person(n: int) -> dict[str, str]:
    return {**SL, "id_number": id_number("19610101", f"{n:03d}"), "phone": f"139625{n + 20000:05d}"}


def told_since(env: Env, after_id: int) -> dict[str, list[Notification]]:
    """username → the intel.linked notifications made after `after_id`."""
    with env.reader() as s:
        rows = s.execute(
            select(User.username, Notification)
            .join(Notification, Notification.user_id == User.id)
            .where(Notification.kind == "intel.linked", Notification.id > after_id)
            .order_by(Notification.id)
        ).all()
    out: dict[str, list[Notification]] = {}
    for username, notification in rows:
        out.setdefault(username, []).append(notification)
    return out


def two_linked_sl_cases(env: Env, district: District) -> tuple[int, int, int]:
    """Two open cases in 松陵 sharing the ring phone, linked; (older, newer, the last notification id)."""
    older = post(env, district, "LO-1", target=sl_person(1), scam_contacts=[RING])[0]
    newer = post(env, district, "LO-2", target=sl_person(2), scam_contacts=[RING])[0]
    assert link(env) == 2 and linked_to(env, newer) == {older}
    with env.reader() as s:
        return older, newer, s.scalar(select(func.max(Notification.id))) or 0


def test_an_officer_on_the_new_case_and_on_the_cases_it_links_is_told_once_of_the_new_case(env: Env) -> None:
    district = seed(env)
    older, newer, mark = two_linked_sl_cases(env, district)
    new_case = post(env, district, "LO-3", target=sl_person(3), scam_contacts=[RING])[0]
    assert link(env) == 1 and linked_to(env, new_case) == {older, newer}
    told = told_since(env, mark)
    # The station's chief follows all three cases: before, three alerts of the same news.
    [chief] = told["sl-chief"]
    assert chief.case_id == new_case
    assert chief.title == f"关联案件：#{new_case} ↔ 2 起案件"
    assert f"#{older}、#{newer}" in chief.body
    assert all(len(notes) == 1 for notes in told.values())
    # The timelines still record every pair, each way.
    assert linked_to(env, older) == {newer, new_case} and linked_to(env, newer) == {older, new_case}


def test_an_officer_only_on_linked_cases_is_told_once_naming_them_and_others_not_at_all(env: Env) -> None:
    district = seed(env)
    older, newer, mark = two_linked_sl_cases(env, district)
    later(env)  # the chief was told of `newer` then: not again before the interval is over
    sz = {**SZ, "name": "王五", "phone": "13862517777"}
    new_case = post(env, district, "LO-4", target=sz, scam_contacts=[RING])[0]
    assert link(env) == 1
    told = told_since(env, mark)
    [chief] = told["sl-chief"]
    assert chief.case_id == newer  # the newer of the officer's two cases
    assert chief.title == f"关联案件：#{newer}、#{older} ↔ #{new_case}"
    assert chief.body == (
        f"案件 #{newer}、#{older} 的骗子联系方式（phone 171****5555）"
        f"也出现在盛泽派出所的案件 #{new_case}（待签收）。"
    )
    assert "王五" not in chief.body and "7777" not in chief.body  # the other station's target: no PII
    [sz_leader] = told["sz-leader"]
    assert sz_leader.case_id == new_case and f"#{older}、#{newer}" in sz_leader.body
    assert all(len(notes) == 1 for notes in told.values())
    assert "centre" not in told and "b1-squad" not in told  # in neither case's audience


def later(env: Env) -> None:
    """The interval between alerts of a case's links later, with the timers due by then fired."""
    env.clock.advance(env.rt.policy.intel.link_alert_interval)
    link(env)


def test_someone_told_of_a_cases_links_is_not_told_again_within_the_interval(env: Env) -> None:
    """A ring calling victim after victim: 松陵's chief, told of the newer case's links, is not
    told again when a new case at another station links it within the interval (the new case's
    own people are); after the interval they are. The timelines record every link."""
    district = seed(env)
    older, newer, mark = two_linked_sl_cases(env, district)
    first = post(env, district, "LO-5", target={**SZ, "phone": "13862517777"}, scam_contacts=[RING])[0]
    assert link(env) == 1
    told = told_since(env, mark)
    assert "sl-chief" not in told
    assert [n.case_id for n in told["sz-leader"]] == [first]
    assert linked_to(env, newer) == {older, first}
    mark = max(n.id for notes in told.values() for n in notes)
    later(env)
    target = {**SZ, "id_number": id_number("19500303", "444"), "phone": "13862518888"}
    second = post(env, district, "LO-6", target=target, scam_contacts=[RING])[0]
    assert link(env) == 1
    told = told_since(env, mark)
    [chief] = told["sl-chief"]
    assert chief.case_id == newer and chief.title == f"关联案件：#{newer}、#{older} ↔ #{second}"
    assert all(len(notes) == 1 for notes in told.values())
