"""The KPIs over HTTP on both databases: a district day built through the real API with a fake
clock, so every duration, rate, money sum and bucket below is known exactly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Env
from tests.dissuasion.test_workflow_api import REVERSE, SL, move
from tests.factories import District, bearer, id_number, seed, warning

SZ_ADDRESS = "江苏省苏州市吴江区盛泽镇舜湖西路1号"
TL_ADDRESS = "江苏省苏州市吴江区同里镇鱼行街1号"
AT = {  # when each case opens (UTC); Suzhou is UTC+8, so E and F are on the next local day
    "A": datetime(2026, 11, 28, 6, 0, tzinfo=UTC),  # 14:00 local, 28 Nov
    "B": datetime(2026, 11, 28, 7, 0, tzinfo=UTC),
    "C": datetime(2026, 11, 28, 8, 0, tzinfo=UTC),
    "D": datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
    "E": datetime(2026, 11, 28, 16, 30, tzinfo=UTC),  # 00:30 local, 29 Nov
    "F": datetime(2026, 11, 28, 17, 30, tzinfo=UTC),
}
ASKED_AT = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)  # 11:00 local, 29 Nov
DAYS = {"from": "2026-11-28", "to": "2026-11-29"}


@dataclass
class Day:
    district: District
    cases: dict[str, int]


def post_warning(env: Env, district: District, key: str, seq: int, address: str, **fields: Any) -> Any:
    target = {
        "address": address,
        "id_number": id_number("19700101", f"{seq:03d}"),
        "phone": f"139625{seq:05d}",
    }
    body = warning(f"K-{key}", issued_at=env.clock.now().isoformat(), target=target, **fields)
    r = env.client.post("/api/v1/warnings", json=body, headers=bearer(district.feed_token))
    assert r.status_code in (200, 201), r.text
    return r.json()


def step(env: Env, token: str, case_id: int, after_s: int, kind: str, outcome: str | None = None) -> None:
    env.clock.advance(timedelta(seconds=after_s))
    body = {"kind": kind} | ({"outcome": outcome} if outcome else {})
    r = move(env, token, case_id, "steps", body)
    assert r.status_code == 200, r.text


def close(env: Env, token: str, case_id: int, body: dict[str, Any]) -> None:
    r = move(env, token, case_id, "close", body)
    assert r.status_code == 200, r.text


def build_day(env: Env) -> Day:
    """Six cases, seconds after opening in brackets:
    A  SL high   order_brushing  sign 60, call answered 180, met+dissuaded 780, closed 50000.00
    B  SL high   investment      sign 400 (late), no answer 1000, answered 1200 (late), met not
                                 convinced 1800, met dissuaded 2400, escalated, closed 20000.50
    C  SZ medium order_brushing  sign 120, call dissuaded 360, closed 1000.25
    D  SZ high   loan            sign 30, no answer 60, closed lost 8000.00 (before contact was due)
    E  TL low    romance         never signed; a repeat warning merges into it half an hour later
    F  SZ high   loan            D's person warned again: sign 100, call refused 150, still open
    """
    district = seed(env)
    sl, sz = district.tokens["sl-d1"], district.tokens["sz-d1"]
    cases: dict[str, int] = {}

    env.clock.set(AT["A"])
    cases["A"] = a = post_warning(env, district, "A", 1, SL["address"])["case_id"]
    step(env, sl, a, 60, "sign")
    step(env, sl, a, 120, "phone", "answered")
    step(env, sl, a, 600, "face_to_face", "dissuaded")
    close(env, sl, a, {"outcome": "dissuaded", "amount_protected": "50000.00", "reverse_check": REVERSE})

    env.clock.set(AT["B"])
    cases["B"] = b = post_warning(env, district, "B", 2, SL["address"], scam_type="investment")["case_id"]
    step(env, sl, b, 400, "sign")
    step(env, sl, b, 600, "phone", "no_answer")
    step(env, sl, b, 200, "phone", "answered")
    step(env, sl, b, 600, "face_to_face", "not_convinced")
    assert move(env, sl, b, "escalate", {"reason": "深度受骗"}).status_code == 200
    step(env, sl, b, 600, "face_to_face", "dissuaded")
    close(env, sl, b, {"outcome": "dissuaded", "amount_protected": "20000.50", "reverse_check": REVERSE})

    env.clock.set(AT["C"])
    cases["C"] = c = post_warning(env, district, "C", 3, SZ_ADDRESS, risk_level="medium")["case_id"]
    step(env, sz, c, 120, "sign")
    step(env, sz, c, 240, "phone", "dissuaded")
    close(env, sz, c, {"outcome": "dissuaded", "amount_protected": "1000.25", "reverse_check": REVERSE})

    env.clock.set(AT["D"])
    cases["D"] = d = post_warning(env, district, "D", 4, SZ_ADDRESS, scam_type="loan")["case_id"]
    step(env, sz, d, 30, "sign")
    step(env, sz, d, 30, "phone", "no_answer")
    close(env, sz, d, {"outcome": "lost", "amount_lost": "8000.00", "reverse_check": REVERSE})

    env.clock.set(AT["E"])
    cases["E"] = post_warning(env, district, "E", 5, TL_ADDRESS, risk_level="low", scam_type="romance")[
        "case_id"
    ]
    env.clock.advance(timedelta(minutes=30))
    merged = post_warning(env, district, "E2", 5, TL_ADDRESS, risk_level="low", scam_type="romance")
    assert merged["merged"] and merged["case_id"] == cases["E"]

    env.clock.set(AT["F"])
    cases["F"] = f = post_warning(env, district, "F", 4, SZ_ADDRESS, scam_type="loan")["case_id"]
    assert f != d
    step(env, sz, f, 100, "sign")
    step(env, sz, f, 50, "phone", "refused")

    env.clock.set(ASKED_AT)
    return Day(district, cases)


def kpis(env: Env, token: str, **params: str) -> Any:
    r = env.client.get("/api/v1/kpis", params=params, headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


def test_the_centre_sees_the_whole_district(env: Env) -> None:
    day = build_day(env)
    k = kpis(env, day.district.tokens["centre"], **DAYS)
    assert k["period"] == {
        "start": "2026-11-27T16:00:00Z",
        "end": "2026-11-29T16:00:00Z",
        "timezone": "Asia/Shanghai",
    }
    assert {key: k[key] for key in ("warnings", "cases", "open_cases", "escalated")} == {
        "warnings": 7,  # six first warnings and E's repeat
        "cases": 6,
        "open_cases": 2,  # E and F
        "escalated": 1,  # B
    }
    assert {key: k[key] for key in ("dissuaded", "money_protected", "lost", "money_lost")} == {
        "dissuaded": 3,
        "money_protected": "71000.75",
        "lost": 1,
        "money_lost": "8000.00",
    }
    assert (k["not_fraud"], k["unreachable"]) == (0, 0)
    # No callback is due before 1 Dec (the first plans started on 28 Nov call back on day 3).
    assert k["follow_up_completion_rate"] is None
    assert k["follow_ups"] == {"completed": 0, "counted": 0, "rate": None}


def test_durations_are_medians_and_p90_of_what_happened(env: Env) -> None:
    day = build_day(env)
    k = kpis(env, day.district.tokens["centre"], **DAYS)
    # Signs after 30, 60, 100, 120, 400 s (E never signed).
    assert k["time_to_sign_s"] == {"median": 100.0, "p90": 288.0, "n": 5}
    # Two-way contacts after 150 (refused), 180 (answered), 360 (dissuaded), 1200 s; a call that
    # is not answered is no contact, so D and E have none.
    assert k["time_to_first_contact_s"] == {"median": 270.0, "p90": 948.0, "n": 4}
    # A was dissuaded at its first meeting, B only at its second.
    assert k["first_meeting_success_rate"] == 0.5


def test_sla_breach_rate_counts_decided_clocks_only(env: Env) -> None:
    day = build_day(env)
    k = kpis(env, day.district.tokens["centre"], **DAYS)
    assert k["sla_breach_rate"] == {
        # B signed late; E never signed and is past due.
        "sign": {"breached": 2, "counted": 6, "rate": 0.3333},
        # B reached late, E never; D closed before its deadline, so its clock is not counted.
        "first_contact": {"breached": 2, "counted": 5, "rate": 0.4},
        # A and B met in time; D closed before it was due; F is still within its 24 h.
        "face_to_face": {"breached": 0, "counted": 2, "rate": 0.0},
        # A-D closed in time; E and F are still within theirs.
        "feedback": {"breached": 0, "counted": 4, "rate": 0.0},
    }


def test_repeat_warnings_count_earlier_cases_of_the_person_only(env: Env) -> None:
    day = build_day(env)
    centre = day.district.tokens["centre"]
    # F's person was warned for D the day before; E's repeat belongs to E itself.
    assert kpis(env, centre, **DAYS)["repeat_warning_rate_30d"] == round(1 / 6, 4)
    assert kpis(env, centre, **{"from": "2026-11-29", "to": "2026-11-29"})["repeat_warning_rate_30d"] == 0.5
    # Once F is closed, the person's next warning opens a new case; 30 days and a second after
    # F's, it is no longer a repeat.
    close(env, day.district.tokens["sz-d1"], day.cases["F"], {"outcome": "not_fraud"})
    env.clock.set(AT["F"] + timedelta(days=30, seconds=1))
    assert not post_warning(env, day.district, "G", 4, SZ_ADDRESS)["merged"]
    k = kpis(env, centre, **{"from": "2026-12-29", "to": "2026-12-29"})
    assert (k["cases"], k["repeat_warning_rate_30d"]) == (1, 0.0)
    empty = kpis(env, centre, **{"from": "2027-01-01", "to": "2027-01-10"})
    assert (empty["cases"], empty["repeat_warning_rate_30d"]) == (0, None)


def test_trend_buckets_are_local_days(env: Env) -> None:
    day = build_day(env)
    k = kpis(env, day.district.tokens["centre"], **DAYS)
    assert k["by_day"] == [
        {"date": "2026-11-28", "warnings": 4, "dissuaded": 3, "money_protected": "71000.75"},
        # E opened at 16:30 UTC: still the 28th in UTC, already the 29th in Suzhou.
        {"date": "2026-11-29", "warnings": 3, "dissuaded": 0, "money_protected": "0.00"},
    ]
    assert k["by_scam_type"] == [
        {"scam_type": "loan", "cases": 2, "dissuaded": 0},
        {"scam_type": "order_brushing", "cases": 2, "dissuaded": 2},
        {"scam_type": "investment", "cases": 1, "dissuaded": 1},
        {"scam_type": "romance", "cases": 1, "dissuaded": 0},
    ]


def test_station_ranking_is_the_warning_race(env: Env) -> None:
    day = build_day(env)
    k = kpis(env, day.district.tokens["centre"], **DAYS)
    assert k["station_ranking"] == [
        {
            "code": "SZ",
            "name": "盛泽派出所",
            "cases": 3,
            "dissuaded": 1,
            "money_protected": "1000.25",
            "median_time_to_sign_s": 100.0,  # 30, 100, 120
            "median_time_to_first_contact_s": 255.0,  # 150, 360
            "sla_breaches": 0,
            "follow_up_completion_rate": None,  # no callback due yet
        },
        {
            "code": "SL",
            "name": "松陵派出所",
            "cases": 2,
            "dissuaded": 2,
            "money_protected": "70000.50",
            "median_time_to_sign_s": 230.0,  # 60, 400
            "median_time_to_first_contact_s": 690.0,  # 180, 1200
            "sla_breaches": 2,
            "follow_up_completion_rate": None,
        },
        {
            "code": "TL",
            "name": "同里派出所",
            "cases": 1,
            "dissuaded": 0,
            "money_protected": "0.00",
            "median_time_to_sign_s": None,
            "median_time_to_first_contact_s": None,  # nobody reached the target: last
            "sla_breaches": 2,
            "follow_up_completion_rate": None,
        },
    ]


def test_each_reader_counts_only_what_it_may_read(env: Env) -> None:
    day = build_day(env)
    tokens = day.district.tokens
    station = kpis(env, tokens["sl-d1"], **DAYS)
    assert (station["cases"], station["warnings"], station["dissuaded"]) == (2, 2, 2)
    assert station["money_protected"] == "70000.50" and station["money_lost"] == "0.00"
    assert [s["code"] for s in station["station_ranking"]] == ["SL"]
    assert station["time_to_first_contact_s"] == {"median": 690.0, "p90": 1098.0, "n": 2}
    sz = kpis(env, tokens["sz-leader"], **DAYS)
    assert (sz["cases"], sz["lost"], sz["repeat_warning_rate_30d"]) == (3, 1, 0.3333)
    branch = kpis(env, tokens["b1-squad"], **DAYS)  # 城区中队: SL and TL
    assert (branch["cases"], branch["warnings"]) == (3, 4)
    assert [s["code"] for s in branch["station_ranking"]] == ["SL", "TL"]
    for reader in ("centre", "auditor"):
        assert kpis(env, tokens[reader], **DAYS)["cases"] == 6
    # A filter never widens the scope: SL's officer asking for SZ gets nothing.
    assert kpis(env, tokens["sl-d1"], station="SZ", **DAYS)["cases"] == 0


def test_station_and_scam_type_filters(env: Env) -> None:
    day = build_day(env)
    centre = day.district.tokens["centre"]
    sz = kpis(env, centre, station="SZ", **DAYS)
    assert (sz["station"], sz["cases"], sz["warnings"], sz["dissuaded"]) == ("SZ", 3, 3, 1)
    loan = kpis(env, centre, scam_type="loan", **DAYS)
    assert (loan["cases"], loan["lost"], loan["open_cases"], loan["money_lost"]) == (2, 1, 1, "8000.00")
    assert loan["by_scam_type"] == [{"scam_type": "loan", "cases": 2, "dissuaded": 0}]


def test_period_bounds(env: Env) -> None:
    day = build_day(env)
    centre = day.district.tokens["centre"]
    # Datetimes: from inclusive, to exclusive — B opened at 15:00 local, C at 16:00.
    hour = kpis(env, centre, **{"from": "2026-11-28T15:00:00+08:00", "to": "2026-11-28T08:00:00Z"})
    assert (hour["cases"], hour["by_scam_type"][0]["scam_type"]) == (1, "investment")
    assert [d["date"] for d in hour["by_day"]] == ["2026-11-28"]
    # A date `to` includes its whole local day; a date `from` starts at local midnight.
    assert kpis(env, centre, **{"from": "2026-11-29", "to": "2026-11-29"})["cases"] == 2
    assert kpis(env, centre, to="2026-11-28")["cases"] == 4
    # Default: the seven days up to the injected clock's now.
    default = kpis(env, centre)
    assert default["period"] == {
        "start": "2026-11-22T03:00:00Z",
        "end": "2026-11-29T03:00:00Z",
        "timezone": "Asia/Shanghai",
    }
    assert default["cases"] == 6 and len(default["by_day"]) == 8  # partial first and last days
    env.clock.advance(timedelta(days=7, hours=1))
    assert kpis(env, centre)["cases"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-11-28T14:00:00"}, "from"),  # no zone: ambiguous
        ({"from": "2026-11-29", "to": "2026-11-28"}, "from"),
        ({"from": "2025-01-01", "to": "2026-11-28"}, "from"),  # more than 366 days
        ({"station": "NOPE"}, "station"),
        ({"station": "B1"}, "station"),  # a branch, not a station
        ({"scam_type": "lottery"}, "scam_type"),
    ],
)
def test_invalid_queries_name_the_field(env: Env, params: dict[str, str], field: str) -> None:
    district = seed(env)
    r = env.client.get("/api/v1/kpis", params=params, headers=bearer(district.tokens["centre"]))
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]


def test_machines_may_not_read_kpis(env: Env) -> None:
    district = seed(env)
    for token in (district.feed_token, district.bank_token):
        assert env.client.get("/api/v1/kpis", headers=bearer(token)).status_code == 403
    assert env.client.get("/api/v1/kpis").status_code == 401


def test_an_empty_period_has_zeros_and_nulls_not_fake_numbers(env: Env) -> None:
    district = seed(env)
    k = kpis(env, district.tokens["centre"], **DAYS)
    assert (k["cases"], k["warnings"], k["money_protected"]) == (0, 0, "0.00")
    assert k["time_to_sign_s"] == {"median": None, "p90": None, "n": 0}
    assert k["first_meeting_success_rate"] is None and k["repeat_warning_rate_30d"] is None
    assert k["sla_breach_rate"]["sign"] == {"breached": 0, "counted": 0, "rate": None}
    assert k["station_ranking"] == [] and [d["dissuaded"] for d in k["by_day"]] == [0, 0]


def test_openapi_documents_the_kpis(env: Env) -> None:
    spec = env.client.get("/openapi.json").json()
    op = spec["paths"]["/api/v1/kpis"]["get"]
    assert "sla_breach_rate" in op["description"] and {"403", "422"} <= set(op["responses"])
    assert {p["name"] for p in op["parameters"]} == {"from", "to", "station", "scam_type"}


# --- follow-up completion (回访完成率) ------------------------------------------------------------------

AT_DEC = {  # UTC; the day-3 and day-7 callbacks of the plans started on 28 Nov fall on 1 and 5 Dec
    "A3 recorded": datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
    "B3 recorded": datetime(2026, 12, 1, 17, 0, tzinfo=UTC),
    "C7 recorded": datetime(2026, 12, 5, 17, 0, tzinfo=UTC),
    "A7 recorded late": datetime(2026, 12, 5, 19, 0, tzinfo=UTC),
}
DUE_DAYS = {"from": "2026-12-01", "to": "2026-12-05"}  # [30 Nov 16:00, 5 Dec 16:00) UTC


def callbacks_of(env: Env, token: str, case_id: int) -> dict[int, int]:
    """The case's callbacks, day -> callback id."""
    r = env.client.get(f"/api/v1/cases/{case_id}/followups", headers=bearer(token))
    assert r.status_code == 200, r.text
    return {cb["day"]: cb["callback_id"] for cb in r.json()["plan"]["callbacks"]}


