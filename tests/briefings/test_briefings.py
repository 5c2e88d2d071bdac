"""The daily briefing (日报) over HTTP on both databases, on a fake clock: a hand-built day at
松陵 (SL) and 盛泽 (SZ) — a dissuaded case, a lost one whose sign clock breached and climbed,
an open case left overdue, a review finding with its notice, a guard first to reach, a shift
handover — then the figures, the PDF's text, the workbook, the daily timer, scoping and audit."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from quanzu.auth.actor import Actor
from quanzu.briefings import repository, service
from quanzu.codes import Role
from quanzu.kit.db import transaction
from quanzu.models.audit import AuditEntry
from quanzu.models.briefings import Briefing
from quanzu.models.cases import Case
from quanzu.models.dispatch import Notification
from quanzu.models.followups import FollowUpCallback
from quanzu.models.helpers import HelpRequest
from quanzu.models.org import OrgUnit, User
from quanzu.models.timers import Timer
from quanzu.worker.runner import Worker
from tests.conftest import Env
from tests.dissuasion.test_workflow_api import SL, move, open_case
from tests.factories import District, bearer, id_number, warning
from tests.followups.test_followups import plan, record
from tests.review.test_review_api import close_two, fire, post, review_of

DAY = "2026-11-28"
SZ_ADDRESS = "江苏省苏州市吴江区盛泽镇舜湖西路1号"


@dataclass
class Day:
    district: District
    good: int
    late: int
    overdue: int
    handed: int


def build_day(env: Env) -> Day:
    """14:00–20:00 local on 2026-11-28 (the fake clock starts at 14:00 in Suzhou)."""
    c = close_two(env)  # SL: dissuaded ¥50,000 at 14:13; lost ¥8,000, its sign clock breached
    d = c.district
    overdue = open_case(
        env, d, "high", address=SZ_ADDRESS, id_number=id_number("19700707", "444"), phone="13962517777"
    )
    env.clock.advance(timedelta(minutes=30))  # nobody signs: the sign and first-contact clocks breach
    fire(env)
    handed = open_case(env, d, "low", id_number=id_number("19800808", "555"), phone="13962518888")
    assert move(env, d.tokens["sl-d1"], handed, "steps", {"kind": "sign"}).status_code == 200
    centre = d.tokens["centre"]
    rid = review_of(env, centre, c.late)["review_id"]
    assert post(env, centre, f"/api/v1/reviews/{rid}", {"decision": "confirm"}).status_code == 200
    _guard_reached(env, c.good)
    env.clock.set(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))  # 20:00: the day shift hands over
    fire(env)
    return Day(d, c.good, c.late, overdue, handed)


def _guard_reached(env: Env, case_id: int) -> None:
    """A guard answered a help request first (the race itself is tested in tests/helpers)."""
    now = env.clock.now()
    with transaction(env.factory) as s:
        s.add(
            HelpRequest(
                case_id=case_id,
                helper_kind="guard",
                helper_masked="陈*",
                phone_masked="138****0004",
                token_hash="0" * 64,
                requested_by="sl-d1",
                requested_at=now - timedelta(minutes=5),
                expires_at=now + timedelta(hours=2),
                answered_at=now,
                answer="reached_stopped",
                first_to_reach=True,
            )
        )


def get(env: Env, token: str, path: str, **params: Any) -> Any:
    return env.client.get(path, params=params, headers=bearer(token))


def test_the_briefing_counts_the_day(env: Env) -> None:
    day = build_day(env)
    centre, chief = day.district.tokens["centre"], day.district.tokens["sl-chief"]
    r = get(env, centre, f"/api/v1/briefings/{DAY}.json")
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["scope"] == "district" and b["station"] is None
    k = b["kpis"]
    assert (k["warnings"], k["cases"], k["dissuaded"], k["lost"], k["open_cases"]) == (4, 4, 1, 1, 2)
    assert (Decimal(k["money_protected"]), Decimal(k["money_lost"])) == (
        Decimal("50000.00"),
        Decimal("8000.00"),
    )
    # At midnight: the open SZ case's sign (5 min) and first-contact (15 min) clocks are past due,
    # and the signed low-risk SL case's first contact (2 h).
    assert b["overdue_clocks"] == 3
    assert {(o["case_id"], o["station"], o["kind"]) for o in b["overdue_clock_list"]} == {
        (day.overdue, "SZ", "sign"),
        (day.overdue, "SZ", "first_contact"),
        (day.handed, "SL", "first_contact"),
    }
    # The late case's and the handed case's breaches climbed one rung; the unsigned SZ case two.
    assert b["escalations"] == 4 and b["escalations_by_tier"] == {"1": 3, "2": 1}
    assert {e["case_id"] for e in b["escalation_list"]} == {day.late, day.overdue, day.handed}
    assert b["review"]["decided"] == 1 and b["review"]["confirmed"] == 1
    assert b["review"]["findings_by_item"] == {"sla:sign": 1} and b["review"]["notices_issued"] == 1
    assert (b["guards"]["answered"], b["guards"]["first_to_reach"]) == (1, 1)
    assert b["guards"]["answers"][0]["case_id"] == day.good
    assert b["handovers"] == 1 and "已下班" in b["handover_notes"][0]["note"]
    assert b["handover_notes"][0]["case_id"] == day.handed
    stations = {s["code"]: s for s in b["stations"]}
    assert set(stations) == {"SL", "TL", "SZ"}
    sl, sz = stations["SL"], stations["SZ"]
    assert (sl["warnings"], sl["cases"], sl["dissuaded"], sl["lost"]) == (3, 3, 1, 1)
    assert Decimal(sl["money_protected"]) == Decimal("50000.00") and sl["findings"] == 1
    assert (sl["guard_first_reach"], sl["handovers"], sl["overdue_clocks"]) == (1, 1, 1)
    assert (sz["warnings"], sz["overdue_clocks"], stations["TL"]["cases"]) == (1, 2, 0)
    # The station table adds up to the district's KPIs (one definition of each figure).
    assert sum(s["cases"] for s in b["stations"]) == k["cases"]
    # The chief's own station: the SL figures only, no SZ case.
    mine = get(env, chief, f"/api/v1/briefings/{DAY}.json").json()
    assert mine["scope"] == "SL" and mine["kpis"]["cases"] == 3 and mine["overdue_clocks"] == 1
    assert [s["code"] for s in mine["stations"]] == ["SL"]


def test_the_pdf_carries_the_chinese_text_and_the_workbook_the_numbers(env: Env) -> None:
    day = build_day(env)
    centre = day.district.tokens["centre"]
    r = get(env, centre, f"/api/v1/briefings/{DAY}.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(r.content))
    text = "".join(page.extract_text() for page in reader.pages)
    squeezed = "".join(text.split())
    for words in (
        "全区日报",
        "概要",
        "接收预警",
        "挽回金额（元）",
        "各派出所",
        "松陵派出所",
        "盛泽派出所",
        "交接班",
        "已下班",
    ):
        assert words in squeezed, words
    assert "50,000.00" in squeezed and "8,000.00" in squeezed
    charts = [x for x in _xobjects(reader.pages[0]) if x.get("/Subtype") == "/Form"]
    assert charts  # the SVG charts, drawn as form images
    fonts = {str(font["/BaseFont"]) for page in reader.pages for font in _fonts(page)}
    assert fonts and all("Noto-Sans-CJK-SC" in f for f in fonts), fonts  # the CJK OpenType font, embedded

    x = get(env, centre, f"/api/v1/briefings/{DAY}.xlsx")
    assert x.status_code == 200
    book = load_workbook(io.BytesIO(x.content))
    assert book.sheetnames == ["概要", "派出所", "超时事项", "升级", "复查", "社会力量", "交接班"]
    summary = {row[0]: row[1] for row in book["概要"].iter_rows(min_row=2, values_only=True)}
    assert (summary["接收预警"], summary["劝阻成功"], summary["已被骗"]) == (4, 1, 1)
    assert summary["挽回金额（元）"] == 50000 and summary["被骗金额（元）"] == 8000
    money_cell = next(c for c in book["概要"]["B"] if c.value == 50000)
    assert money_cell.number_format == "#,##0.00"
    stations = {row[0]: row for row in book["派出所"].iter_rows(min_row=2, values_only=True)}
    assert stations["SL"][1] == "松陵派出所" and stations["SL"][2:7] == (3, 3, 1, 50000, 1)
    assert stations["SZ"][8] == 2  # overdue clocks
    overdue = list(book["超时事项"].iter_rows(min_row=2, values_only=True))
    assert sorted((row[1], row[3]) for row in overdue) == sorted(
        [(day.overdue, "签收"), (day.overdue, "首次联系"), (day.handed, "首次联系")]
    )
    handovers = list(book["交接班"].iter_rows(min_row=2, values_only=True))
    assert (
        len(handovers) == 1
        and handovers[0][1] == day.handed
        and handovers[0][0]
        == datetime(2026, 11, 28, 20, 0, tzinfo=UTC).replace(tzinfo=None)  # local wall time
    )
    reviews = list(book["复查"].iter_rows(min_row=2, max_row=2, max_col=2, values_only=True))
    assert reviews == [("按时完成：签收", 1)]

    page = get(env, centre, f"/api/v1/briefings/{DAY}.html")
    assert page.status_code == 200 and "松陵派出所" in page.text and 'data-figure="dissuaded">1<' in page.text
    with env.reader() as s:
        downloads = s.scalars(
            select(AuditEntry.detail)
            .where(AuditEntry.action == "briefing.downloaded")
            .order_by(AuditEntry.seq)
        ).all()
    assert [d["format"] for d in downloads] == ["pdf", "xlsx", "html"]


def test_the_daily_timer_generates_at_the_configured_time_and_plans_the_next_day(env: Env) -> None:
    day = build_day(env)
    worker: Worker = env.app.state.worker
    worker.plan_daily()  # what the worker does when it starts
    with transaction(env.factory) as s:
        due = service.ensure_scheduled(s, env.rt)  # planned once: the pending timer is kept
        assert len(s.scalars(select(Timer).where(Timer.kind == "briefing")).all()) == 1
    assert due == datetime(2026, 11, 29, 0, 0, tzinfo=UTC)  # 08:00 in Suzhou (policy briefings.at)
    env.clock.set(due - timedelta(seconds=1))
    fire(env)
    assert _stored(env) == []
    env.clock.set(due)
    fire(env)
    assert _stored(env) == [("SL", 1), ("SZ", 1), ("TL", 1), ("district", 1)]
    with env.reader() as s:
        pending = s.scalars(
            select(Timer.due_at).where(Timer.kind == "briefing", Timer.fired_at.is_(None))
        ).all()
        told = s.execute(
            select(User.username, Notification.title)
            .join(User, User.id == Notification.user_id)
            .where(Notification.kind == "briefing.ready")
        ).all()
    assert pending == [due + timedelta(days=1)]
    assert ("centre", f"全区 {DAY} 日报已生成") in told and (
        "sl-chief",
        f"松陵派出所 {DAY} 日报已生成",
    ) in told
    fire(env)  # nothing left to fire at this instant: no duplicate
    assert _stored(env) == [("SL", 1), ("SZ", 1), ("TL", 1), ("district", 1)]
    stored = get(env, day.district.tokens["centre"], f"/api/v1/briefings/{DAY}.json").json()
    assert stored["kpis"]["dissuaded"] == 1 and stored["computed_at"].startswith("2026-11-29T00:00")
    # Generated again on demand: the same row, a second generation.
    again = env.client.post(
        f"/api/v1/briefings/{DAY}", params={"station": "SL"}, headers=bearer(day.district.tokens["sl-chief"])
    )
    assert again.status_code == 200, again.text
    assert again.json()["generations"] == 2
    assert _stored(env) == [("SL", 2), ("SZ", 1), ("TL", 1), ("district", 1)]
    listed = get(env, day.district.tokens["sl-chief"], "/api/v1/briefings").json()
    assert [(e["scope"], e["day"]) for e in listed] == [("SL", DAY)]
    env.clock.set(due + timedelta(days=1))
    fire(env)
    with env.reader() as s:
        days = s.execute(
            select(Briefing.day, func.count()).group_by(Briefing.day).order_by(Briefing.day)
        ).all()
        generated = s.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "briefing.generated")
        ).all()
    assert [(d.isoformat(), n) for d, n in days] == [(DAY, 4), ("2026-11-29", 4)]
    assert len(generated) == 9


def _fonts(page: Any) -> list[Any]:
    resources = page["/Resources"].get_object()
    return [f.get_object() for f in resources.get("/Font", {}).get_object().values()]


def _xobjects(page: Any) -> list[Any]:
    resources = page["/Resources"].get_object()
    return [x.get_object() for x in resources.get("/XObject", {}).get_object().values()]


def _stored(env: Env) -> list[tuple[str, int]]:
    with env.reader() as s:
        rows = s.execute(select(Briefing.scope, Briefing.generations).order_by(Briefing.scope)).all()
    return [(scope, n) for scope, n in rows]


def test_scoping_and_validation(env: Env) -> None:
    day = build_day(env)
    t = day.district.tokens
    assert get(env, t["sl-chief"], f"/api/v1/briefings/{DAY}.pdf", station="SZ").status_code == 404
    assert get(env, t["sl-chief"], f"/api/v1/briefings/{DAY}.json", station="XX").status_code == 404
    assert get(env, t["sl-chief"], f"/api/v1/briefings/{DAY}.json", station="SL").status_code == 200
    assert get(env, t["b1-squad"], f"/api/v1/briefings/{DAY}.json", station="SL").status_code == 200
    assert get(env, t["b1-squad"], f"/api/v1/briefings/{DAY}.json", station="SZ").status_code == 404
    branch = get(env, t["b1-squad"], f"/api/v1/briefings/{DAY}.json")
    assert branch.status_code == 422 and branch.json()["errors"][0]["field"] == "station"
    assert get(env, t["sl-d1"], f"/api/v1/briefings/{DAY}.json").status_code == 403
    bad = get(env, t["centre"], "/api/v1/briefings/2026-13-01.pdf")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "day"
    fmt = get(env, t["centre"], f"/api/v1/briefings/{DAY}.doc")
    assert fmt.status_code == 422 and fmt.json()["errors"][0]["field"] == "format"
    future = get(env, t["centre"], "/api/v1/briefings/2026-12-01.json")
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "day"
    other = env.client.post(
        f"/api/v1/briefings/{DAY}", params={"station": "SZ"}, headers=bearer(t["sl-chief"])
    )
    assert other.status_code == 404
    leader = env.client.post(f"/api/v1/briefings/{DAY}", headers=bearer(t["sl-leader-day"]))
    assert leader.status_code == 403  # a duty leader reads the station's briefing, not generates it
    assert get(env, t["sl-leader-day"], f"/api/v1/briefings/{DAY}.json").json()["scope"] == "SL"
    assert env.client.get(f"/api/v1/briefings/{DAY}.json").status_code == 401


def test_overdue_callbacks_are_counted_on_their_day(env: Env) -> None:
    day = build_day(env)
    # The dissuaded case's first callback (high risk: day 3) is due 12-01 and overdue two hours
    # after that day ends; nobody makes it.
    env.clock.set(datetime(2026, 12, 3, 0, 0, tzinfo=UTC))
    fire(env)
    b = get(env, day.district.tokens["centre"], "/api/v1/briefings/2026-12-02.json").json()
    assert b["overdue_callbacks"] == 1
    assert [(c["case_id"], c["seq"], c["station"]) for c in b["overdue_callback_list"]] == [
        (day.good, 1, "SL")
    ]
    earlier = get(env, day.district.tokens["centre"], "/api/v1/briefings/2026-11-30.json").json()
    assert earlier["overdue_callbacks"] == 0


def _case_joined_overdue_callbacks(
    session: Session, w: repository.Window
) -> tuple[dict[int | None, int], list[tuple[int, int | None, int, datetime, datetime]]]:
    """The overdue callbacks as the briefing read them before revision 0018: each through its
    case, counted and listed under the case's station. The station kept on the callback must
    give the same figures."""
    cb = FollowUpCallback
    stmt = (
        w.scoped.join(cb, cb.case_id == Case.id)
        .where(cb.overdue_at < w.as_of)
        .where(or_(cb.done_at.is_(None), cb.done_at > w.as_of))
    )
    counts = session.execute(
        stmt.with_only_columns(Case.station_id, func.count(cb.id)).group_by(Case.station_id)
    ).all()
    listed = session.execute(
        stmt.with_only_columns(Case.id, Case.station_id, cb.seq, cb.due_at, cb.overdue_at).order_by(
            cb.overdue_at, cb.id
        )
    ).all()
    return {s: int(n) for s, n in counts}, [(c, s, q, d, o) for c, s, q, d, o in listed]


def test_a_transferred_case_s_overdue_callback_counts_under_its_new_station(env: Env) -> None:
    day = build_day(env)
    t = day.district.tokens
    target = {**SL, "id_number": id_number("19900909", "666"), "phone": "13962516666"}
    r = env.client.post(
        "/api/v1/warnings",
        json=warning("W-moved", risk_level="high", target=target),
        headers=bearer(day.district.feed_token),
    )
    assert r.status_code == 201, r.text
    moved: int = r.json()["case_id"]
    for step in (
        {"kind": "sign"},
        {"kind": "phone", "outcome": "answered"},
        {"kind": "face_to_face", "outcome": "dissuaded"},  # SL meets the target: the plan starts
    ):
        assert move(env, t["sl-d1"], moved, "steps", step).status_code == 200
    assert move(env, t["centre"], moved, "route", {"station": "SZ"}).status_code == 200
    # Both first callbacks (day 3) are overdue from 12-01 18:00 UTC and nobody makes them.
    env.clock.set(datetime(2026, 12, 3, 0, 0, tzinfo=UTC))
    fire(env)
    b = get(env, t["centre"], "/api/v1/briefings/2026-12-02.json").json()
    assert b["overdue_callbacks"] == 2
    assert {(c["case_id"], c["seq"], c["station"]) for c in b["overdue_callback_list"]} == {
        (day.good, 1, "SL"),
        (moved, 1, "SZ"),
    }
    assert {s["code"]: s["overdue_callbacks"] for s in b["stations"]} == {"SL": 1, "TL": 0, "SZ": 1}
    sz = get(env, t["sz-leader"], "/api/v1/briefings/2026-12-02.json").json()
    assert sz["scope"] == "SZ" and sz["overdue_callbacks"] == 1
    assert [(c["case_id"], c["station"]) for c in sz["overdue_callback_list"]] == [(moved, "SZ")]
    sl = get(env, t["sl-chief"], "/api/v1/briefings/2026-12-02.json").json()
    assert (sl["overdue_callbacks"], sl["overdue_callback_list"][0]["case_id"]) == (1, day.good)
    branch = get(env, t["b1-squad"], "/api/v1/briefings/2026-12-02.json", station="SL").json()
    assert branch["overdue_callbacks"] == 1  # B1 holds SL and TL: the moved case is SZ's now

    # SZ makes the moved case's callback the next morning: still overdue at the end of 12-02
    # (recorded after it), no longer on 12-03.
    first = plan(env, t["sz-d1"], moved)["callbacks"][0]
    assert record(env, t["sz-d1"], moved, first["callback_id"], reached=True).status_code == 200
    env.clock.advance(timedelta(hours=1))
    again = get(env, t["centre"], "/api/v1/briefings/2026-12-02.json").json()
    assert {(c["case_id"], c["station"]) for c in again["overdue_callback_list"]} == {
        (day.good, "SL"),
        (moved, "SZ"),
    }
    today = get(env, t["centre"], "/api/v1/briefings/2026-12-03.json").json()
    assert [(c["case_id"], c["station"]) for c in today["overdue_callback_list"]] == [(day.good, "SL")]

    # Every reader and moment: the same figures as counting through the cases.
    with env.reader() as s:
        units = {u.code: u for u in s.scalars(select(OrgUnit))}
        sl_id, sz_id, b1_id = units["SL"].id, units["SZ"].id, units["B1"].id
        readers = [
            (Actor(kind="user", id=None, name="c", role=Role.CENTRE), None),
            (Actor(kind="user", id=None, name="c", role=Role.CENTRE), sz_id),
            (Actor(kind="user", id=None, name="s", role=Role.CHIEF, station_id=sl_id, branch_id=b1_id), None),
            (Actor(kind="user", id=None, name="z", role=Role.DUTY_LEADER, station_id=sz_id), None),
            (Actor(kind="user", id=None, name="b", role=Role.BRANCH, branch_id=b1_id), None),
            (Actor(kind="user", id=None, name="b", role=Role.BRANCH, branch_id=b1_id), sl_id),
        ]
        seen = set()
        for as_of in (
            datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
            datetime(2026, 12, 2, 16, 0, tzinfo=UTC),
            env.clock.now(),
        ):
            for actor, station_id in readers:
                w = repository.window(actor, station_id, as_of - timedelta(days=1), as_of, as_of)
                counts, listed = _case_joined_overdue_callbacks(s, w)
                assert repository.overdue_callbacks_by_station(s, w) == counts
                assert repository.overdue_callback_list(s, w, 200) == listed
                assert repository.overdue_callback_list(s, w, 1) == listed[:1]
                seen.add(tuple(sorted(counts.items(), key=str)))
    assert len(seen) > 3  # the readers and moments do not all see the same callbacks
