"""The explainable phrase model: a type's score is the sum of the weights of its phrases found in
the normalised description (each phrase once); the suggestion is the best-scoring type, with the
phrases that drove it. Written by hand from public advisories (`phrases.yaml`), so it works on
day one, before the centre has any confirmed cases to learn from."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

# A type needs at least this much evidence (e.g. one decisive phrase, or two typical ones less
# one) before it is suggested at all.
MIN_SCORE = 3.0
# Mass kept for "none of the known types": one weak phrase never reads as 90 % certain.
UNKNOWN_MASS = 3.0


@dataclass(frozen=True, slots=True)
class Driver:
    """A word (or n-gram) that pushed a suggestion, with how much."""

    term: str
    weight: float


@dataclass(frozen=True, slots=True)
class PhraseResult:
    scam_type: str | None  # None: not enough evidence for any type
    confidence: float
    drivers: tuple[Driver, ...]
    scores: dict[str, float]
    hits: dict[str, tuple[Driver, ...]]

    def distribution(self) -> dict[str, float]:
        """Scores as a probability-like distribution (the unknown mass kept aside)."""
        total = sum(self.scores.values()) + UNKNOWN_MASS
        return {t: s / total for t, s in self.scores.items()}


@cache
def phrase_table() -> dict[str, dict[str, float]]:
    text = (resources.files("quanzu.intel") / "phrases.yaml").read_text(encoding="utf-8")
    loaded: dict[str, dict[str, float]] = yaml.safe_load(text)
    return {t: {p.lower(): float(w) for p, w in table.items()} for t, table in loaded.items()}


def score(normalised: str) -> PhraseResult:
    """`normalised` is `text.normalise(description)`."""
    scores: dict[str, float] = {}
    hits: dict[str, tuple[Driver, ...]] = {}
    for scam_type, table in phrase_table().items():
        found = [Driver(p, w) for p, w in table.items() if p in normalised]
        if found:
            hits[scam_type] = tuple(sorted(found, key=lambda d: -d.weight))
            scores[scam_type] = sum(d.weight for d in found)
    if not scores:
        return PhraseResult(None, 0.0, (), {}, {})
    best = max(scores, key=lambda t: (scores[t], -list(phrase_table()).index(t)))
    confidence = scores[best] / (sum(scores.values()) + UNKNOWN_MASS)
    drivers = hits[best]
    if scores[best] < MIN_SCORE:
        return PhraseResult(None, round(confidence, 3), drivers, scores, hits)
    return PhraseResult(best, round(confidence, 3), drivers, scores, hits)
