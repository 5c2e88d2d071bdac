"""`quanzu model train` and `quanzu model evaluate`: the learned scam-type model from the centre's
confirmed cases (or a labelled CSV: `text,scam_type` per row, e.g. historical cases)."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from quanzu.codes import ScamType
from quanzu.intel import learned, repository
from quanzu.kit.errors import FieldError, ValidationFailed
from quanzu.kit.runtime import Runtime

MIN_PER_CLASS = 2  # a type with fewer confirmed cases cannot be held out for evaluation


@dataclass(frozen=True, slots=True)
class Trained:
    path: Path
    version: int
    samples: int
    evaluation: learned.Evaluation | None


def examples(session: Session, source: Path | None) -> list[tuple[str, str]]:
    return read_csv(source) if source is not None else repository.training_examples(session)


def read_csv(path: Path) -> list[tuple[str, str]]:
    """Rows of `text,scam_type` (a header row naming them is skipped); unknown types refused."""
    known = {t.value for t in ScamType} - {"other"}
    out: list[tuple[str, str]] = []
    errors: list[FieldError] = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if not row or (number == 1 and row[:2] == ["text", "scam_type"]):
                continue
            text, label = [*row, "", ""][:2]
            if label.strip() not in known:
                errors.append(FieldError(f"第{number}行.scam_type", f"未知的诈骗类型：{label!r}"))
            elif text.strip():
                out.append((text.strip(), label.strip()))
    if errors:
        raise ValidationFailed(errors)
    return out


def _check(pairs: list[tuple[str, str]]) -> None:
    counts = Counter(label for _, label in pairs)
    if len(pairs) < learned.MIN_EXAMPLES or len(counts) < 2:
        raise ValidationFailed(
            [
                FieldError(
                    "examples",
                    f"至少需要 {learned.MIN_EXAMPLES} 条、两种以上类型的已确认案例（现有 {len(pairs)} 条、"
                    f"{len(counts)} 种）",
                )
            ]
        )


def evaluate(session: Session, source: Path | None = None) -> learned.Evaluation:
    pairs = examples(session, source)
    _check(pairs)
    usable = _evaluable(pairs)
    return learned.evaluate([t for t, _ in usable], [label for _, label in usable])


def _evaluable(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    counts = Counter(label for _, label in pairs)
    return [(t, label) for t, label in pairs if counts[label] >= MIN_PER_CLASS]


def train(session: Session, rt: Runtime, data_dir: Path, source: Path | None = None) -> Trained:
    """Evaluates on a held-out part, then fits on everything and saves the next version."""
    pairs = examples(session, source)
    _check(pairs)
    usable = _evaluable(pairs)
    evaluation = (
        learned.evaluate([t for t, _ in usable], [label for _, label in usable]) if len(usable) >= 8 else None
    )
    model = learned.fit([t for t, _ in pairs], [label for _, label in pairs])
    extra = {
        "samples": len(pairs),
        "source": str(source) if source else "confirmed cases",
        "accuracy": evaluation.accuracy if evaluation else None,
        "macro_f1": evaluation.report["macro avg"]["f1-score"] if evaluation else None,
    }
    path = learned.save(model, data_dir, trained_at=rt.clock.now(), extra=extra)
    return Trained(path, model.version, len(pairs), evaluation)
