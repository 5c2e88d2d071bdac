"""The learned scam-type model: character n-gram TF-IDF (1–3 characters) plus rjieba words, and a
multinomial logistic regression, trained on the centre's own confirmed cases.

On disk (`QUANZU_DATA_DIR/models/scam_type/`): `v{N}.joblib` and `v{N}.json`, the manifest with
the file's SHA-256, the sample count, the classes and the evaluation report. Trust boundary: a
joblib file is a pickle and runs code when loaded, so only files this process (or `quanzu model
train` as the same service account) wrote are loaded: the digest in the manifest must match, and
the data directory must be writable by the service account alone. The digest catches a truncated
or swapped file; it is not a defence against someone who can write the data directory (they can
write the manifest too) — nobody but the service should be able to."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from threading import Lock
from typing import Any

from quanzu.intel.phrases import Driver
from quanzu.intel.text import normalise, words

log = logging.getLogger(__name__)
_VERSION_FILE = re.compile(r"^v(\d+)\.json$")
MIN_EXAMPLES = 20  # below this a model learns nothing useful; the phrase model stays alone


@dataclass(frozen=True, slots=True)
class LearnedResult:
    scam_type: str
    confidence: float
    drivers: tuple[Driver, ...]
    probabilities: dict[str, float]


@dataclass
class LearnedModel:
    """The fitted pipeline plus what explaining a prediction needs."""

    version: int
    pipeline: Any  # sklearn Pipeline: FeatureUnion(chars, words) → LogisticRegression
    feature_names: Any = field(repr=False)  # numpy array of str
    classes: tuple[str, ...] = ()

    def suggest(self, text: str, *, top: int = 5) -> LearnedResult:
        return self.suggest_normalised(normalise(text), top=top)

    def suggest_normalised(self, normalised: str, *, top: int = 5) -> LearnedResult:
        """The pipeline's prediction, computed directly from its fitted vocabularies, idf weights
        and coefficients (the same numbers as `predict_proba`, see the tests): sklearn's per-call
        validation costs milliseconds for one short text, this costs tens of microseconds."""
        fast = self._compiled()
        columns, values = fast.features(normalised)
        scores = fast.intercept + (values @ fast.coef_t[columns] if len(columns) else 0.0)
        probabilities = fast.probabilities(scores)
        best = int(probabilities.argmax())
        # The linear model's score for a class is Σ tfidf_j × coef_j: each feature's share of it.
        shares = values * fast.coef_t[columns, 0 if fast.binary else best] if len(columns) else values
        if fast.binary and best == 0:
            shares = -shares  # a binary model's coefficients point towards its second class
        order = shares.argsort()[::-1][:top]
        drivers = tuple(
            Driver(_term(str(self.feature_names[columns[i]])), round(float(shares[i]), 3))
            for i in order
            if shares[i] > 0
        )
        return LearnedResult(
            scam_type=self.classes[best],
            confidence=round(float(probabilities[best]), 3),
            drivers=drivers,
            probabilities={c: float(p) for c, p in zip(self.classes, probabilities, strict=True)},
        )

    def _compiled(self) -> _Compiled:
        compiled: _Compiled | None = getattr(self, "_fast", None)
        if compiled is None:
            compiled = _Compiled(self.pipeline)
            object.__setattr__(self, "_fast", compiled)
        return compiled

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_fast", None)  # rebuilt from the pipeline after loading
        return state


class _Compiled:
    """The fitted pipeline as plain lookups: per feature block (chars, words) its analyzer and
    term → (column, idf); the coefficients transposed (feature → class scores)."""

    def __init__(self, pipeline: Any) -> None:
        import numpy as np

        self._np = np
        union, classifier = pipeline.named_steps["features"], pipeline.named_steps["classifier"]
        self.blocks: list[tuple[Any, dict[str, tuple[int, float]]]] = []
        offset = 0
        for _name, vectorizer in union.transformer_list:
            idf = vectorizer.idf_
            table = {term: (offset + col, float(idf[col])) for term, col in vectorizer.vocabulary_.items()}
            self.blocks.append((vectorizer.build_analyzer(), table))
            offset += len(vectorizer.vocabulary_)
        self.coef_t = np.ascontiguousarray(classifier.coef_.T)
        self.intercept = classifier.intercept_
        self.binary = classifier.coef_.shape[0] == 1

    def features(self, text: str) -> tuple[Any, Any]:
        """Columns and values of the TF-IDF vector (sublinear tf, l2 per block, as fitted)."""
        np = self._np
        columns: list[int] = []
        values: list[float] = []
        for analyzer, table in self.blocks:
            counts = Counter(analyzer(text))
            block = [
                (table[t][0], (1.0 + math.log(n)) * table[t][1]) for t, n in counts.items() if t in table
            ]
            norm = math.sqrt(sum(v * v for _, v in block)) or 1.0
            columns += [c for c, _ in block]
            values += [v / norm for _, v in block]
        return np.array(columns, dtype=np.intp), np.array(values)

    def probabilities(self, scores: Any) -> Any:
        np = self._np
        if self.binary:
            p = 1.0 / (1.0 + np.exp(-scores[0]))
            return np.array([1.0 - p, p])
        shifted = np.exp(scores - scores.max())
        return shifted / shifted.sum()


def _term(feature: str) -> str:
    return feature.split("__", 1)[-1].strip()


def build_pipeline() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    chars = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1, lowercase=False)
    word_features = TfidfVectorizer(
        tokenizer=words, token_pattern=None, lowercase=False, sublinear_tf=True, min_df=1
    )
    return Pipeline(
        [
            ("features", FeatureUnion([("chars", chars), ("words", word_features)])),
            ("classifier", LogisticRegression(C=10.0, max_iter=2000)),
        ]
    )


def fit(texts: Sequence[str], labels: Sequence[str], version: int = 0) -> LearnedModel:
    pipeline = build_pipeline()
    pipeline.fit([normalise(t) for t in texts], list(labels))
    names = pipeline.named_steps["features"].get_feature_names_out()
    return LearnedModel(version, pipeline, names, tuple(str(c) for c in pipeline.classes_))


@dataclass(frozen=True, slots=True)
class Evaluation:
    labels: tuple[str, ...]
    report: dict[str, dict[str, float]]  # per class: precision, recall, f1, support
    accuracy: float
    confusion: list[list[int]]
    train_size: int
    test_size: int

    def text(self) -> str:
        """The per-class table and the confusion matrix, as `quanzu model evaluate` prints them."""
        width = max(len(x) for x in (*self.labels, "macro avg"))
        lines = [f"{'':{width}}  precision  recall  f1-score  support"]
        for label in (*self.labels, "macro avg"):
            r = self.report[label]
            lines.append(
                f"{label:{width}}  {r['precision']:9.3f}  {r['recall']:6.3f}  {r['f1-score']:8.3f}"
                f"  {int(r['support']):7d}"
            )
        lines += [
            f"accuracy {self.accuracy:.3f} (train {self.train_size}, test {self.test_size})",
            "",
            "confusion matrix (rows: true, columns: predicted)",
        ]
        short = [label[:6] for label in self.labels]
        lines.append(f"{'':{width}}  " + " ".join(f"{s:>6}" for s in short))
        for label, row in zip(self.labels, self.confusion, strict=True):
            lines.append(f"{label:{width}}  " + " ".join(f"{n:6d}" for n in row))
        return "\n".join(lines)


def evaluate(
    texts: Sequence[str], labels: Sequence[str], *, seed: int = 7, test_share: float = 0.25
) -> Evaluation:
    """Held-out evaluation: a stratified split, fit on one part, measure on the other."""
    from sklearn.metrics import classification_report, confusion_matrix
    from sklearn.model_selection import train_test_split

    counts = Counter(labels)
    stratify = list(labels) if min(counts.values()) >= 2 else None
    x_train, x_test, y_train, y_test = train_test_split(
        list(texts), list(labels), test_size=test_share, random_state=seed, stratify=stratify
    )
    model = fit(x_train, y_train)
    predicted = [model.suggest(t).scam_type for t in x_test]
    names = tuple(sorted(set(labels)))
    report = classification_report(y_test, predicted, labels=list(names), output_dict=True, zero_division=0)
    matrix = confusion_matrix(y_test, predicted, labels=list(names))
    return Evaluation(
        labels=names,
        report={k: v for k, v in report.items() if isinstance(v, dict)},
        accuracy=float(sum(p == t for p, t in zip(predicted, y_test, strict=True)) / max(len(y_test), 1)),
        confusion=[[int(n) for n in row] for row in matrix],
        train_size=len(x_train),
        test_size=len(x_test),
    )


# --- on disk ---------------------------------------------------------------------------------------


def model_dir(data_dir: Path | str) -> Path:
    return Path(data_dir) / "models" / "scam_type"


def _versions(directory: Path) -> list[int]:
    if not directory.is_dir():
        return []
    return sorted(int(m.group(1)) for name in os.listdir(directory) if (m := _VERSION_FILE.match(name)))


def save(model: LearnedModel, data_dir: Path | str, *, trained_at: datetime, extra: dict[str, Any]) -> Path:
    """Writes the next version: the model file first, the manifest last (a reader only trusts a
    version whose manifest exists and whose digest matches)."""
    import joblib

    directory = model_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    version = (_versions(directory) or [0])[-1] + 1
    model.version = version
    path = directory / f"v{version}.joblib"
    joblib.dump(model, path)
    manifest = {
        "version": version,
        "sha256": _digest(path),
        "trained_at": trained_at.isoformat(),
        "classes": list(model.classes),
        **extra,
    }
    tmp = directory / f".v{version}.json.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(directory / f"v{version}.json")
    MODELS.forget()
    return path


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load(data_dir: Path | str, version: int) -> LearnedModel:
    """Loads one version after checking its digest; ValueError if it does not match."""
    import joblib

    directory = model_dir(data_dir)
    manifest = json.loads((directory / f"v{version}.json").read_text(encoding="utf-8"))
    path = directory / f"v{version}.joblib"
    if _digest(path) != manifest["sha256"]:
        raise ValueError(f"{path}: SHA-256 does not match its manifest; not loaded")
    model = joblib.load(path)  # our own file, digest checked: see the module docstring
    if not isinstance(model, LearnedModel):
        raise ValueError(f"{path}: not a scam-type model")
    return model


def manifest(data_dir: Path | str, version: int) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (model_dir(data_dir) / f"v{version}.json").read_text(encoding="utf-8")
    )
    return loaded


class ModelCache:
    """The newest good model of a data directory, loaded once per process and again only when a
    newer version appears; the directory is listed at most every `recheck_s` seconds (a new
    model is picked up within that time, without a file-system call per suggestion)."""

    def __init__(self, recheck_s: float = 5.0) -> None:
        self._lock = Lock()
        self._recheck_s = recheck_s
        self._loaded: dict[str, LearnedModel | None] = {}
        self._seen: dict[str, int] = {}
        self._checked: dict[str, float] = {}

    def current(self, data_dir: Path | str) -> LearnedModel | None:
        key = str(data_dir)
        now = time.monotonic()  # polling a directory, not domain time: the injected clock is not for this
        if key in self._checked and now - self._checked[key] < self._recheck_s:
            return self._loaded.get(key)
        versions = _versions(model_dir(data_dir))
        newest = versions[-1] if versions else 0
        with self._lock:
            if self._seen.get(key) != newest:
                self._loaded[key] = self._load_newest_good(data_dir, versions)
                self._seen[key] = newest
            self._checked[key] = now
        return self._loaded.get(key)

    def forget(self) -> None:
        """Tests and `quanzu model train` in-process: look at the directory again on next use."""
        with self._lock:
            self._checked.clear()

    @staticmethod
    def _load_newest_good(data_dir: Path | str, versions: list[int]) -> LearnedModel | None:
        for version in reversed(versions):
            try:
                return load(data_dir, version)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("scam-type model v%s not used: %s", version, exc)
        return None


MODELS = ModelCache()
