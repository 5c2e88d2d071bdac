"""Scoping: each role sees exactly its cases; PII is masked unless revealed, and reveals are audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from quanzu.models.audit import AuditEntry
from tests.conftest import Env
from tests.factories import District, bearer, fraud_phone, id_number, seed, warning

SL = {
    "address": "江苏省苏州市吴江区松陵街道流虹路88号",
    "id_number": id_number("19660606", "111"),
    "phone": "13962510001",
}


def two_cases(env: Env) -> tuple[District, int, int]:
    district = seed(env)
    sz = env.client.post("/api/v1/warnings", json=warning("SZ-1"), headers=bearer(district.feed_token)).json()
    sl = env.client.post(
        "/api/v1/warnings", json=warning("SL-1", target=SL), headers=bearer(district.feed_token)
    )
    return district, sz["case_id"], sl.json()["case_id"]


def get(env: Env, token: str, path: str) -> Any:
    return env.client.get(path, headers=bearer(token))


def test_an_officer_reads_own_station_case_with_steps_timeline_and_masked_target(env: Env) -> None:
    district, sz_case, _ = two_cases(env)
    r = get(env, district.tokens["sz-d1"], f"/api/v1/cases/{sz_case}")
    assert r.status_code == 200
    case = r.json()
    assert case["station"] == {"code": "SZ", "name": "盛泽派出所"}
    assert case["state"] == "dispatched" and case["tier"] == 1
    assert case["target"] == {
        "name": "张**",
        "phone": "138****2345",
        "id_number": "3205**********1234",
        "masked": True,
    }
    # A high-risk case puts its target on the banks' watch list at once (policy).
    assert [e["kind"] for e in case["timeline"]] == ["opened", "dispatched", "watch_created"]
    assert {a["username"] for a in case["assignees"]} == {"sz-leader", "sz-d1"}
    assert case["signals"][0]["scam_contacts"][0] == {"kind": "phone", "value": fraud_phone("SZ-1")}


def test_another_stations_case_is_not_found(env: Env) -> None:
    district, sz_case, sl_case = two_cases(env)
    assert get(env, district.tokens["sl-d1"], f"/api/v1/cases/{sz_case}").status_code == 404
    assert get(env, district.tokens["sl-d1"], f"/api/v1/cases/{sl_case}").status_code == 200
    missing = get(env, district.tokens["sl-d1"], "/api/v1/cases/999999")
    assert missing.status_code == 404 and missing.json() == {
        "error": "not_found",
        "message": "case 999999 not found",
    }
    r = env.client.post(f"/api/v1/cases/{sz_case}/reveal", headers=bearer(district.tokens["sl-d1"]))
    assert r.status_code == 404


def test_lists_are_scoped_by_role(env: Env) -> None:
    district, sz_case, sl_case = two_cases(env)

    def ids(user: str) -> set[int]:
        return {c["case_id"] for c in get(env, district.tokens[user], "/api/v1/cases").json()}

    assert ids("centre") == {sz_case, sl_case}
    assert ids("auditor") == {sz_case, sl_case}
    assert ids("b1-squad") == {sl_case}  # SL is in branch B1, SZ is not
    assert ids("sl-chief") == {sl_case}
    assert ids("sl-d1") == {sl_case}
    assert ids("sz-d1") == {sz_case}


def test_list_filters(env: Env) -> None:
    district, _sz_case, sl_case = two_cases(env)
    token = district.tokens["centre"]
    assert [c["case_id"] for c in get(env, token, "/api/v1/cases?station=SL").json()] == [sl_case]
    assert get(env, token, "/api/v1/cases?state=closed").json() == []
    assert len(get(env, token, "/api/v1/cases?risk=high&risk=extreme").json()) == 2
    assert get(env, token, "/api/v1/cases?risk=low").json() == []


def test_machine_clients_cannot_read_cases(env: Env) -> None:
    district, sz_case, _ = two_cases(env)
    assert get(env, district.feed_token, f"/api/v1/cases/{sz_case}").status_code == 403
    assert get(env, district.bank_token, "/api/v1/cases").status_code == 403


def test_reveal_shows_pii_and_is_audited(env: Env) -> None:
    district, sz_case, _ = two_cases(env)
    r = env.client.post(f"/api/v1/cases/{sz_case}/reveal", headers=bearer(district.tokens["sz-d1"]))
    assert r.status_code == 200
    assert r.json()["phone"] == "+8613862512345"
    assert r.json()["id_number"] == id_number()
    assert r.json()["name"] == "张三丰"
    with env.reader() as s:
        reads = s.scalars(select(AuditEntry).where(AuditEntry.action == "pii.read")).all()
    assert len(reads) == 1 and reads[0].actor.endswith(":sz-d1")
    assert reads[0].detail == {"case_id": sz_case}
    # Reading the case itself (masked) is not a PII read.
    get(env, district.tokens["sz-d1"], f"/api/v1/cases/{sz_case}")
    with env.reader() as s:
        assert len(s.scalars(select(AuditEntry).where(AuditEntry.action == "pii.read")).all()) == 1


def test_earlier_cases_of_the_person_are_listed(env: Env) -> None:
    from quanzu.kit.db import transaction
    from quanzu.models.cases import Case

    district, sz_case, _ = two_cases(env)
    with transaction(env.factory) as s:
        case = s.get(Case, sz_case)
        assert case is not None
        case.state = "closed"
    again = env.client.post("/api/v1/warnings", json=warning("SZ-2"), headers=bearer(district.feed_token))
    assert again.status_code == 201  # the old case was closed: a new case opens
    new_case = again.json()["case_id"]
    detail = get(env, district.tokens["sz-d1"], f"/api/v1/cases/{new_case}").json()
    assert detail["earlier_cases"] == [sz_case]