def record(env: Env, token: str, case_id: int, callback_id: int, *, reached: bool) -> None:
    r = env.client.post(
        f"/api/v1/cases/{case_id}/followups/{callback_id}", json={"reached": reached}, headers=bearer(token)
    )
    assert r.status_code == 200, r.text


def build_callbacks(env: Env) -> Day:
    """The day above, then its follow-up plans (policy: high risk calls back on days 3, 7, 14, 28,
    medium on 7 and 28; due at the plan's time of day, overdue at the due day's local end + 2 h):
    A (SL, high) plan from its meeting at 06:13 UTC 28 Nov: day 3 due 1 Dec 06:13, day 7 due
      5 Dec 06:13; B (SL, high) from its first meeting at 07:30: 1 Dec 07:30 and 5 Dec 07:30;
      C (SZ, medium) from its dissuading call at 08:06: day 7 due 5 Dec 08:06.
    Every one of these is overdue at 18:00 UTC of its due day (local midnight + 2 h).
    A3 recorded reached at 10:00 1 Dec, B3 recorded not reached at 17:00 1 Dec (both in time),
    C7 recorded at 17:00 5 Dec (in time), A7 recorded at 19:00 5 Dec (late), B7 never."""
    day = build_day(env)
    sl, sz = day.district.tokens["sl-d1"], day.district.tokens["sz-d1"]
    a, b, c = (callbacks_of(env, t, day.cases[k]) for t, k in ((sl, "A"), (sl, "B"), (sz, "C")))
    assert (sorted(a), sorted(b), sorted(c)) == ([3, 7, 14, 28], [3, 7, 14, 28], [7, 28])
    env.clock.set(AT_DEC["A3 recorded"])
    record(env, sl, day.cases["A"], a[3], reached=True)
    env.clock.set(AT_DEC["B3 recorded"])
    record(env, sl, day.cases["B"], b[3], reached=False)
    env.clock.set(AT_DEC["C7 recorded"])
    record(env, sz, day.cases["C"], c[7], reached=True)
    return day


