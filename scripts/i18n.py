"""Keep the message catalogues in step with the templates and label dicts.

    .venv/bin/python scripts/i18n.py           # refresh both catalogues
    .venv/bin/python scripts/i18n.py --check   # exit 1 if an id is missing or English is empty

Message ids are the Simplified Chinese text (see `quanzu.web.i18n`). They come from
`{{ _("…") }}` in the templates (Jinja2's Babel extractor, mapped in `babel.cfg`), from the
label dicts the templates pass through `_()` (codes.py and web/pages.py), and from the few
strings code hands to `_()` at run time (login errors, flash messages, template fallbacks).

- `zh_Hant` is generated: each msgstr is OpenCC `s2t` of the id (characters only, no regional
  vocabulary). An entry whose translator comment says `reviewed` keeps its msgstr.
- `en` is human-written: new ids are added with an empty msgstr, ids no longer used become
  obsolete (`#~`), and existing English is never overwritten.
"""

from __future__ import annotations

import argparse
import io
import sys
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import opencc
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from quanzu import codes

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "babel.cfg"
LOCALE_DIR = ROOT / "src" / "quanzu" / "locale"
HANT_PO = LOCALE_DIR / "zh_Hant" / "LC_MESSAGES" / "messages.po"
EN_PO = LOCALE_DIR / "en" / "LC_MESSAGES" / "messages.po"
REVIEWED = "reviewed"
HEADER = "# Quanzu user interface: {language}.\n# {how}\n#"

# Strings handed to `_()` at run time that the extractor cannot see (non-literal arguments).
RUNTIME_IDS: dict[str, tuple[str, ...]] = {
    "auth/service.py login errors": ("用户名或密码错误", "登录失败次数过多，账号已临时锁定"),
    "web/pages.py flash messages": ("已保存", "已添加", "已删除", "已发送"),
    "case_panel.html step without outcome": ("进行中",),
    "case_panel.html reverse-check kinds": ("电话", "微信", "QQ", "APP", "网址", "银行账号", "其他"),
}


def label_dicts() -> dict[str, Mapping[str, str]]:
    """The label dicts the templates pass through `_()`; their values are message ids."""
    with warnings.catch_warnings():  # pages pulls in cpca, which warns about pkg_resources
        warnings.simplefilter("ignore")
        from quanzu.web import bank_pages, followup_pages, pages, review_pages

    return {
        "codes.RISK_LABELS": codes.RISK_LABELS,
        "codes.SCAM_TYPE_LABELS": codes.SCAM_TYPE_LABELS,
        "codes.STATE_LABELS": codes.STATE_LABELS,
        "codes.ROLE_LABELS": codes.ROLE_LABELS,
        "codes.HELPER_KIND_LABELS": codes.HELPER_KIND_LABELS,
        "codes.HELP_ANSWER_LABELS": codes.HELP_ANSWER_LABELS,
        "codes.HELP_STATUS_LABELS": codes.HELP_STATUS_LABELS,
        "pages.STEP_LABELS": pages.STEP_LABELS,
        "pages.OUTCOME_LABELS": pages.OUTCOME_LABELS,
        "codes.SLA_LABELS": codes.SLA_LABELS,
        "pages.EVENT_LABELS": pages.EVENT_LABELS,
        **{f"bank_pages.LABELS[{name}]": labels for name, labels in bank_pages.LABELS.items()},
        **{f"review_pages.LABELS[{name}]": labels for name, labels in review_pages.LABELS.items()},
        **{f"followup_pages.LABELS[{name}]": labels for name, labels in followup_pages.LABELS.items()},
    }


@dataclass
class Source:
    """Where one message id is used."""

    locations: set[tuple[str, int]] = field(default_factory=set)
    notes: set[str] = field(default_factory=set)


def _keep_dir(path: str) -> bool:
    """Only walk towards and inside the mapped folders (the repo also holds .venv, node_modules)."""
    rel = Path(path).resolve().relative_to(ROOT).as_posix() + "/"
    for pattern, _method in _mapping()[0]:
        base = pattern.split("*", 1)[0].rsplit("/", 1)[0] + "/"  # the pattern's literal folder
        if base.startswith(rel) or rel.startswith(base):
            return True
    return False


def _mapping() -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    with MAPPING.open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, filename=str(MAPPING))  # type: ignore[no-untyped-call]
    return list(method_map), dict(options_map)


def extract() -> dict[str, Source]:
    """Every message id the interface can pass to `_()`, with where it comes from."""
    found: dict[str, Source] = {}

    def add(msgid: str, location: tuple[str, int] | None = None, note: str = "") -> None:
        src = found.setdefault(msgid, Source())
        if location:
            src.locations.add(location)
        if note:
            src.notes.add(note)

    method_map, options_map = _mapping()
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords={"_": None, "gettext": None}, directory_filter=_keep_dir
    ):
        if isinstance(message, str) and message:
            add(message, (filename, lineno))
    for name, labels in label_dicts().items():
        for key, label in labels.items():
            add(label, note=f"{name}[{key}]")
    for where, ids in RUNTIME_IDS.items():
        for msgid in ids:
            add(msgid, note=where)
    return found


