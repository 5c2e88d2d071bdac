"""Intelligence over HTTP on both databases: suggestions with their words, confirm and correct,
the risk table, scripts, contacts linked across cases and stations without the other station's
PII, the ranking and its audited export, the score raising the level where policy allows, and
`quanzu model train` feeding the server."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from quanzu.cli import app as cli_app
from quanzu.intel import repository
from quanzu.intel.service import LINK_FANOUT
from quanzu.intel.synthetic import labelled_set
from quanzu.models.audit import AuditEntry
from quanzu.models.cases import CaseEvent
from quanzu.models.dispatch import Notification
from quanzu.models.org import User
from quanzu.policy.schemas import Intel
from quanzu.worker.runner import Worker
from tests.conftest import Env
from tests.dissuasion.test_workflow_api import SL, move
from tests.factories import District, bearer, id_number, seed, warning

SZ = {
    "address": "江苏省苏州市吴江区盛泽镇舜湖西路1号",
    "id_number": id_number("19500303", "333"),
    "phone": "13862519999",
}
OTHER_TYPE_TEXT = "对方自称公安，说他涉嫌洗钱被通缉，要求把钱转到安全账户配合资金清查"


def post(env: Env, district: District, external_id: str, **overrides: Any) -> int:
    r = env.client.post(
        "/api/v1/warnings", json=warning(external_id, **overrides), headers=bearer(district.feed_token)
    )
    assert r.status_code in (200, 201), r.text
    case_id: int = r.json()["case_id"]
    return case_id


def link(env: Env) -> int:
    """What the worker does just after intake commits: link the new warnings' contacts."""
    worker: Worker = env.app.state.worker
    return worker.fire_timers()


def intel(env: Env, token: str, case_id: int) -> Any:
    r = env.client.get(f"/api/v1/cases/{case_id}/intel", headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


def events(env: Env, case_id: int, kind: str) -> list[dict[str, Any]]:
    with env.reader() as s:
        rows = s.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == kind))
        return [e.data for e in rows]


def test_a_warning_typed_other_gets_an_explained_suggestion_that_an_officer_confirms(env: Env) -> None:
    district = seed(env)
    me = district.tokens["sl-d1"]
    cid = post(
        env, district, "O-1", target=SL, scam_type="other", description=OTHER_TYPE_TEXT, scam_contacts=[]
    )
    got = intel(env, me, cid)
    sg = got["suggestion"]
    assert got["scam_type"] == "other"
    assert sg["scam_type"] == "impersonate_authority" and sg["offered"] and sg["model"] == "phrases"
    assert 0.3 <= sg["confidence"] < 1
    assert {"安全账户", "洗钱", "通缉"} <= {d["term"] for d in sg["drivers"]}
    assert got["script"]["scam_type"] == "impersonate_authority"  # follows the suggestion until decided
    assert any("安全账户" in line for line in got["script"]["say"]) and got["script"]["check"]
    assert "公检法" in got["script"]["helper_line"]
    assert events(env, cid, "scam_type_suggested")[0]["scam_type"] == "impersonate_authority"

    r = move(env, me, cid, "scam-type", {"scam_type": "impersonate_authority"})
    assert r.status_code == 200, r.text
    assert r.json()["scam_type"] == "impersonate_authority"
    assert r.json()["suggestion"]["decision"] == "confirmed" and not r.json()["suggestion"]["offered"]
    case = env.client.get(f"/api/v1/cases/{cid}", headers=bearer(me)).json()
    assert case["scam_type"] == "impersonate_authority"
    assert events(env, cid, "scam_type_decided")[0]["decision"] == "confirmed"
    with env.reader() as s:
        assert (OTHER_TYPE_TEXT, "impersonate_authority") in repository.training_examples(s)
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "case.scam_type.confirmed")).first()