def test_follow_up_completion_counts_callbacks_made_by_their_deadline(env: Env) -> None:
    day = build_callbacks(env)
    tokens = day.district.tokens
    centre = tokens["centre"]
    # 17:00 5 Dec: A7 and B7 are due but still within their deadline (18:00): not counted yet.
    # Counted A3, B3, C7, all recorded in time: 3 / 3.
    k = kpis(env, centre, **DUE_DAYS)
    assert k["follow_ups"] == {"completed": 3, "counted": 3, "rate": 1.0}
    assert k["follow_up_completion_rate"] == 1.0
    # A7 recorded at 17:00 too, in time. At 19:00 B7 has passed its deadline unrecorded:
    # counted A3, B3, C7, A7, B7 = 5; completed all but B7 = 4; 4 / 5 = 0.8.
    record(env, tokens["sl-d1"], day.cases["A"], callbacks_of(env, centre, day.cases["A"])[7], reached=True)
    env.clock.set(AT_DEC["A7 recorded late"])
    k = kpis(env, centre, **DUE_DAYS)
    assert k["follow_ups"] == {"completed": 4, "counted": 5, "rate": 0.8}


def test_a_callback_recorded_late_or_never_counts_against_the_station(env: Env) -> None:
    day = build_callbacks(env)
    tokens = day.district.tokens
    centre, sl = tokens["centre"], tokens["sl-d1"]
    env.clock.set(AT_DEC["A7 recorded late"])
    record(env, sl, day.cases["A"], callbacks_of(env, sl, day.cases["A"])[7], reached=True)
    # Due 1-5 Dec: A3 ✓, B3 ✓ (not reached, but made in time), C7 ✓, A7 ✗ (recorded an hour
    # after its 18:00 deadline), B7 ✗ (never recorded, deadline passed). The day-14 and day-28
    # callbacks are due after the period. 3 completed / 5 counted = 0.6.
    k = kpis(env, centre, **DUE_DAYS)
    assert k["follow_ups"] == {"completed": 3, "counted": 5, "rate": 0.6}
    assert k["follow_up_completion_rate"] == 0.6
    # Per station: SL has A3, B3 ✓ and A7, B7 ✗ = 2 / 4; SZ has C7 ✓ = 1 / 1.
    assert kpis(env, centre, station="SL", **DUE_DAYS)["follow_up_completion_rate"] == 0.5
    assert kpis(env, centre, station="SZ", **DUE_DAYS)["follow_up_completion_rate"] == 1.0
    assert kpis(env, centre, station="TL", **DUE_DAYS)["follow_ups"] == {
        "completed": 0,
        "counted": 0,
        "rate": None,
    }
    # The scam type filter applies to the case: investment is B only, B3 ✓ B7 ✗ = 1 / 2.
    assert kpis(env, centre, scam_type="investment", **DUE_DAYS)["follow_up_completion_rate"] == 0.5
    # Scoping: SL's officer sees SL's callbacks only.
    assert kpis(env, sl, **DUE_DAYS)["follow_ups"] == {"completed": 2, "counted": 4, "rate": 0.5}
    # The station ranking over the days the cases opened and the callbacks fell due (28 Nov -
    # 5 Dec): same per-station figures, TL (no plan) null.
    ranking = kpis(env, centre, **{"from": "2026-11-28", "to": "2026-12-05"})["station_ranking"]
    assert {s["code"]: s["follow_up_completion_rate"] for s in ranking} == {"SZ": 1.0, "SL": 0.5, "TL": None}
    # The centre's scorecards read the same implementation.
    r = env.client.get("/api/v1/scorecards", params=DUE_DAYS, headers=bearer(centre))
    assert r.status_code == 200, r.text
    cards = {s["code"]: s["follow_up_completion_rate"] for s in r.json()["stations"]}
    assert (cards["SL"], cards["SZ"], cards["TL"]) == (0.5, 1.0, None)
