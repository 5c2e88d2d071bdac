"""The models without a database: the phrase model on hand-written descriptions of every type in
Simplified and Traditional, the learned model trained, evaluated, saved and reloaded, the risk
factors adding up, and contact normalisation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from quanzu.codes import ScamType
from quanzu.intel import learned, phrases
from quanzu.intel.contacts import domain_of, mask_contact, normalise_contact
from quanzu.intel.risk import RiskInputs, assess, level_for
from quanzu.intel.suggest import suggest
from quanzu.intel.synthetic import labelled_set
from quanzu.intel.text import normalise

# One description per type as an operator would type it, and the same in Traditional script.
EXAMPLES = {
    "order_brushing": (
        "受害人在兼职群里做任务刷单，前几单有返利，现在要求垫付才能继续",
        "受害人在兼職群裡做任務刷單，前幾單有返利，現在要求墊付才能繼續",
    ),
    "investment": (
        "被拉进炒股群，所谓老师带着买股票，说稳赚不赔，已在投资平台充值",
        "被拉進炒股群，所謂老師帶著買股票，說穩賺不賠，已在投資平台充值",
    ),
    "loan": (
        "在网上申请贷款，对方说流水不足，要先交解冻金才能放款",
        "在網上申請貸款，對方說流水不足，要先交解凍金才能放款",
    ),
    "fake_customer_service": (
        "自称快递客服，说包裹丢失要理赔，让下载会议软件共享屏幕",
        "自稱快遞客服，說包裹丟失要理賠，讓下載會議軟件共享屏幕",
    ),
    "impersonate_authority": (
        "对方自称公安，说她涉嫌洗钱被通缉，要把钱转到安全账户做资金清查",
        "對方自稱公安，說她涉嫌洗錢被通緝，要把錢轉到安全賬戶做資金清查",
    ),
    "fake_credit": (
        "对方说他大学时的校园贷没注销，会影响征信，要求转账消除记录",
        "對方說他大學時的校園貸沒註銷，會影響徵信，要求轉賬消除記錄",
    ),
    "fake_shopping": (
        "在二手平台看中低价手机，卖家要求站外私下交易，付了定金不发货",
        "在二手平台看中低價手機，賣家要求站外私下交易，付了定金不發貨",
    ),
    "impersonate_acquaintance": (
        "有人冒充单位领导加QQ好友，让她帮忙转账给合作方",
        "有人冒充單位領導加QQ好友，讓她幫忙轉賬給合作方",
    ),
    "game_trading": (
        "孩子在非官方网站卖游戏账号和装备，买家说账号冻结要交钱",
        "孩子在非官方網站賣遊戲賬號和裝備，買家說賬號凍結要交錢",
    ),
    "romance": (
        "网恋对象一直没见过面，最近推荐她到博彩平台充值",
        "網戀對象一直沒見過面，最近推薦她到博彩平台充值",
    ),
}


def test_every_type_has_examples() -> None:
    assert set(EXAMPLES) == {t.value for t in ScamType} - {"other"}


@pytest.mark.parametrize("scam_type", sorted(EXAMPLES))
@pytest.mark.parametrize("script", [0, 1], ids=["simplified", "traditional"])
def test_phrase_model_finds_each_type_in_both_scripts(scam_type: str, script: int) -> None:
    found = phrases.score(normalise(EXAMPLES[scam_type][script]))
    assert found.scam_type == scam_type, found
    assert 0.3 <= found.confidence < 1
    # Explained: every driving phrase is in the (normalised) text, heaviest first.
    assert found.drivers and all(d.term in normalise(EXAMPLES[scam_type][0]) for d in found.drivers)
    assert [d.weight for d in found.drivers] == sorted((d.weight for d in found.drivers), reverse=True)


def test_no_suggestion_without_evidence() -> None:
    assert phrases.score(normalise("今天天气很好，老人在公园散步")).scam_type is None
    weak = phrases.score(normalise("对方说有一笔手续费"))  # one supporting word only
    assert weak.scam_type is None and weak.drivers


def test_simplified_and_traditional_give_the_same_suggestion() -> None:
    for simplified, traditional in EXAMPLES.values():
        assert suggest(simplified) == suggest(traditional)


@pytest.fixture(scope="module")
def synthetic() -> list[tuple[str, str]]:
    return labelled_set(400, seed=11)


def test_training_and_evaluation_report(synthetic: list[tuple[str, str]]) -> None:
    texts, labels = [t for t, _ in synthetic], [label for _, label in synthetic]
    evaluation = learned.evaluate(texts, labels)
    assert evaluation.test_size == 100 and evaluation.train_size == 300
    assert set(evaluation.labels) == set(EXAMPLES)
    assert evaluation.report["macro avg"]["f1-score"] > 0.8
    assert sum(map(sum, evaluation.confusion)) == evaluation.test_size
    report = evaluation.text()
    assert "precision" in report and "confusion matrix" in report
    for label in EXAMPLES:
        assert label in report


def test_a_saved_model_reloads_and_predicts_the_same(
    synthetic: list[tuple[str, str]], tmp_path: Path
) -> None:
    model = learned.fit([t for t, _ in synthetic], [label for _, label in synthetic])
    at = datetime(2026, 11, 28, tzinfo=UTC)
    path = learned.save(model, tmp_path, trained_at=at, extra={"samples": len(synthetic)})
    assert path.name == "v1.joblib" and learned.manifest(tmp_path, 1)["samples"] == 400
    again = learned.load(tmp_path, 1)
    for text, _ in EXAMPLES.values():
        assert again.suggest(text) == model.suggest(text)
    cache = learned.ModelCache()
    assert cache.current(tmp_path) is not None and cache.current(tmp_path).version == 1  # type: ignore[union-attr]
    learned.save(model, tmp_path, trained_at=at, extra={})
    assert cache.current(tmp_path).version == 1  # type: ignore[union-attr]  # not looked again yet
    cache.forget()
    assert cache.current(tmp_path).version == 2  # type: ignore[union-attr]


def test_a_tampered_model_file_is_not_loaded(synthetic: list[tuple[str, str]], tmp_path: Path) -> None:
    model = learned.fit([t for t, _ in synthetic[:60]], [label for _, label in synthetic[:60]])
    path = learned.save(model, tmp_path, trained_at=datetime(2026, 11, 28, tzinfo=UTC), extra={})
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(ValueError, match="SHA-256"):
        learned.load(tmp_path, 1)
    assert learned.ModelCache().current(tmp_path) is None  # the phrase model stays alone


def test_the_fast_path_computes_what_the_pipeline_predicts(synthetic: list[tuple[str, str]]) -> None:
    model = learned.fit([t for t, _ in synthetic], [label for _, label in synthetic])
    texts = [normalise(t) for pair in EXAMPLES.values() for t in pair] + ["", "完全无关的文字"]
    expected = model.pipeline.predict_proba(texts)
    for text, row in zip(texts, expected, strict=True):
        got = model.suggest_normalised(text).probabilities
        assert [round(got[c], 9) for c in model.classes] == [round(float(p), 9) for p in row]
    pair = learned.fit(
        ["刷单垫付返利"] * 10 + ["安全账户洗钱"] * 10,
        ["order_brushing"] * 10 + ["impersonate_authority"] * 10,
    )
    for text in ("刷单垫付", "安全账户"):
        found = pair.suggest(text)
        assert found.probabilities == pytest.approx(
            dict(zip(pair.classes, pair.pipeline.predict_proba([text])[0], strict=True))
        )
        assert found.drivers and all(d.term in text for d in found.drivers)


def test_learned_suggestions_are_explained(synthetic: list[tuple[str, str]]) -> None:
    model = learned.fit([t for t, _ in synthetic], [label for _, label in synthetic])
    text = EXAMPLES["impersonate_authority"][1]  # Traditional, not in the training set
    found = model.suggest(text)
    assert found.scam_type == "impersonate_authority" and 0 < found.confidence <= 1
    assert found.drivers and all(d.term in normalise(text) and d.weight > 0 for d in found.drivers)
    assert abs(sum(found.probabilities.values()) - 1) < 1e-6


def test_risk_factors_add_up_to_the_score() -> None:
    risk = assess(
        RiskInputs(
            amount_at_risk=Decimal("300000"),
            age=72,
            scam_type="impersonate_authority",
            signal_count=3,
            watched=True,
            bank_events=1,
            text=normalise("老人已转账一笔，对方让他开了屏幕共享"),
        )
    )
    points = {f.code: f.points for f in risk.factors}
    assert points == {
        "amount": 22,
        "age": 12,
        "scam_type": 15,
        "repeat": 16,
        "watch": 5,
        "bank_events": 12,
        "remote_app": 15,
        "paid_once": 15,
    }
    assert risk.score == sum(points.values()) == 112 and risk.level == "extreme"
    quiet = assess(RiskInputs(None, 40, "fake_shopping", 1, False, 0, "网购"))
    assert quiet.score == sum(f.points for f in quiet.factors) == 3 and quiet.level == "low"
    assert [level_for(s) for s in (19, 20, 40, 60)] == ["low", "medium", "high", "extreme"]


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("phone", "+86 138 0013 8000", "+8613800138000"),
        ("phone", "１３８００１３８０００", "+8613800138000"),
        ("phone", "138-0013-8000", "+8613800138000"),
        ("phone", "+852 5123 4567", "+85251234567"),
        ("qq", " 12345 6789 ", "123456789"),
        ("bank_account", "6222 0212 3456 7890 123", "6222021234567890123"),
        ("wechat", "WXID_Abc123", "wxid_abc123"),
        ("app", "趣兼職 APP", "趣兼职"),
        ("app", "ＺＯＯＭ会议", "zoom会议"),
        ("url", "https://WWW.Fake-Invest.example:8443/login?x=1", "fake-invest.example"),
        ("url", "fake-invest.example/app", "fake-invest.example"),
        ("phone", "12", None),
        ("url", "not a url at all", None),
    ],
)
def test_contact_normalisation(kind: str, raw: str, expected: str | None) -> None:
    assert normalise_contact(kind, raw) == expected


def test_masking_and_domains() -> None:
    assert mask_contact("phone", "+8613800138000") == "138****8000"
    assert mask_contact("bank_account", "6222021234567890123") == "6222***********0123"
    assert mask_contact("url", "fake-invest.example") == "fake-invest.example"
    assert domain_of("http://中文.example/x") == "xn--fiq228c.example"
