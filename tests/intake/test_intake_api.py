"""The intake contract of DESIGN.md, through HTTP, on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from quanzu.auth import service as auth
from quanzu.kit.db import transaction
from quanzu.models.cases import Case, EarlyWarning, Person, ScamContact
from quanzu.models.dispatch import Notification
from tests.conftest import Env
from tests.factories import bearer, fraud_phone, id_number, seed, warning


def post(env: Env, token: str, body: Any) -> Any:
    return env.client.post("/api/v1/warnings", json=body, headers=bearer(token))


def count(env: Env, model: type) -> int:
    with env.reader() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_new_warning_opens_a_routed_case(env: Env) -> None:
    district = seed(env)
    r = post(env, district.feed_token, warning())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["station_code"] == "SZ"
    assert body["merged"] is False
    assert body["routing"]["method"] == "address"
    assert "盛泽镇" in body["routing"]["detail"]
    with env.reader() as s:
        case = s.get(Case, body["case_id"])
        assert case is not None and case.state == "dispatched"
        stored = s.get(EarlyWarning, body["warning_id"])
        assert stored is not None and stored.routing_method == "address"
        contacts = s.scalars(select(ScamContact.value).where(ScamContact.warning_id == stored.id)).all()
        assert sorted(contacts) == sorted([fraud_phone(stored.external_id), "趣兼职"])


def test_replay_returns_same_ids_and_stores_nothing_new(env: Env) -> None:
    district = seed(env)
    first = post(env, district.feed_token, warning())
    again = post(env, district.feed_token, warning())
    assert again.status_code == 200
    assert again.json() == first.json()
    assert count(env, EarlyWarning) == 1
    assert count(env, Case) == 1


def test_replay_with_equivalent_normalised_content_is_still_a_replay(env: Env) -> None:
    district = seed(env)
    post(env, district.feed_token, warning())
    same_instant = warning(issued_at="2026-11-28T05:58:00Z", target={"phone": "+86 138 6251 2345"})
    assert post(env, district.feed_token, same_instant).status_code == 200
    assert count(env, EarlyWarning) == 1


def test_same_key_with_different_content_is_a_conflict(env: Env) -> None:
    district = seed(env)
    post(env, district.feed_token, warning())
    r = post(env, district.feed_token, warning(amount_at_risk="99999.00"))
    assert r.status_code == 409
    assert "N-0001" in r.json()["message"]
    assert count(env, EarlyWarning) == 1


def test_same_external_id_from_another_source_is_another_warning(env: Env) -> None:
    district = seed(env)
    post(env, district.feed_token, warning())
    r = post(env, district.feed_token, warning(source="provincial"))
    assert r.status_code == 200  # same person: merged into the open case
    assert r.json()["merged"] is True
    assert count(env, EarlyWarning) == 2


def test_second_warning_for_the_person_merges_into_the_open_case(env: Env) -> None:
    district = seed(env)
    first = post(env, district.feed_token, warning("A-1", risk_level="medium")).json()
    # Same ID number, different phone and source: still the same person.
    second = post(
        env,
        district.feed_token,
        warning("A-2", source="bank", risk_level="extreme", target={"phone": "13962519999"}),
    )
    assert second.status_code == 200
    body = second.json()
    assert body["merged"] is True
    assert body["case_id"] == first["case_id"]
    assert body["warning_id"] != first["warning_id"]
    assert body["routing"]["method"] == "merged"
    with env.reader() as s:
        case = s.get(Case, first["case_id"])
        assert case is not None
        assert case.signal_count == 2
        assert case.risk_level == "extreme"  # the repeat raised the risk
        assert count(env, Person) == 1
        # The team on the case hears about the repeat.
        merged_notes = s.scalars(select(Notification).where(Notification.kind == "case.merged")).all()
        assert {n.user_id for n in merged_notes}


def test_merge_by_phone_alone_when_the_second_warning_has_no_id_number(env: Env) -> None:
    district = seed(env)
    first = post(env, district.feed_token, warning("P-1")).json()
    second = post(env, district.feed_token, warning("P-2", target={"id_number": None})).json()
    assert second["case_id"] == first["case_id"] and second["merged"] is True


def test_a_phone_shared_with_a_different_id_number_is_a_different_person(env: Env) -> None:
    district = seed(env)
    first = post(env, district.feed_token, warning("Q-1")).json()
    other = post(env, district.feed_token, warning("Q-2", target={"id_number": id_number("19900202", "456")}))
    assert other.status_code == 201
    assert other.json()["case_id"] != first["case_id"]


INVALID: list[tuple[dict[str, Any], str]] = [
    (
        {"target": {"id_number": id_number()[:-1] + ("0" if id_number()[-1] != "0" else "1")}},
        "target.id_number",
    ),  # bad check digit
    ({"target": {"id_number": "320584198013011230"}}, "target.id_number"),  # month 13
    ({"target": {"id_number": "32058419800101"}}, "target.id_number"),  # too short
    ({"target": {"phone": "12345"}}, "target.phone"),
    ({"target": {"phone": None, "id_number": None}}, "target"),
    ({"scam_type": "lottery"}, "scam_type"),
    ({"risk_level": "severe"}, "risk_level"),
    ({"source": "twitter"}, "source"),
    ({"issued_at": "2026-11-28T13:58:00"}, "issued_at"),  # no zone
    ({"issued_at": "yesterday"}, "issued_at"),
    ({"amount_at_risk": "-5"}, "amount_at_risk"),
    ({"amount_at_risk": "1.234"}, "amount_at_risk"),
    ({"external_id": ""}, "external_id"),
    ({"external_id": "x" * 101}, "external_id"),
    ({"description": "长" * 4001}, "description"),
    ({"target": {"name": "名" * 51}}, "target.name"),
    ({"target": {"age": 200}}, "target.age"),
    ({"scam_contacts": [{"kind": "pager", "value": "1"}]}, "scam_contacts.0.kind"),
    ({"scam_contacts": [{"kind": "url", "value": ""}]}, "scam_contacts.0.value"),
    ({"unexpected": 1}, "unexpected"),
]


@pytest.mark.parametrize(("change", "field"), INVALID, ids=[f for _, f in INVALID])
def test_each_invalid_field_is_named_and_nothing_is_stored(
    env: Env, change: dict[str, Any], field: str
) -> None:
    district = seed(env)
    r = post(env, district.feed_token, warning(**change))
    assert r.status_code == 422, r.text
    fields = [e["field"] for e in r.json()["errors"]]
    assert field in fields
    assert all(e["message"] for e in r.json()["errors"])
    assert count(env, EarlyWarning) == 0 and count(env, Case) == 0 and count(env, Person) == 0


def test_missing_required_fields_are_each_listed(env: Env) -> None:
    district = seed(env)
    r = post(env, district.feed_token, {"target": {"phone": "13862512345"}})
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"external_id", "source", "issued_at"} <= fields
    assert "risk_level" not in fields  # optional: a warning without one is scored (tests/intel)


def test_body_that_is_not_json(env: Env) -> None:
    district = seed(env)
    r = env.client.post("/api/v1/warnings", content=b"{not json", headers=bearer(district.feed_token))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body"


def test_oversized_body_is_refused(env: Env) -> None:
    district = seed(env)
    huge = warning(description="x" * (env.settings.max_body_bytes + 10))
    r = post(env, district.feed_token, huge)
    assert r.status_code == 413
    assert count(env, EarlyWarning) == 0


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc"])
def test_missing_or_bad_token_is_401(env: Env, header: str | None) -> None:
    seed(env)
    headers = {"Authorization": header} if header else {}
    r = env.client.post("/api/v1/warnings", json=warning(), headers=headers)
    assert r.status_code == 401
    assert count(env, EarlyWarning) == 0


def test_a_revoked_feed_token_is_refused_at_once_though_feeds_are_cached(env: Env) -> None:
    district = seed(env)
    assert post(env, district.feed_token, warning()).status_code == 201  # now in the credential cache
    with transaction(env.factory) as s:
        auth.revoke_client_tokens(s, env.rt, "national-feed")
    r = post(env, district.feed_token, warning(external_id="EW-after-revoke"))
    assert r.status_code == 401
    assert count(env, EarlyWarning) == 1


def test_a_users_bearer_token_is_not_cached_past_logout(env: Env) -> None:
    district = seed(env)
    token = district.tokens["centre"]
    assert post(env, token, warning()).status_code == 201
    with transaction(env.factory) as s:
        auth.logout(s, env.rt, token)
    assert post(env, token, warning(external_id="EW-after-logout")).status_code == 401


def test_an_officer_or_bank_cannot_post_warnings(env: Env) -> None:
    district = seed(env)
    assert post(env, district.tokens["sl-d1"], warning()).status_code == 403
    assert post(env, district.bank_token, warning()).status_code == 403


def test_batch_stores_good_items_and_reports_bad_ones(env: Env) -> None:
    district = seed(env)
    items = [
        warning("B-1"),
        warning("B-2", target={"phone": "1"}),
        warning("B-3", target={"id_number": id_number("19700303", "777"), "phone": "13962510000"}),
        warning("B-1"),
    ]
    r = env.client.post(
        "/api/v1/warnings/batch", json={"warnings": items}, headers=bearer(district.feed_token)
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [201, 422, 201, 200]
    assert results[1]["errors"][0]["field"] == "target.phone"
    assert results[3]["result"]["warning_id"] == results[0]["result"]["warning_id"]
    assert count(env, EarlyWarning) == 2


def test_batch_size_is_limited(env: Env) -> None:
    district = seed(env)
    items = [warning(f"L-{i}") for i in range(env.settings.max_batch_size + 1)]
    r = env.client.post(
        "/api/v1/warnings/batch", json={"warnings": items}, headers=bearer(district.feed_token)
    )
    assert r.status_code in (413, 422)
    assert count(env, EarlyWarning) == 0