def test_a_correction_is_recorded_as_such_and_feeds_training(env: Env) -> None:
    district = seed(env)
    me = district.tokens["sl-d1"]
    cid = post(env, district, "O-2", target=SL, scam_type="other", description="兼职群里刷单做任务，要求垫付")
    assert intel(env, me, cid)["suggestion"]["scam_type"] == "order_brushing"
    r = move(env, me, cid, "scam-type", {"scam_type": "investment"})
    assert r.status_code == 200 and r.json()["suggestion"]["decision"] == "corrected"
    bad = move(env, me, cid, "scam-type", {"scam_type": "nonsense"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "scam_type"
    with env.reader() as s:
        assert ("兼职群里刷单做任务，要求垫付", "investment") in repository.training_examples(s)
    # Another station's officer cannot see or decide it.
    assert (
        env.client.get(f"/api/v1/cases/{cid}/intel", headers=bearer(district.tokens["sz-d1"])).status_code
        == 404
    )
    assert move(env, district.tokens["sz-d1"], cid, "scam-type", {"scam_type": "loan"}).status_code == 404


def test_the_risk_factors_add_up_to_the_score_on_the_case(env: Env) -> None:
    district = seed(env)
    cid = post(
        env,
        district,
        "R-1",
        target={**SL, "age": 70},
        scam_type="impersonate_authority",
        risk_level="medium",
        amount_at_risk="200000.00",
        description="老人已转账一次，对方要求打开屏幕共享",
    )
    risk = intel(env, district.tokens["sl-d1"], cid)["risk"]
    assert risk["score"] == sum(f["points"] for f in risk["factors"])
    assert {f["code"] for f in risk["factors"]} == {"amount", "age", "scam_type", "remote_app", "paid_once"}
    assert risk["level"] == "extreme" and risk["current_level"] == "medium" and risk["higher_than_current"]
    assert risk["auto_raise"] is False
    case = env.client.get(f"/api/v1/cases/{cid}", headers=bearer(district.tokens["sl-d1"])).json()
    assert case["risk_level"] == "medium"  # a second opinion only, by default


def test_a_warning_without_a_risk_level_is_levelled_by_its_score(env: Env) -> None:
    district = seed(env)
    body = warning(
        "R-NONE",
        target={**SL, "age": 70},
        scam_type="impersonate_authority",
        amount_at_risk="200000.00",
        description="老人已转账一次，对方要求打开屏幕共享",
    )
    del body["risk_level"]
    first = env.client.post("/api/v1/warnings", json=body, headers=bearer(district.feed_token))
    assert first.status_code == 201, first.text
    cid = first.json()["case_id"]
    # amount ≥ 100,000: 22; age 70: 12; impersonating authority: 15; screen sharing: 15; paid: 15
    # = 79 ≥ 60: extreme.
    case = env.client.get(f"/api/v1/cases/{cid}", headers=bearer(district.tokens["sl-d1"])).json()
    assert case["risk_level"] == "extreme"
    [scored] = events(env, cid, "risk_scored")
    assert scored["level"] == "extreme" and scored["score"] == 79 and len(scored["factors"]) == 5
    replay = env.client.post("/api/v1/warnings", json=body, headers=bearer(district.feed_token))
    assert replay.status_code == 200 and replay.json()["warning_id"] == first.json()["warning_id"]
    assert len(events(env, cid, "risk_scored")) == 1

    plain = warning("R-LOW", target={"phone": "13862510000", "id_number": id_number("19800101", "555")})
    del plain["risk_level"]
    plain.update(amount_at_risk=None, description="", scam_type="fake_shopping")
    low = env.client.post("/api/v1/warnings", json=plain, headers=bearer(district.feed_token))
    assert low.status_code == 201, low.text
    case = env.client.get(f"/api/v1/cases/{low.json()['case_id']}", headers=bearer(district.tokens["centre"]))
    assert case.json()["risk_level"] == "low"  # type 3 points only


def test_policy_may_let_the_score_raise_the_level(env: Env) -> None:
    env.rt.policy = env.rt.policy.model_copy(update={"intel": Intel(auto_raise_risk=True)})
    district = seed(env)
    cid = post(
        env,
        district,
        "R-2",
        target={**SL, "age": 70},
        scam_type="impersonate_authority",
        risk_level="low",
        amount_at_risk="200000.00",
        description="老人已转账一次",
    )
    case = env.client.get(f"/api/v1/cases/{cid}", headers=bearer(district.tokens["sl-d1"])).json()
    assert case["risk_level"] == "extreme"  # amount 22 + age 12 + type 15 + paid once 15 = 64
    raised = events(env, cid, "risk_raised_by_score")[0]
    assert raised["previous"] == "low" and raised["level"] == case["risk_level"]


def test_contacts_link_cases_across_stations_without_the_other_stations_pii(env: Env) -> None:
    district = seed(env)
    sl_case = post(
        env,
        district,
        "L-1",
        target=SL,
        scam_contacts=[
            {"kind": "phone", "value": "+86 171 0000 1234"},
            {"kind": "url", "value": "https://www.fake-invest.example/a"},
            {"kind": "app", "value": "趣兼職APP"},  # the same app: ranked, but it links no cases
        ],
    )
    sz_case = post(
        env,
        district,
        "L-2",
        target={**SZ, "name": "李四"},
        scam_contacts=[
            {"kind": "phone", "value": "１７１-００００-１２３４"},
            {"kind": "app", "value": "趣兼职"},
        ],
    )
    assert intel(env, district.tokens["sz-d1"], sz_case)["linked"] == []  # not before the worker runs
    assert link(env) == 2
    sz_view = intel(env, district.tokens["sz-d1"], sz_case)
    assert [(k["case_id"], k["station_code"], k["state"], k["readable"]) for k in sz_view["linked"]] == [
        (sl_case, "SL", "dispatched", False)
    ]
    assert sz_view["linked"][0]["shared"] == [{"kind": "phone", "value": "171****1234"}]
    body = str(sz_view)
    assert "张三丰" not in body and SL["phone"] not in body and SL["phone"][-4:] not in body
    assert (
        env.client.get(f"/api/v1/cases/{sl_case}", headers=bearer(district.tokens["sz-d1"])).status_code
        == 404
    )
    sl_view = intel(env, district.tokens["sl-d1"], sl_case)
    assert [k["case_id"] for k in sl_view["linked"]] == [sz_case] and "李四" not in str(sl_view)
    # Both timelines say so; the officers of both open cases are told.
    assert events(env, sl_case, "intel_linked")[0]["other_case_id"] == sz_case
    assert events(env, sz_case, "intel_linked")[0]["other_case_id"] == sl_case
    with env.reader() as s:
        told = s.scalars(
            select(User.username)
            .join(Notification, Notification.user_id == User.id)
            .where(Notification.kind == "intel.linked")
        ).all()
    assert "sz-leader" in told and "sl-chief" in told
    # The centre sees both.
    assert intel(env, district.tokens["centre"], sz_case)["linked"][0]["readable"] is True


def test_a_fraudster_seen_on_many_victims_links_only_the_newest_cases(env: Env) -> None:
    district = seed(env)
    shared = [{"kind": "phone", "value": "17100009999"}]
    earlier = [
        post(
            env,
            district,
            f"F-{n}",
            target={"phone": f"138625{n:05d}", "id_number": id_number("19800101", f"{n:03d}")},
            scam_contacts=shared,
        )
        for n in range(LINK_FANOUT + 2)
    ]
    assert link(env) == LINK_FANOUT + 2  # one batch, in warning order: each links the ones before
    with env.reader() as s:
        before = s.scalar(select(func.count(Notification.id)).where(Notification.case_id == earlier[-1]))
    newest = post(env, district, "F-NEW", target=SZ, scam_contacts=shared)
    link(env)
    linked = [e["other_case_id"] for e in events(env, newest, "intel_linked")]
    assert sorted(linked) == sorted(earlier[-LINK_FANOUT:])  # the newest LINK_FANOUT, not the oldest
    assert not events(env, earlier[0], "intel_linked") or all(
        e["other_case_id"] != newest for e in events(env, earlier[0], "intel_linked")
    )
    with env.reader() as s:
        per_user = s.execute(
            select(Notification.user_id, func.count(Notification.id))
            .where(Notification.case_id == newest, Notification.kind == "intel.linked")
            .group_by(Notification.user_id)
        ).all()
        after = s.scalar(select(func.count(Notification.id)).where(Notification.case_id == earlier[-1]))
        earlier_team = set(s.scalars(select(Notification.user_id).where(Notification.case_id == earlier[-1])))
    # The new case's team gets one alert naming the linked cases, not one per linked case. Every
    # case here is in one station, so the earlier cases' team is the new case's: they hear once,
    # of the new case, and not again of each of their cases it linked.
    assert per_user and all(n == 1 for _user, n in per_user)
    assert earlier_team <= {user for user, _n in per_user}
    assert after is not None and after == before


def test_a_closed_cases_reverse_check_list_links_a_new_warning(env: Env) -> None:
    district = seed(env)
    me = district.tokens["sl-d1"]
    first = post(env, district, "C-1", target=SL, scam_contacts=[])
    for step in (
        {"kind": "sign"},
        {"kind": "phone", "outcome": "answered"},
        {"kind": "face_to_face", "outcome": "dissuaded"},
    ):
        assert move(env, me, first, "steps", step).status_code == 200
    reverse = [
        {"kind": "bank_account", "value": "6222 0212 3456 7890 123"},
        {"kind": "qq", "value": "88886666"},
    ]
    r = move(
        env,
        me,
        first,
        "close",
        {"outcome": "dissuaded", "amount_protected": "1000.00", "reverse_check": reverse},
    )
    assert r.status_code == 200, r.text
    assert {i["source"] for i in intel(env, me, first)["identifiers"]} == {"reverse_check"}
    second = post(
        env,
        district,
        "C-2",
        target=SZ,
        scam_contacts=[{"kind": "bank_account", "value": "6222021234567890123"}],
    )
    link(env)
    linked = intel(env, district.tokens["sz-d1"], second)["linked"]
    assert [(k["case_id"], k["state"]) for k in linked] == [(first, "closed")]
    assert linked[0]["shared"] == [{"kind": "bank_account", "value": "6222***********0123"}]


def test_the_ranking_and_its_export_are_scoped_and_audited(env: Env) -> None:
    district = seed(env)
    shared = [{"kind": "phone", "value": "+8617100001234"}]
    post(env, district, "K-1", target=SL, amount_at_risk="10000.00", scam_contacts=shared)
    post(
        env,
        district,
        "K-2",
        target=SZ,
        amount_at_risk="30000.00",
        scam_contacts=[*shared, {"kind": "qq", "value": "123456"}],
    )
    link(env)
    centre = env.client.get("/api/v1/intel/contacts", headers=bearer(district.tokens["centre"])).json()
    assert [(r["kind"], r["victims"], r["money"]) for r in centre] == [
        ("phone", 2, "40000.00"),
        ("qq", 1, "30000.00"),
    ]
    assert centre[0]["value"] == "171****1234"
    sl = env.client.get("/api/v1/intel/contacts", headers=bearer(district.tokens["sl-d1"])).json()
    assert [(r["kind"], r["victims"]) for r in sl] == [("phone", 2)]  # the QQ id is only in SZ's case
    full = env.client.get("/api/v1/intel/contacts.csv", headers=bearer(district.tokens["centre"]))
    assert full.status_code == 200 and "attachment" in full.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(full.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["类型", "号码/账号/名称", "受害人数"] and rows[1][1] == "+8617100001234"
    masked = env.client.get("/api/v1/intel/contacts.csv", headers=bearer(district.tokens["sl-d1"]))
    assert "+8617100001234" not in masked.content.decode(
        "utf-8-sig"
    ) and "171****1234" in masked.content.decode("utf-8-sig")
    xlsx = env.client.get("/api/v1/intel/contacts.xlsx", headers=bearer(district.tokens["centre"]))
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert (
        env.client.get("/api/v1/intel/contacts.pdf", headers=bearer(district.tokens["centre"])).status_code
        == 422
    )
    with env.reader() as s:
        audited = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "export", AuditEntry.subject_id == "intel.contacts")
        ).all()
    assert [a.detail["values"] for a in audited] == ["full", "masked", "full"]
    assert env.client.get("/api/v1/intel/contacts", headers=bearer(district.feed_token)).status_code == 403


def test_suggest_for_free_text(env: Env) -> None:
    district = seed(env)
    r = env.client.post(
        "/api/v1/intel/suggest",
        json={"text": "網貸要先交解凍金才能放款"},
        headers=bearer(district.tokens["sl-d1"]),
    )
    assert r.status_code == 200 and r.json()["scam_type"] == "loan" and r.json()["drivers"]
    empty = env.client.post(
        "/api/v1/intel/suggest", json={"text": ""}, headers=bearer(district.tokens["sl-d1"])
    )
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "text"


def test_model_train_from_a_labelled_file_feeds_the_server(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "labelled.csv"
    with data.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "scam_type"])
        writer.writerows(labelled_set(200, seed=5))
    monkeypatch.setenv("QUANZU_DATABASE_URL", env.settings.database_url)
    monkeypatch.setenv("QUANZU_DATA_DIR", str(env.settings.data_dir))
    monkeypatch.setenv(
        "QUANZU_PII_KEY", env.settings.pii_key.get_secret_value() if env.settings.pii_key else ""
    )
    runner = CliRunner()
    out = runner.invoke(cli_app, ["model", "train", "--from", str(data)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "confusion matrix" in out.output and "saved model v1 (200 examples)" in out.output
    evaluated = runner.invoke(cli_app, ["model", "evaluate", "--from", str(data)], catch_exceptions=False)
    assert evaluated.exit_code == 0 and "f1-score" in evaluated.output
    too_few = runner.invoke(cli_app, ["model", "train"])  # no confirmed cases yet
    assert too_few.exit_code == 2 and "examples" in too_few.output
    district = seed(env)
    cid = post(
        env, district, "M-1", target=SL, scam_type="other", description="在网贷APP申请贷款，要先交解冻金"
    )
    sg = intel(env, district.tokens["sl-d1"], cid)["suggestion"]
    assert sg["model"] == "learned-v1+phrases" and sg["scam_type"] == "loan" and sg["drivers"]
