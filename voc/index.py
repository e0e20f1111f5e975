"""The comment index: every stored comment's language, terms and words in ``comment_docs``.

Runs off the hot path: it reads what the worker already stored in ``touchpoint_events`` (never
Kafka) and writes ``comment_docs``, so the worker's per-event cost is unchanged whether it runs or
not. Each run indexes the comments not indexed yet — every stored version of an event with a comment,
found by ``(event_id, version)`` — in batches, so it resumes wherever it stopped, and indexing a comment
again only replaces its row (``ReplacingMergeTree(indexed_version)``). With an active sentiment model
(``voc.sentiment``: one whose held-out macro-F1 met the threshold) comments without a CSAT or NPS get
its predicted class; :func:`rescore` gives the already indexed ones the newest active model's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sql.client import Database
from voc.sentiment import SentimentModel
from voc.text import analyse

DOC_COLUMNS: Final = ("event_id", "version", "occurred_at", "language", "comment", "terms", "words", "folded",
                      "sentiment", "sentiment_score", "model_version", "indexed_version")
BATCH: Final = 5_000
PENDING_SQL: Final = (
    "SELECT event_id, version, toUInt32(occurred_at) AS occurred_s, comment, language, "
    "toUInt8(csat IS NULL AND nps IS NULL) AS unscored FROM touchpoint_events "
    "WHERE comment != '' AND (event_id, version) GLOBAL NOT IN (SELECT event_id, version FROM comment_docs) "
    "ORDER BY event_id, version LIMIT 1 BY event_id, version LIMIT %(limit)s"
)
"""Comments not indexed yet (a copy the worker wrote twice is one comment)."""
UNSCORED_SQL: Final = (
    "SELECT event_id, version, toUInt32(occurred_at) AS occurred_s, language, comment, terms, words, "
    "folded FROM comment_docs FINAL WHERE model_version != %(model)s AND (event_id, version) GLOBAL IN "
    "(SELECT event_id, version FROM touchpoint_events WHERE comment != '' AND csat IS NULL AND nps IS NULL) "
    "ORDER BY event_id, version LIMIT %(limit)s"
)
"""Indexed comments without a score whose sentiment is not the given model's."""


@dataclass(frozen=True)
class IndexRun:
    """What one run did: comments indexed (or rescored), seconds, and the cost per comment."""

    comments: int
    seconds: float
    analyse_seconds: float
    """Of ``seconds``, the time spent in language detection, segmentation and terms (CPU)."""

    @property
    def microseconds_per_comment(self) -> float | None:
        """Wall time per comment, reads and writes included (None for an empty run)."""
        return None if not self.comments else self.seconds / self.comments * 1e6


def _insert(db: Database, rows: list[tuple[Any, ...]]) -> None:
    insert: Callable[[str, Sequence[str], list[tuple[Any, ...]]], None] | None = getattr(db, "insert", None)
    if insert is not None:  # the server: one native INSERT of the whole batch
        insert("comment_docs", DOC_COLUMNS, rows)
        return
    for start in range(0, len(rows), 500):  # chDB: bound VALUES
        chunk = rows[start:start + 500]
        values = ", ".join("(" + ", ".join(f"%(r{i}_{j})s" for j in range(len(DOC_COLUMNS))) + ")"
                           for i in range(len(chunk)))
        params = {f"r{i}_{j}": v for i, row in enumerate(chunk) for j, v in enumerate(row)}
        db.execute(f"INSERT INTO comment_docs ({', '.join(DOC_COLUMNS)}) VALUES {values}", params)  # noqa: S608


def _predictions(model: SentimentModel | None, terms: list[tuple[str, ...]],
                 unscored: list[bool]) -> list[tuple[str, float, str]]:
    """(class, score, model version) per comment: only unscored comments, only with a model."""
    out = [("", 0.0, "")] * len(terms)
    wanted = [i for i, flag in enumerate(unscored) if flag]
    if model is None or not wanted:
        return out
    for i, (label, score) in zip(wanted, model.predict([terms[i] for i in wanted]), strict=True):
        out[i] = (label, score, model.version)
    return out


def index(db: Database, model: SentimentModel | None = None, batch: int = BATCH,
          progress: Callable[[int], None] | None = None) -> IndexRun:
    """Index every comment not indexed yet; returns the count and the time it took."""
    started, analysing, total = time.perf_counter(), 0.0, 0
    while True:
        pending = db.query(PENDING_SQL, {"limit": batch})
        if not pending:
            break
        tick = time.perf_counter()
        analysed = [analyse(r["comment"], r["language"]) for r in pending]
        predicted = _predictions(model, [a.terms for a in analysed], [bool(r["unscored"]) for r in pending])
        analysing += time.perf_counter() - tick
        version = time.time_ns()
        _insert(db, [(r["event_id"], int(r["version"]), int(r["occurred_s"]), a.language, r["comment"],
                      list(a.terms), a.words, a.folded, *p, version)
                     for r, a, p in zip(pending, analysed, predicted, strict=True)])
        total += len(pending)
        if progress:
            progress(total)
    return IndexRun(total, time.perf_counter() - started, analysing)


def rescore(db: Database, model: SentimentModel, batch: int = BATCH) -> IndexRun:
    """Give every indexed comment without a score this model's sentiment (rewrites their rows)."""
    started, analysing, total = time.perf_counter(), 0.0, 0
    while True:
        rows = db.query(UNSCORED_SQL, {"model": model.version, "limit": batch})
        if not rows:
            break
        tick = time.perf_counter()
        predicted = model.predict([tuple(r["terms"]) for r in rows])
        analysing += time.perf_counter() - tick
        version = time.time_ns()
        _insert(db, [(r["event_id"], int(r["version"]), int(r["occurred_s"]), r["language"], r["comment"],
                      list(r["terms"]), r["words"], r["folded"], label, score, model.version, version)
                     for r, (label, score) in zip(rows, predicted, strict=True)])
        total += len(rows)
    return IndexRun(total, time.perf_counter() - started, analysing)

