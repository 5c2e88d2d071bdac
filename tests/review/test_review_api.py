"""Review, accountability notices, scorecards, training and exports over HTTP on both databases,
with a fake clock: one compliant and one late case at 松陵 (SL), reviewed by the centre."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select

from quanzu.models.audit import AuditEntry
from quanzu.models.cases import CaseEvent
from quanzu.models.dispatch import Notification
from quanzu.models.org import User
from quanzu.worker.runner import Worker
from tests.conftest import Env
from tests.dissuasion.test_workflow_api import REVERSE, move, open_case
from tests.factories import District, bearer, id_number, seed

DAY = {"from": "2026-11-28", "to": "2026-11-28"}


@dataclass
class Closed:
    district: District
    good: int  # compliant: every step on time
    late: int  # signed late


def step(env: Env, token: str, case_id: int, after_min: float, kind: str, outcome: str | None = None) -> None:
    env.clock.advance(timedelta(minutes=after_min))
    body = {"kind": kind} | ({"outcome": outcome} if outcome else {})
    r = move(env, token, case_id, "steps", body)
    assert r.status_code == 200, r.text


def fire(env: Env) -> int:
    worker: Worker = env.app.state.worker
    return worker.fire_timers()


def get(env: Env, token: str, path: str, **params: Any) -> Any:
    r = env.client.get(path, params=params, headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


def post(env: Env, token: str, path: str, body: dict[str, Any]) -> Any:
    return env.client.post(path, json=body, headers=bearer(token))


def close_two(env: Env) -> Closed:
    district = seed(env)
    me = district.tokens["sl-d1"]
    good = open_case(env, district, "high")
    step(env, me, good, 1, "sign")
    step(env, me, good, 2, "phone", "answered")
    step(env, me, good, 10, "face_to_face", "dissuaded")
    body = {"outcome": "dissuaded", "amount_protected": "50000.00", "reverse_check": REVERSE}
    assert move(env, me, good, "close", body).status_code == 200
    late = open_case(env, district, "high", id_number=id_number("19500505", "333"), phone="13962519999")
    env.clock.advance(timedelta(minutes=10))  # the sign clock (5 min) breaches
    fire(env)
    step(env, me, late, 0, "sign")
    step(env, me, late, 1, "phone", "answered")
    body = {"outcome": "lost", "amount_lost": "8000.00", "reverse_check": REVERSE}
    assert move(env, me, late, "close", body).status_code == 200
    return Closed(district, good, late)


def review_of(env: Env, token: str, case_id: int) -> dict[str, Any]:
    rows = [r for r in get(env, token, "/api/v1/reviews", state="queued") if r["case_id"] == case_id]
    assert len(rows) == 1
    row: dict[str, Any] = rows[0]
    return row


def statuses(review: dict[str, Any]) -> dict[str, str]:
    return {i["code"]: i["status"] for i in review["checklist"]}


def test_closed_cases_are_queued_with_a_checklist_computed_from_the_case(env: Env) -> None:
    c = close_two(env)
    centre = c.district.tokens["centre"]
    queue = get(env, centre, "/api/v1/reviews", state="queued")
    assert [r["case_id"] for r in queue] == [c.good, c.late]
    good = statuses(queue[0])
    assert {k: v for k, v in good.items() if v != "passed"} == {"stop_payment": "not_applicable"}
    assert good["follow_up"] == "passed"  # the meeting started a follow-up plan, on track
    assert queue[0]["failed"] == 0 and queue[0]["target"].startswith("张")
    late = statuses(queue[1])
    assert {k for k, v in late.items() if v == "failed"} == {"sla:sign"}
    assert late["sla:face_to_face"] == "not_applicable"  # closed before the 24-hour deadline
    assert "超时 5 分钟" in next(i for i in queue[1]["checklist"] if i["code"] == "sla:sign")["explanation"]
    with env.reader() as session:
        kinds = session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == c.good)).all()
    assert "review_queued" in kinds


def test_confirming_a_compliant_case_issues_no_notice(env: Env) -> None:
    c = close_two(env)
    centre = c.district.tokens["centre"]
    rid = review_of(env, centre, c.good)["review_id"]
    r = post(env, centre, f"/api/v1/reviews/{rid}", {"decision": "confirm"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "confirmed" and r.json()["notice_id"] is None and r.json()["failed"] == 0
    again = post(env, centre, f"/api/v1/reviews/{rid}", {"decision": "confirm"})
    assert again.status_code == 409 and "confirmed" in again.json()["message"]
    assert get(env, centre, "/api/v1/notices") == []


def test_the_decision_is_validated_and_only_the_centre_decides(env: Env) -> None:
    c = close_two(env)
    centre, chief = c.district.tokens["centre"], c.district.tokens["sl-chief"]
    rid = review_of(env, centre, c.late)["review_id"]
    no_reason = post(
        env, centre, f"/api/v1/reviews/{rid}", {"decision": "override", "overrides": {"sla:sign": "passed"}}
    )
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    unknown = post(
        env,
        centre,
        f"/api/v1/reviews/{rid}",
        {"decision": "override", "overrides": {"nope": "failed"}, "reason": "x"},
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "overrides.nope"
    bad = post(env, centre, f"/api/v1/reviews/{rid}", {"decision": "maybe"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "decision"
    assert post(env, chief, f"/api/v1/reviews/{rid}", {"decision": "confirm"}).status_code == 403
    # The chief reads the station's reviews; another station's officer and a dissuader read none.
    assert [r["case_id"] for r in get(env, chief, "/api/v1/reviews")] == [c.good, c.late]
    assert env.client.get("/api/v1/reviews", headers=bearer(c.district.tokens["sl-d1"])).status_code == 403
    assert get(env, c.district.tokens["b1-squad"], "/api/v1/reviews") != []


def test_shortfalls_become_a_notice_the_chief_must_acknowledge_or_be_reminded(env: Env) -> None:
    c = close_two(env)
    centre, chief = c.district.tokens["centre"], c.district.tokens["sl-chief"]
    rid = review_of(env, centre, c.late)["review_id"]
    body = {
        "decision": "override",
        "overrides": {"sla:first_contact": "failed"},
        "reason": "电话仅接通未劝阻",
    }
    r = post(env, centre, f"/api/v1/reviews/{rid}", body)
    assert r.status_code == 200, r.text
    decided = r.json()
    assert decided["state"] == "overridden" and decided["failed"] == 2
    overridden = next(i for i in decided["checklist"] if i["code"] == "sla:first_contact")
    assert overridden["overridden"] and overridden["computed"] == "passed"
    notices = get(env, chief, "/api/v1/notices", state="issued")
    assert [n["notice_id"] for n in notices] == [decided["notice_id"]]
    notice = notices[0]
    assert {i["code"] for i in notice["items"]} == {"sla:sign", "sla:first_contact"}
    assert notice["station"]["code"] == "SL" and notice["reminders"] == 0
    with env.reader() as session:
        chief_id = session.scalars(select(User.id).where(User.username == "sl-chief")).one()
        branch_id = session.scalars(select(User.id).where(User.username == "b1-squad")).one()
        kinds = session.scalars(select(Notification.kind).where(Notification.user_id == chief_id)).all()
        assert "review.notice" in kinds
        actions = set(session.scalars(select(AuditEntry.action)).all())
        assert {"review.overridden", "notice.issued", "review.queued"} <= actions

    # 48 hours without an answer: the chief is reminded and the branch told; then every 24 hours.
    env.clock.advance(timedelta(hours=48) - timedelta(seconds=1))
    fire(env)
    assert get(env, chief, "/api/v1/notices")[0]["reminders"] == 0
    env.clock.advance(timedelta(seconds=1))
    fire(env)
    assert get(env, chief, "/api/v1/notices")[0]["reminders"] == 1
    with env.reader() as session:
        told = session.scalars(
            select(Notification.kind).where(
                Notification.user_id == branch_id, Notification.kind == "review.notice_overdue"
            )
        ).all()
        assert len(told) == 1
    env.clock.advance(timedelta(hours=24))
    fire(env)
    assert get(env, chief, "/api/v1/notices")[0]["reminders"] == 2

    nid = notice["notice_id"]
    assert post(env, centre, f"/api/v1/notices/{nid}/acknowledge", {"response": "x"}).status_code == 403
    empty = post(env, chief, f"/api/v1/notices/{nid}/acknowledge", {"response": " "})
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "response"
    ack = post(env, chief, f"/api/v1/notices/{nid}/acknowledge", {"response": "已组织签收流程培训"})
    assert ack.status_code == 200, ack.text
    assert ack.json()["state"] == "acknowledged" and ack.json()["acknowledged_at"]
    again = post(env, chief, f"/api/v1/notices/{nid}/acknowledge", {"response": "再次"})
    assert again.status_code == 409 and "acknowledged" in again.json()["message"]
    env.clock.advance(timedelta(hours=24))
    fire(env)
    assert get(env, chief, "/api/v1/notices")[0]["reminders"] == 2  # the reminders stopped
    with env.reader() as session:
        kinds = session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == c.late)).all()
    assert [k for k in kinds if k.startswith(("review", "notice"))] == [
        "review_queued",
        "review_decided",
        "notice_issued",
        "notice_overdue",
        "notice_overdue",
        "notice_acknowledged",
    ]


def test_scorecards_per_station(env: Env) -> None:
    c = close_two(env)
    centre = c.district.tokens["centre"]
    for case_id, body in (
        (c.good, {"decision": "confirm"}),
        (c.late, {"decision": "confirm"}),
    ):
        rid = review_of(env, centre, case_id)["review_id"]
        assert post(env, centre, f"/api/v1/reviews/{rid}", body).status_code == 200
    cards = get(env, centre, "/api/v1/scorecards", **DAY)
    by_code = {s["code"]: s for s in cards["stations"]}
    assert set(by_code) == {"SL", "TL", "SZ"}
    sl = by_code["SL"]
    assert sl["cases"] == 2 and sl["closed"] == 2
    assert sl["sla_compliance"]["sign"] == {"met": 1, "counted": 2, "rate": 0.5}
    assert sl["sla_compliance"]["first_contact"] == {"met": 2, "counted": 2, "rate": 1.0}
    assert sl["sla_compliance"]["face_to_face"] == {"met": 1, "counted": 1, "rate": 1.0}
    assert sl["sla_compliance_rate"] == round(6 / 7, 4)  # + 2 feedback clocks met
    assert sl["first_meeting_success_rate"] == 1.0
    assert sl["reviews"] == {"queued": 0, "confirmed": 2, "overridden": 0}
    assert sl["findings"] == {"sla:sign": 1}
    assert sl["notices_issued"] == 1 and sl["notices_acknowledged"] == 0
    assert by_code["SZ"]["cases"] == 0 and by_code["SZ"]["findings"] == {}
    chief = get(env, c.district.tokens["sl-chief"], "/api/v1/scorecards", **DAY)
    assert [s["code"] for s in chief["stations"]] == ["SL"]
    bad = env.client.get("/api/v1/scorecards", params={"station": "XX"}, headers=bearer(centre))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "station"


def test_training_records_are_scoped_and_assessments_come_from_own_cases(env: Env) -> None:
    c = close_two(env)
    centre, chief = c.district.tokens["centre"], c.district.tokens["sl-chief"]
    record = {"user": "sl-d1", "course": "劝阻话术", "taken_on": "2026-11-01", "result": "pass"}
    r = post(env, centre, "/api/v1/training", record)
    assert r.status_code == 201, r.text
    assert (
        post(env, chief, "/api/v1/training", record | {"user": "sz-d1"}).json()["errors"][0]["field"]
        == "user"
    )
    no_score = post(env, chief, "/api/v1/training", record | {"user": "sl-d2", "result": "score"})
    assert no_score.status_code == 422 and no_score.json()["errors"][0]["field"] == "score"
    scored = post(env, chief, "/api/v1/training", record | {"user": "sl-d2", "result": "score", "score": 55})
    assert scored.status_code == 201
    assert post(env, c.district.tokens["sl-d1"], "/api/v1/training", record).status_code == 403
    post(env, centre, "/api/v1/training", record | {"user": "sz-d1"})
    assert {t["username"] for t in get(env, chief, "/api/v1/training")} == {"sl-d1", "sl-d2"}
    assert {t["username"] for t in get(env, centre, "/api/v1/training")} == {"sl-d1", "sl-d2", "sz-d1"}
    assert [t["username"] for t in get(env, c.district.tokens["sl-d1"], "/api/v1/training")] == ["sl-d1"]
    with env.reader() as session:
        assert "training.recorded" in session.scalars(select(AuditEntry.action)).all()

    rid = review_of(env, centre, c.late)["review_id"]
    post(env, centre, f"/api/v1/reviews/{rid}", {"decision": "confirm"})
    people = {p["username"]: p for p in get(env, chief, "/api/v1/assessments", **DAY)["people"]}
    assert "sz-d1" not in people
    d1 = people["sl-d1"]
    assert (d1["cases"], d1["closed"], d1["dissuaded"], d1["dissuaded_rate"]) == (2, 2, 1, 0.5)
    assert (d1["sla_met"], d1["sla_counted"], d1["review_findings"]) == (6, 7, 1)
    assert (d1["trainings"], d1["trainings_passed"]) == (1, 1)
    d2 = people["sl-d2"]
    assert (d2["cases"], d2["trainings"], d2["trainings_passed"]) == (0, 1, 0)


def test_exports_respect_scope_are_audited_and_open_in_excel(env: Env) -> None:
    c = close_two(env)
    centre = c.district.tokens["centre"]
    rid = review_of(env, centre, c.late)["review_id"]
    post(env, centre, f"/api/v1/reviews/{rid}", {"decision": "confirm"})
    r = env.client.get("/api/v1/exports/cases.xlsx", params=DAY, headers=bearer(centre))
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"].endswith('cases-20261128.xlsx"')
    sheet = load_workbook(io.BytesIO(r.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "案件编号" and [row[0] for row in rows[1:]] == [c.good, c.late]
    header = list(rows[0])
    good = dict(zip(header, rows[1], strict=True))
    assert good["止损金额"] == 50000 and good["结果"] == "劝阻成功" and good["派出所"] == "松陵派出所"
    assert "*" in str(good["对象"]) and "*" in str(good["手机号"])  # masked only
    assert dict(zip(header, rows[2], strict=True))["损失金额"] == 8000

    reviews = env.client.get("/api/v1/exports/reviews.csv", params=DAY, headers=bearer(centre))
    assert reviews.status_code == 200 and reviews.content.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(reviews.content.decode("utf-8-sig"))))
    assert len(table) == 3 and table[2][5] == "已确认" and table[2][8] == "按时完成：签收"
    followups = env.client.get("/api/v1/exports/followups.xlsx", params=DAY, headers=bearer(centre))
    assert followups.status_code == 200

    other = env.client.get(
        "/api/v1/exports/cases.csv", params=DAY, headers=bearer(c.district.tokens["sz-d1"])
    )
    assert (
        other.status_code == 200
        and len(list(csv.reader(io.StringIO(other.content.decode("utf-8-sig"))))) == 1
    )
    assert (
        env.client.get("/api/v1/exports/cases.pdf", headers=bearer(centre)).json()["errors"][0]["field"]
        == "format"
    )
    assert (
        env.client.get("/api/v1/exports/x.csv", headers=bearer(centre)).json()["errors"][0]["field"] == "kind"
    )
    assert (
        env.client.get("/api/v1/exports/cases.csv", headers=bearer(c.district.bank_token)).status_code == 403
    )
    with env.reader() as session:
        audits = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "export").order_by(AuditEntry.seq)
        ).all()
    assert [(a.subject_id, a.detail["format"], a.detail["rows"]) for a in audits] == [
        ("cases", "xlsx", 2),
        ("reviews", "csv", 2),
        ("followups", "xlsx", 0),
        ("cases", "csv", 0),
    ]
    assert audits[0].actor.endswith(":centre") and audits[0].detail["from"].startswith("2026-11-27T16:00")


def test_the_review_pages_render(env: Env) -> None:
    c = close_two(env)
    centre, chief = c.district.tokens["centre"], c.district.tokens["sl-chief"]
    page = env.client.get("/review", headers=bearer(centre))
    assert page.status_code == 200 and "按时完成：签收" in page.text and "提交复查" in page.text
    rid = review_of(env, centre, c.late)["review_id"]
    post(env, centre, f"/api/v1/reviews/{rid}", {"decision": "confirm"})
    notices = env.client.get("/notices", headers=bearer(chief))
    assert notices.status_code == 200 and "签收" in notices.text
    for path in ("/scorecards", "/training"):
        assert env.client.get(path, headers=bearer(centre)).status_code == 200, path
