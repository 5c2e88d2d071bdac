"""The warning race over HTTP on both databases: ranked helpers, help requests by SMS through
the real gateway double, the helpers' one-time links, the first to reach recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from quanzu.models.audit import AuditEntry
from quanzu.models.dispatch import Notification
from quanzu.models.org import User
from tests.conftest import Env
from tests.factories import seed
from tests.helpers.common import api, candidates, guard_id, load_guards, open_case
from tests.helpers.sms_gateway import SmsGatewayDouble


def audit_actions(env: Env, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    with env.reader() as s:
        rows = s.scalars(
            select(AuditEntry).where(AuditEntry.action.like(f"{prefix}%")).order_by(AuditEntry.seq)
        )
        return [(e.action, e.detail) for e in rows]


def notified(env: Env, case_id: int, kind: str) -> set[str]:
    with env.reader() as s:
        rows = s.scalars(
            select(User.username)
            .join(Notification, Notification.user_id == User.id)
            .where(Notification.case_id == case_id, Notification.kind == kind)
        )
        return set(rows)


def test_helpers_ranked_on_messy_employer_names(env: Env) -> None:
    district = seed(env)
    load_guards(env)
    case_id = open_case(env, district)
    me = district.tokens["sl-d1"]

    found = candidates(env, me, case_id)

    names = [c["name"] for c in found]
    # 恒力化纤（吴江）有限公司 (the same name once the region and legal form go), then 恒力集团 (the
    # same company less what it makes), then the community's guard, then the untrained one (恒力集團).
    assert names == ["王*", "李**", "陈*", "赵*"]
    by_name = {c["name"]: c for c in found}
    assert by_name["李**"]["reason"].startswith("同单位反诈卫士（单位名称匹配")
    assert by_name["陈*"]["reason"] == "同社区反诈卫士（流虹社区居委会）"
    assert "未参加培训" in by_name["赵*"]["reason"]
    assert by_name["李**"]["phone"] == "138****0001"  # masked by default
    assert "周*" not in names and "吴*" not in names  # another enterprise; an inactive guard

    relative = api(
        env,
        me,
        "POST",
        f"/cases/{case_id}/contacts",
        {"relation": "relative", "relationship": "儿子", "name": "张小军", "phone": "139 6251 0002"},
    )
    assert relative.status_code == 201, relative.text
    assert relative.json()["phone"] == "139****0002" and relative.json()["name"] == "张**"
    first = candidates(env, me, case_id)[0]
    assert (first["kind"], first["helper_kind"], first["reason"]) == (
        "contact",
        "relative",
        "本人的亲属（儿子），对方信任的人",
    )


def test_a_race_with_two_helpers_records_the_first_to_reach(env: Env, sms_gateway: SmsGatewayDouble) -> None:
    district = seed(env)
    load_guards(env)
    case_id = open_case(env, district)
    me = district.tokens["sl-d1"]
    found = candidates(env, me, case_id)
    li, chen = guard_id(found, "李**"), guard_id(found, "陈*")

    sent = api(
        env,
        me,
        "POST",
        f"/cases/{case_id}/help-requests",
        {"helpers": [{"kind": "guard", "id": li}, {"kind": "guard", "id": chen}]},
    )
    assert sent.status_code == 201, sent.text
    assert [(r["helper"], r["status"], r["sms"]) for r in sent.json()] == [
        ("李**", "sent", "queued"),
        ("陈*", "sent", "queued"),
    ]
    assert env.app.state.worker.deliver() == 2  # through the outbox, to the gateway double
    li_sms, chen_sms = sms_gateway.to("+8613800000001"), sms_gateway.to("+8613800000004")
    assert sms_gateway.rejected == []
    assert "张先生" in chen_sms.text and "张建国" not in chen_sms.text and "13962510001" not in chen_sms.text
    assert chen_sms.sender == "吴江反诈"
    listed = api(env, me, "GET", f"/cases/{case_id}/help-requests").json()
    assert [r["sms"] for r in listed] == ["delivered", "delivered"]
    assert all("link" not in r for r in listed)  # the link was shown once

    page = env.client.get(f"/h/{chen_sms.token}")
    assert page.status_code == 200
    assert "张先生" in page.text and "139****0001" in page.text and "流虹社区" in page.text
    assert "鲈乡南路" not in page.text and "张建国" not in page.text  # no street address, no full name
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"

    env.clock.advance(timedelta(minutes=3))
    reached_at = env.clock.now()
    answer = env.client.post(
        f"/h/{chen_sms.token}", data={"answer": "reached_stopped", "note": "已在家中见到本人"}
    )
    assert answer.status_code == 200 and 'id="thanks"' in answer.text
    env.clock.advance(timedelta(minutes=2))
    later = env.client.post(f"/h/{li_sms.token}", data={"answer": "reached_not_convinced"})
    assert later.status_code == 200

    requests = {r["helper"]: r for r in api(env, me, "GET", f"/cases/{case_id}/help-requests").json()}
    assert requests["陈*"]["first_to_reach"] is True and requests["陈*"]["answer"] == "reached_stopped"
    assert requests["李**"]["first_to_reach"] is False and requests["李**"]["status"] == "answered"
    detail = api(env, me, "GET", f"/cases/{case_id}").json()
    [sla] = [s for s in detail["sla"] if s["kind"] == "first_contact"]
    assert sla["status"] == "met" and sla["met_at"] == reached_at.isoformat().replace("+00:00", "Z")
    kinds = [e["kind"] for e in detail["timeline"] if e["kind"].startswith("help_")]
    assert kinds == ["help_requested", "help_requested", "help_opened", "help_answered", "help_answered"]
    answered = [e for e in detail["timeline"] if e["kind"] == "help_answered"]
    assert answered[0]["data"]["first_to_reach"] is True and "首个到达" in answered[0]["data"]["note"]
    # The officers on the case and the station's duty leader and chief heard at once.
    assert {"sl-d1", "sl-leader-day", "sl-chief"} <= notified(env, case_id, "help.answered")
    actions = [a for a, _ in audit_actions(env, "help.")]
    assert actions.count("help.requested") == 2 and actions.count("help.answered") == 2

    board = api(env, district.tokens["centre"], "GET", "/guards/leaderboard").json()
    assert [(r["name"], r["first_to_reach"], r["reached"]) for r in board] == [("陈*", 1, 1), ("李**", 0, 1)]


def _links(env: Env, token: str, case_id: int, ids: list[int]) -> list[str]:
    body = {"helpers": [{"kind": "guard", "id": i} for i in ids]}
    r = api(env, token, "POST", f"/cases/{case_id}/help-requests", body)
    assert r.status_code == 201, r.text
    assert all(
        x["sms"] is None for x in r.json()
    )  # no gateway configured: the links are handed over by phone
    return [x["link"].rsplit("/h/", 1)[1] for x in r.json()]


def test_expired_reused_and_forged_links_are_refused(env: Env) -> None:
    district = seed(env)
    load_guards(env)
    case_id = open_case(env, district)
    me = district.tokens["sl-d1"]
    found = candidates(env, me, case_id)
    used, stale = _links(env, me, case_id, [guard_id(found, "李**"), guard_id(found, "王*")])

    forged = env.client.get("/h/" + "x" * 32)
    assert forged.status_code == 404 and 'data-reason="unknown"' in forged.text
    forged = used[:-1] + ("B" if used.endswith("A") else "A")  # one character off, never the same
    assert env.client.post("/h/" + forged, data={"answer": "reached_stopped"}).status_code == 404

    assert env.client.post(f"/h/{used}", data={"answer": "cannot_go"}).status_code == 200
    again = env.client.post(f"/h/{used}", data={"answer": "reached_stopped"})
    assert again.status_code == 410 and 'data-reason="answered"' in again.text
    assert env.client.get(f"/h/{used}").status_code == 410

    env.clock.advance(env.rt.policy.helpers.link_lifetime)  # the link's last instant has passed
    expired = env.client.get(f"/h/{stale}")
    assert expired.status_code == 410 and 'data-reason="expired"' in expired.text
    assert env.client.post(f"/h/{stale}", data={"answer": "reached_stopped"}).status_code == 410

    refusals = [d["reason"] for a, d in audit_actions(env, "help.link_refused")]
    assert refusals == ["unknown", "unknown", "answered", "answered", "expired", "expired"]
    requests = api(env, me, "GET", f"/cases/{case_id}/help-requests").json()
    assert [(r["status"], r["answer"], r["first_to_reach"]) for r in requests] == [
        ("answered", "cannot_go", False),
        ("expired", None, False),
    ]
    detail = api(env, me, "GET", f"/cases/{case_id}").json()
    assert (
        detail["sla"][1]["kind"] == "first_contact" and detail["sla"][1]["met_at"] is None
    )  # nobody reached


def test_a_link_stops_when_the_case_closes_and_an_answer_needs_a_choice(env: Env) -> None:
    district = seed(env)
    load_guards(env)
    case_id = open_case(env, district, risk_level="low")
    me = district.tokens["sl-d1"]
    [link] = _links(env, me, case_id, [guard_id(candidates(env, me, case_id), "李**")])

    no_choice = env.client.post(f"/h/{link}", data={"answer": ""})
    assert no_choice.status_code == 200 and "请选择一项结果后再提交" in no_choice.text

    for body in ({"kind": "sign"}, {"kind": "phone", "outcome": "answered"}):
        assert api(env, me, "POST", f"/cases/{case_id}/steps", body).status_code == 200
    assert api(env, me, "POST", f"/cases/{case_id}/close", {"outcome": "not_fraud"}).status_code == 200
    closed = env.client.get(f"/h/{link}")
    assert closed.status_code == 410 and 'data-reason="closed"' in closed.text
    again = api(env, me, "POST", f"/cases/{case_id}/help-requests", {"helpers": [{"kind": "guard", "id": 1}]})
    assert again.status_code == 409


def test_scoping_reveal_and_validation(env: Env) -> None:
    district = seed(env)
    load_guards(env)
    case_id = open_case(env, district)
    me, other = district.tokens["sl-d1"], district.tokens["sz-d1"]
    li = guard_id(candidates(env, me, case_id), "李**")

    for method, path, body in (
        ("GET", f"/cases/{case_id}/helpers", None),
        ("GET", f"/cases/{case_id}/contacts", None),
        ("GET", f"/cases/{case_id}/help-requests", None),
        ("POST", f"/cases/{case_id}/help-requests", {"helpers": [{"kind": "guard", "id": li}]}),
        ("POST", f"/cases/{case_id}/helpers/reveal", {"kind": "guard", "id": li}),
    ):
        assert api(env, other, method, path, body).status_code == 404, path  # another station's case

    revealed = api(env, me, "POST", f"/cases/{case_id}/helpers/reveal", {"kind": "guard", "id": li})
    assert revealed.status_code == 200 and revealed.json() == {
        "kind": "guard",
        "id": li,
        "name": "李卫东",
        "phone": "+8613800000001",
    }
    with env.reader() as s:
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "pii.read", AuditEntry.subject_type == "guard")
        ).one()
    assert entry.subject_id == str(li) and entry.detail == {"case_id": case_id}
    # The registry is not browsable through a case: 周 (亨通) is no helper of this one.
    not_a_helper = api(env, me, "POST", f"/cases/{case_id}/helpers/reveal", {"kind": "guard", "id": 5})
    assert not_a_helper.status_code == 404

    bad = api(env, me, "POST", f"/cases/{case_id}/help-requests", {"helpers": [{"kind": "guard", "id": 999}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "helpers.0.id"
    bad_phone = api(
        env,
        me,
        "POST",
        f"/cases/{case_id}/contacts",
        {"relation": "relative", "name": "张三", "phone": "123"},
    )
    assert bad_phone.status_code == 422 and bad_phone.json()["errors"][0]["field"] == "phone"
    twice = {"helpers": [{"kind": "guard", "id": li}]}
    assert api(env, me, "POST", f"/cases/{case_id}/help-requests", twice).status_code == 201
    assert api(env, me, "POST", f"/cases/{case_id}/help-requests", twice).status_code == 409  # still open
