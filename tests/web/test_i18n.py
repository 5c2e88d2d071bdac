"""The message catalogues: complete, English written, Traditional a pure character conversion, and
the merge rules of scripts/i18n.py (new ids added, English kept, reviewed Traditional kept)."""

from __future__ import annotations

import opencc
import pytest
from babel.messages.catalog import Catalog, Message
from scripts import i18n as catalogues

from quanzu import codes
from quanzu.web.i18n import gettext_for, negotiate


def _entries(locale: str) -> list[Message]:
    path = catalogues.HANT_PO if locale == "zh_Hant" else catalogues.EN_PO
    return [m for m in catalogues._read(path, locale) if m.id]


def test_catalogues_hold_every_id() -> None:
    assert catalogues.problems() == []
    assert catalogues.main(["--check"]) == 0


def test_extraction_sees_templates_labels_and_runtime_strings() -> None:
    found = catalogues.extract()
    assert {"倒查清单", "实时看板", "第{n}级"} <= found.keys()  # template literals
    for labels in catalogues.label_dicts().values():
        assert set(labels.values()) <= found.keys()
    assert set(codes.ROLE_LABELS.values()) <= found.keys()
    assert {"用户名或密码错误", "登录失败次数过多，账号已临时锁定", "已保存"} <= found.keys()


def test_every_english_msgstr_is_written() -> None:
    entries = _entries("en")
    assert entries
    untranslated = [m.id for m in entries if m.string == "" or m.fuzzy]
    assert untranslated == []


def test_traditional_is_only_a_character_conversion() -> None:
    to_simplified = opencc.OpenCC("t2s")
    for m in _entries("zh_Hant"):
        msgid, string = str(m.id), str(m.string)
        assert len(string) == len(msgid), msgid
        assert to_simplified.convert(string) == msgid, msgid
        if "reviewed" not in m.user_comments:
            assert string == catalogues.to_traditional(msgid), msgid


def test_gettext_per_locale() -> None:
    assert gettext_for("en")("签收") == "Sign for it"
    assert gettext_for("en")("第{n}级").format(n=2) == "Tier 2"
    assert gettext_for("zh-Hant")("签收") == "簽收"
    assert gettext_for("zh-Hant")("预警") == "預警"
    assert gettext_for("zh-Hans")("签收") == "签收"
    assert gettext_for("en")("not an id") == "not an id"


@pytest.mark.parametrize(
    ("preferred", "accept_language", "expected"),
    [
        (None, "zh-TW,zh;q=0.9", "zh-Hant"),
        (None, "zh-HK", "zh-Hant"),
        (None, "zh-Hant-TW", "zh-Hant"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans"),
        (None, "en-US,en;q=0.9", "en"),
        (None, "fr-FR,en;q=0.5", "en"),
        (None, None, "zh-Hans"),
        ("en", "zh-TW", "en"),
        ("zh-Hans", "en-US", "zh-Hans"),
        ("zh-Hant", "zh-CN", "zh-Hant"),
        ("klingon", "zh-HK", "zh-Hant"),
    ],
)
def test_negotiate(preferred: str | None, accept_language: str | None, expected: str) -> None:
    assert negotiate(preferred, accept_language) == expected


def _source() -> catalogues.Source:
    return catalogues.Source(locations={("src/quanzu/web/templates/x.html", 1)})


def test_english_merge_adds_ids_keeps_english_and_marks_obsolete() -> None:
    old = Catalog(locale="en")
    old.add("签收", "Sign for it")
    old.add("旧文案", "Old text")
    old.add("空白", "")
    new = catalogues.build_en({"签收": _source(), "预警": _source()}, old)
    assert new["签收"].string == "Sign for it"
    assert new["预警"].string == ""
    assert "旧文案" in new.obsolete and new.obsolete["旧文案"].string == "Old text"
    assert "空白" not in new.obsolete  # nothing worth keeping
    assert b'msgstr "Sign for it"' in catalogues._render(new)


def test_traditional_merge_regenerates_but_keeps_reviewed() -> None:
    old = Catalog(locale="zh_Hant")
    old.add("签收", "亂碼")  # stale hand edit without `# reviewed`: regenerated
    old.add("核实身份", "核實身份", user_comments=["reviewed"])
    new = catalogues.build_hant({"签收": _source(), "核实身份": _source(), "预警": _source()}, old)
    assert new["签收"].string == "簽收"
    assert new["预警"].string == "預警"
    assert new["核实身份"].string == "核實身份"
    assert new["核实身份"].user_comments == ["reviewed"]


def test_render_does_not_wrap_and_sorts() -> None:
    catalog = Catalog(locale="en")
    long_id = "很长的句子" * 30
    catalog.add(long_id, "A long sentence " * 30)
    catalog.add("乙", "B")
    catalog.add("甲", "A")
    text = catalogues._render(catalog).decode()
    assert f'msgid "{long_id}"' in text
    positions = [text.index(f'msgid "{m}"') for m in sorted(["甲", "乙", long_id])]  # by code point
    assert positions == sorted(positions)