@cache
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("s2t")


def to_traditional(msgid: str) -> str:
    """The generated Traditional text of an id: its characters converted, nothing else."""
    return str(_converter().convert(msgid))


def _is_reviewed(message: Message) -> bool:
    return any(c.strip().lower() == REVIEWED for c in message.user_comments)


def _read(path: Path, locale: str) -> Catalog:
    if not path.exists():
        return Catalog(locale=locale)
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def _render(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_po(buf, catalog, width=0, sort_output=True, include_lineno=False)
    return buf.getvalue()


def _fresh(old: Catalog, locale: str, language: str, how: str) -> Catalog:
    """An empty catalogue keeping the old header dates, so a no-op run changes no bytes."""
    new = Catalog(
        locale=locale,
        header_comment=HEADER.format(language=language, how=how),
        project="Quanzu",
        version="0.1.0",
        creation_date=old.creation_date,
        revision_date=old.revision_date,
        language_team=f"Quanzu {language}",
        fuzzy=False,
    )
    return new


def _message(msgid: str, src: Source, string: str, old: Message | None) -> Message:
    return Message(
        msgid,
        string,
        locations=sorted(src.locations),
        auto_comments=sorted(src.notes),
        user_comments=list(old.user_comments) if old else [],
        flags=sorted(old.flags) if old else [],
    )


def build_hant(found: Mapping[str, Source], old: Catalog) -> Catalog:
    new = _fresh(
        old,
        "zh_Hant",
        "Traditional Chinese",
        "Generated by scripts/i18n.py (OpenCC s2t); add a '# reviewed' comment to keep a hand-edited msgstr.",
    )
    for msgid, src in found.items():
        prev = old.get(msgid) or old.obsolete.get(msgid)
        keep = prev is not None and _is_reviewed(prev) and bool(prev.string)
        string = str(prev.string) if keep and prev is not None else to_traditional(msgid)
        new[msgid] = _message(msgid, src, string, prev if keep else None)
    for msg in [*old, *old.obsolete.values()]:  # a reviewed entry no longer used stays, obsolete
        if msg.id and msg.id not in found and _is_reviewed(msg):
            new.obsolete[msg.id] = msg
    return new


def build_en(found: Mapping[str, Source], old: Catalog) -> Catalog:
    new = _fresh(old, "en", "English", "Written by hand; scripts/i18n.py adds new ids with an empty msgstr.")
    for msgid, src in found.items():
        prev = old.get(msgid) or old.obsolete.get(msgid)
        new[msgid] = _message(msgid, src, str(prev.string) if prev else "", prev)
    for msg in [*old, *old.obsolete.values()]:
        if msg.id and msg.id not in found and (msg.string or msg.user_comments):
            new.obsolete[msg.id] = msg
    return new


def problems(found: Iterable[str] | None = None) -> list[str]:
    """What `--check` reports: ids missing from a catalogue, empty English, untranslated Traditional."""
    ids = sorted(found if found is not None else extract())
    hant, en = _read(HANT_PO, "zh_Hant"), _read(EN_PO, "en")
    out: list[str] = []
    for msgid in ids:
        for name, catalog in (("zh_Hant", hant), ("en", en)):
            msg = catalog.get(msgid)
            if msg is None:
                out.append(f"{name}: missing {msgid!r}")
            elif not msg.string or msg.fuzzy:
                out.append(f"{name}: untranslated {msgid!r}")
    return out


def rendered() -> dict[Path, bytes]:
    """Both catalogues as `update` would write them (for tests, and to skip unchanged files)."""
    found = extract()
    hant = build_hant(found, _read(HANT_PO, "zh_Hant"))
    en = build_en(found, _read(EN_PO, "en"))
    return {HANT_PO: _render(hant), EN_PO: _render(en)}


def update() -> dict[str, int]:
    for path, data in rendered().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
    hant, en = _read(HANT_PO, "zh_Hant"), _read(EN_PO, "en")
    return {
        "ids": sum(1 for m in en if m.id),
        "en translated": sum(1 for m in en if m.id and m.string and not m.fuzzy),
        "en obsolete": len(en.obsolete),
        "zh_Hant reviewed": sum(1 for m in hant if m.id and _is_reviewed(m)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="report missing ids and empty English; exit 1")
    args = parser.parse_args(argv)
    if args.check:
        found = problems()
        for line in found:
            print(line)
        print(f"{len(found)} problem(s)" if found else "catalogues complete")
        return 1 if found else 0
    stats = update()
    print(", ".join(f"{k}: {v}" for k, v in stats.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
