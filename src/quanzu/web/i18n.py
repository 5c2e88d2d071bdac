"""Simplified Chinese first: templates and code carry the Simplified text as the message id;
`locale/en` holds the English catalogue and `locale/zh_Hant` the Traditional one (generated with
OpenCC by `scripts/i18n.py`, then reviewed). Catalogues are read once, at start-up."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources

from babel.messages.pofile import read_po

LOCALES = ("zh-Hans", "zh-Hant", "en")
LOCALE_NAMES = {"zh-Hans": "简体中文", "zh-Hant": "繁體中文", "en": "English"}
_CATALOGUE_DIRS = {"zh-Hant": "zh_Hant", "en": "en"}
Gettext = Callable[[str], str]


def N_(message: str) -> str:
    return message


@cache
def _catalogue(locale: str) -> dict[str, str]:
    folder = _CATALOGUE_DIRS.get(locale)
    if folder is None:
        return {}
    po = resources.files("quanzu.locale") / folder / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as fh:
        catalog = read_po(fh)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}


def gettext_for(locale: str) -> Gettext:
    table = _catalogue(locale if locale in LOCALES else "zh-Hans")

    def gettext(message: str) -> str:
        return table.get(message, message)

    return gettext


def negotiate(preferred: str | None, accept_language: str | None) -> str:
    """The user's saved choice, else the browser's first supported language, else Simplified."""
    if preferred in LOCALES:
        return str(preferred)
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith(("zh-hant", "zh-tw", "zh-hk", "zh-mo")):
            return "zh-Hant"
        if tag.startswith("zh"):
            return "zh-Hans"
        if tag.startswith("en"):
            return "en"
    return "zh-Hans"
