"""A sentiment model trained on the company's own scored comments, evaluated honestly, versioned.

- **Labels** come from the scores customers gave with their comment (``sql.voc.VOICE``): unhappy
  (CSAT <= 2 or NPS <= 6) -> ``negative``, happy (CSAT >= 4 or NPS >= 9) -> ``positive``, the other
  scored answers -> ``neutral``.
- **Features**: the comment's terms (``voc.text``: words and two-word phrases) and the same terms
  without diacritics, so a comment typed without accents reads like one with them; TF-IDF, then a
  multinomial logistic regression with balanced class weights (scikit-learn).
- **Held out**: one comment in five, chosen by a hash of its event id (the same comment is always on
  the same side, whatever else is in the data); the model never sees them. Reported: accuracy and
  macro-F1 on the held-out comments, per-class precision / recall / F1 / n, and the same two figures
  of always answering the most common class, so a model that learned nothing is visible as such.
- **Threshold**: a model is *active* (used to score comments that carry no score) only when its
  held-out macro-F1 is at least :data:`MIN_MACRO_F1` on at least :data:`MIN_HELD_OUT` comments.
  A model that falls short is kept in its folder with its figures, never used.
- **Versions**: each training writes ``<run>/voc/models/<version>/`` (``model.joblib``,
  ``metrics.json``); ``active.json`` beside them names the active one.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from schemas.redaction import fold

LABELS: Final = ("negative", "neutral", "positive")
LABEL_OF_VOICE: Final = {"unhappy": "negative", "neutral": "neutral", "happy": "positive"}
MIN_MACRO_F1: Final = 0.70
"""Held-out macro-F1 a model needs before it may score anything."""
MIN_HELD_OUT: Final = 50
"""Held-out comments a model needs for its figures to mean anything."""
HELD_OUT_SHARE: Final = 5
"""One comment in this many is held out."""
ACTIVE: Final = "active.json"


def features(terms: Sequence[str]) -> list[str]:
    """The model's features of one comment: its terms, and the folded ones marked ``~``."""
    return [*terms, *(f"~{fold(t)}" for t in terms)]


def held_out(event_id: str) -> bool:
    """Whether a comment belongs to the held-out set (one in :data:`HELD_OUT_SHARE`, by its id)."""
    return hashlib.sha256(event_id.encode()).digest()[0] % HELD_OUT_SHARE == 0


@dataclass(frozen=True)
class Evaluation:
    """Held-out figures of one trained model (fractions 0..1; n are comments)."""

    version: str
    trained_at: str
    train_n: int
    held_out_n: int
    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float]]
    baseline_accuracy: float
    baseline_macro_f1: float
    threshold_macro_f1: float
    min_held_out: int
    active: bool
    """Met the threshold: the model scores comments that carry no score."""

    def describe(self) -> str:
        """One line: the figures and whether the model is used."""
        used = "active: scores comments without CSAT/NPS" if self.active else \
            f"NOT used (needs macro-F1 >= {self.threshold_macro_f1:.2f} on >= {self.min_held_out} held-out)"
        return (f"model {self.version}: held-out accuracy {self.accuracy:.3f}, macro-F1 {self.macro_f1:.3f} "
                f"on {self.held_out_n} comments (trained on {self.train_n}; majority-class baseline "
                f"accuracy {self.baseline_accuracy:.3f}, macro-F1 {self.baseline_macro_f1:.3f}); {used}")


class SentimentModel:
    """A trained pipeline and its version; ``predict`` gives (class, P(positive) - P(negative))."""

    def __init__(self, version: str, pipeline: Any) -> None:
        self.version, self._pipeline = version, pipeline

    def predict(self, comments: Sequence[Sequence[str]]) -> list[tuple[str, float]]:
        """Class and score (-1..1) of each comment, given as its terms."""
        if not comments:
            return []
        rows = [features(t) for t in comments]
        probabilities = self._pipeline.predict_proba(rows)
        classes = list(self._pipeline.classes_)
        out = []
        for row in probabilities:
            best = classes[int(row.argmax())]
            score = float(row[classes.index("positive")] - row[classes.index("negative")])
            out.append((str(best), round(score, 4)))
        return out


