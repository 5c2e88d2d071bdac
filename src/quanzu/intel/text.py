"""Text normalisation shared by the models: full-width → half-width (NFKC), Traditional →
Simplified (OpenCC), lower case; word segmentation with rjieba (a Rust port of jieba whose
dictionary loads in milliseconds, where jieba's takes about a second per process)."""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import opencc
import rjieba

_SPACE = re.compile(r"\s+")
_PUNCT_ONLY = re.compile(r"^[\W_]+$")


@cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def normalise(text: str) -> str:
    """One form for every input: 刷單 and 刷单, ＡＰＰ and app, extra spaces folded."""
    return _SPACE.sub(" ", _t2s().convert(unicodedata.normalize("NFKC", text)).lower()).strip()


def words(text: str) -> list[str]:
    """The words of an already normalised text (punctuation and spaces dropped)."""
    return [w for w in rjieba.cut(text) if w.strip() and not _PUNCT_ONLY.match(w)]
