"""The scam-type suggestion: the phrase model alone, or blended with the learned model when one
has been trained (the average of the two distributions, so a learned model that has never seen a
phrase cannot silence the advisories, and the advisories cannot outvote a clear learned signal).
Loaded once per process; a suggestion costs a normalisation, a phrase scan and one sparse
transform — well under a millisecond."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from quanzu.intel import learned, phrases
from quanzu.intel.phrases import Driver
from quanzu.intel.text import normalise

PHRASE_MODEL = "phrases"


@dataclass(frozen=True, slots=True)
class Suggestion:
    scam_type: str | None
    confidence: float
    drivers: tuple[Driver, ...]
    model: str


def suggest(text: str, data_dir: Path | None = None) -> Suggestion:
    normalised = normalise(text)
    by_phrases = phrases.score(normalised)
    model = learned.MODELS.current(data_dir) if data_dir is not None else None
    if model is None:
        return Suggestion(by_phrases.scam_type, by_phrases.confidence, by_phrases.drivers, PHRASE_MODEL)
    by_model = model.suggest_normalised(normalised)
    phrase_dist = by_phrases.distribution()
    blended = {
        t: (by_model.probabilities.get(t, 0.0) + phrase_dist.get(t, 0.0)) / 2
        for t in set(by_model.probabilities) | set(phrase_dist)
    }
    best = max(blended, key=lambda t: blended[t])
    phrase_drivers = by_phrases.hits.get(best, ())
    model_drivers = by_model.drivers if by_model.scam_type == best else ()
    seen = {d.term for d in phrase_drivers}
    drivers = (*phrase_drivers, *(d for d in model_drivers if d.term not in seen))
    return Suggestion(best, round(blended[best], 3), drivers, f"learned-v{model.version}+{PHRASE_MODEL}")