def _pipeline() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(analyzer=_identity, min_df=2, sublinear_tf=True),
                         LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000))


def _identity(document: list[str]) -> list[str]:
    return document


def train(examples: Sequence[tuple[str, Sequence[str], str]]) -> tuple[SentimentModel, Evaluation]:
    """Train on ``(event_id, terms, label)`` examples; evaluate on the held-out ones.

    ValueError when either side lacks two classes (nothing to learn or to judge).
    """
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    train_rows = [(features(t), y) for i, t, y in examples if not held_out(i)]
    test_rows = [(features(t), y) for i, t, y in examples if held_out(i)]
    for name, rows in (("training", train_rows), ("held-out", test_rows)):
        if len({y for _x, y in rows}) < 2:
            raise ValueError(f"the {name} comments hold fewer than two classes: score more comments first")
    pipeline = _pipeline()
    pipeline.fit([x for x, _y in train_rows], [y for _x, y in train_rows])
    truth = [y for _x, y in test_rows]
    guess = list(pipeline.predict([x for x, _y in test_rows]))
    labels = [label for label in LABELS if label in set(truth) | set(guess)]
    precision, recall, f1, support = precision_recall_fscore_support(truth, guess, labels=labels,
                                                                     zero_division=0)
    majority = Counter(y for _x, y in train_rows).most_common(1)[0][0]
    baseline = [majority] * len(truth)
    now = datetime.now(UTC)
    digest = hashlib.sha256("\n".join(sorted(i for i, _t, _y in examples)).encode()).hexdigest()[:8]
    version = f"sentiment-{now:%Y%m%dT%H%M%S}-{digest}"
    macro = float(f1_score(truth, guess, labels=labels, average="macro", zero_division=0))
    evaluation = Evaluation(
        version=version, trained_at=now.isoformat(timespec="seconds"), train_n=len(train_rows),
        held_out_n=len(test_rows), accuracy=round(float(accuracy_score(truth, guess)), 4),
        macro_f1=round(macro, 4),
        per_class={label: {"precision": round(float(p), 4), "recall": round(float(r), 4),
                           "f1": round(float(f), 4), "n": int(n)}
                   for label, p, r, f, n in zip(labels, precision, recall, f1, support, strict=True)},
        baseline_accuracy=round(float(accuracy_score(truth, baseline)), 4),
        baseline_macro_f1=round(float(f1_score(truth, baseline, labels=labels, average="macro",
                                               zero_division=0)), 4),
        threshold_macro_f1=MIN_MACRO_F1, min_held_out=MIN_HELD_OUT,
        active=macro >= MIN_MACRO_F1 and len(test_rows) >= MIN_HELD_OUT)
    return SentimentModel(version, pipeline), evaluation


def save(folder: Path, model: SentimentModel, evaluation: Evaluation) -> Path:
    """Write the model and its figures under ``folder/<version>/``; make it active if it qualifies."""
    import joblib

    target = folder / model.version
    target.mkdir(parents=True, exist_ok=True)
    joblib.dump(model._pipeline, target / "model.joblib")
    (target / "metrics.json").write_text(json.dumps(asdict(evaluation), indent=1) + "\n")
    if evaluation.active:
        (folder / ACTIVE).write_text(json.dumps({"version": model.version}) + "\n")
    return target


def load_active(folder: Path) -> tuple[SentimentModel, Evaluation] | None:
    """The active model and its figures, or None when no trained model met the threshold."""
    import joblib

    pointer = folder / ACTIVE
    if not pointer.exists():
        return None
    version = json.loads(pointer.read_text())["version"]
    evaluation = Evaluation(**json.loads((folder / version / "metrics.json").read_text()))
    return SentimentModel(version, joblib.load(folder / version / "model.joblib")), evaluation
