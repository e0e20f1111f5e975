"""Voice of the customer: what unhappy customers talk about, what is new, and comment search (SQL).

Reads the latest version of each event with a comment (``sql.events``) joined to its row of
``comment_docs`` (terms, words, folded words: ``voc.index`` fills it), so scores and dimensions come
from the event, exactly as every other figure reads them. Each comment has a **voice**:

- ``unhappy``: a response with CSAT <= 2 or NPS <= 6 (a detractor), whatever its other scores;
- ``happy``: any other response with CSAT >= 4 or NPS >= 9 (``sql.experience.POSITIVE``);
- ``neutral``: any other response with a CSAT or NPS; ``unscored``: contacts and answers without
  either (their sentiment may be predicted, ``comment_docs.sentiment``).

**Term ranking** (per scope, or the whole window): for a term t used in ``u`` of the ``U`` unhappy and
``h`` of the ``H`` happy comments of the scope, ``lift = ((u + 0.5) / (U + 1)) / ((h + 0.5) / (H + 1))``
(how many times more often unhappy customers use it; the halves keep a term no happy customer used
finite). Shown only where ``u``, ``U`` and ``H`` are all at least min n and ``lift > 1``; ranked by
lift, then ``u``, then the longer term (a phrase says more than its word at the same counts), then the
term. **Emerging terms**: ``growth`` is the same ratio between the comments of
the recent period (the 7 days before the end) and the baseline (the 28 days before those), over all
comments; shown where the recent count is at least min n and ``growth > 1``. Counts are comments
(a term counts once per comment), never ratios of ratios. SQL for ClickHouse 18.16 and modern
ClickHouse alike (``LIMIT n BY``, no window functions).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, Final

from schemas.redaction import fold
from sql.client import Database, checked_identifier
from sql.experience import BOUND, POSITIVE, SCOPE_DIMENSIONS, Selection, latest_events, parameters

UNHAPPY: Final = "kind = 'response' AND (ifNull(csat, 5) <= 2 OR ifNull(nps, 10) <= 6)"
VOICE: Final = (f"multiIf({UNHAPPY}, 'unhappy', {POSITIVE}, 'happy', kind = 'response' AND "
                "(csat IS NOT NULL OR nps IS NOT NULL), 'neutral', 'unscored')")
VOICES: Final = ("unhappy", "happy", "neutral", "unscored")
RANK_SCOPES: Final = {"touchpoint": ("touchpoint",), "journey_stage": ("journey_stage",),
                      "partner_id": ("partner_id",), "location_id": ("location_id",),
                      "channel": ("channel",), "total": ()}
"""``cxpulse voc terms --by`` choices -> the scope's dimensions (``total``: the whole window)."""
RECENT_S: Final = 7 * 86_400
BASELINE_S: Final = 28 * 86_400
"""Emerging terms: this week against the four weeks before it."""
EVENT_COLUMNS: Final = ("event_id", "occurred_at_ms", "customer_id", "kind", "channel", "touchpoint",
                        "journey_stage", "partner_id", "location_id", "region", "csat", "nps", "ces",
                        "complaint")
COMMENT_COLUMNS: Final = (*EVENT_COLUMNS, "comment")
DOC_COLUMNS: Final = ("comment", "doc_language", "terms", "words", "folded", "sentiment", "sentiment_score",
                      "model_version")


def comments_sql(selection: Selection) -> str:
    """One row per event in the selection with an indexed comment: its columns, the doc's, ``voice``.

    The comment's text comes from ``comment_docs`` (the boards' user reads no ``touchpoint_events``
    text); an event whose latest version has no indexed comment has no row.
    """
    columns = ", ".join(EVENT_COLUMNS)
    return (
        f"SELECT {columns}, {', '.join(DOC_COLUMNS)}, {VOICE} AS voice "  # noqa: S608 - code constants
        f"FROM (SELECT {columns}, version FROM {latest_events(selection)}) AS events "
        "ALL INNER JOIN (SELECT event_id, version, comment, language AS doc_language, terms, words, folded, "
        "sentiment, sentiment_score, model_version FROM comment_docs FINAL WHERE event_id GLOBAL IN "
        f"(SELECT event_id FROM touchpoint_events WHERE {selection.events})) AS docs "
        "USING (event_id, version)"
    )


def _lift(with_a: str, total_a: str, with_b: str, total_b: str) -> str:
    # the + 1 keeps each denominator above 0; nullIf says so to every reader (and the board checks)
    return (f"((({with_a}) + 0.5) / nullIf(({total_a}) + 1, 0)) / "
            f"nullIf((({with_b}) + 0.5) / nullIf(({total_b}) + 1, 0), 0)")


def _join(keys: Sequence[str]) -> str:
    return f"ALL INNER JOIN ({{totals}}) AS totals USING {', '.join(keys)}" if keys else \
        "CROSS JOIN ({totals}) AS totals"


def term_ranking_sql(keys: Sequence[str], selection: Selection, top: int) -> str:
    """Per scope, its ``top`` terms unhappy customers use more than happy ones (module doc).

    Columns: the keys, ``term``, ``unhappy_with``, ``happy_with``, ``unhappy_comments``,
    ``happy_comments``, ``lift``. Min n is the setting ``min_n`` (a bound parameter or a variable).
    """
    checked = [checked_identifier(k) for k in keys]
    head = "".join(f"{k}, " for k in checked)
    group = f" GROUP BY {', '.join(checked)}" if checked else ""
    comments = comments_sql(selection)
    min_n = f"toInt64({selection.value('min_n')})"
    totals = (f"SELECT {head}toUInt64(countIf(voice = 'unhappy')) AS unhappy_comments, "  # noqa: S608
              f"toUInt64(countIf(voice = 'happy')) AS happy_comments FROM ({comments}){group}")
    lift = _lift("unhappy_with", "unhappy_comments", "happy_with", "happy_comments")
    limit = f"LIMIT {int(top)} BY {', '.join(checked)}" if checked else f"LIMIT {int(top)}"
    return (
        f"SELECT {head}term, unhappy_with, happy_with, unhappy_comments, happy_comments, "  # noqa: S608
        f"{lift} AS lift FROM (SELECT {head}term, toUInt64(countIf(voice = 'unhappy')) AS unhappy_with, "
        f"toUInt64(countIf(voice = 'happy')) AS happy_with FROM ({comments}) ARRAY JOIN terms AS term "
        f"GROUP BY {head}term) AS used {_join(checked).format(totals=totals)} "
        f"WHERE unhappy_with >= {min_n} AND unhappy_comments >= {min_n} AND happy_comments >= {min_n} "
        f"AND {lift} > 1 ORDER BY {head}lift DESC, unhappy_with DESC, lengthUTF8(term) DESC, term {limit}"
    )


def emerging_sql(selection: Selection, recent_start: str, top: int) -> str:
    """Terms used more in ``[recent_start, ...)`` than in the selection's earlier comments (module doc).

    ``selection`` covers the baseline and the recent period; ``recent_start`` is SQL (a bound
    parameter or a macro). Columns: ``term``, ``recent_with``, ``baseline_with``, ``recent_comments``,
    ``baseline_comments``, ``growth``.
    """
    comments = comments_sql(selection)
    recent = f"occurred_at_ms >= toInt64(toUInt32({recent_start})) * 1000"
    min_n = f"toInt64({selection.value('min_n')})"
    totals = (f"SELECT toUInt64(countIf({recent})) AS recent_comments, "  # noqa: S608
              f"toUInt64(countIf(NOT ({recent}))) AS baseline_comments FROM ({comments})")
    growth = _lift("recent_with", "recent_comments", "baseline_with", "baseline_comments")
    return (
        f"SELECT term, recent_with, baseline_with, recent_comments, baseline_comments, {growth} AS growth "  # noqa: S608
        f"FROM (SELECT term, toUInt64(countIf({recent})) AS recent_with, "
        f"toUInt64(countIf(NOT ({recent}))) AS baseline_with FROM ({comments}) ARRAY JOIN terms AS term "
        f"GROUP BY term) AS used CROSS JOIN ({totals}) AS totals "
        f"WHERE recent_with >= {min_n} AND {growth} > 1 "
        f"ORDER BY growth DESC, recent_with DESC, lengthUTF8(term) DESC, term LIMIT {int(top)}"
    )


SEARCHED: Final = ("words", "folded")
"""``comment_docs`` columns a search compares: with diacritics, or without (accent-insensitive)."""


def search_sql(selection: Selection, column: str) -> str:
    """Comments holding every word of ``%(query_words)s`` (in ``column``), best first.

    ``phrase`` = 1 when the words appear together in order (``%(phrase)s``); ``density`` = the share
    of the comment's words that are query words. Ranked by phrase, density, newest, event id; at most
    ``%(limit)s`` rows. Columns: :data:`COMMENT_COLUMNS`, ``voice``, ``sentiment``, ``phrase``,
    ``density``.
    """
    if column not in SEARCHED:
        raise ValueError(f"search compares one of {SEARCHED}, not {column!r}")
    split = f"splitByChar(' ', {column})"
    return (
        f"SELECT {', '.join(COMMENT_COLUMNS)}, voice, sentiment, "  # noqa: S608 - code constants
        f"toUInt8(position(concat(' ', {column}, ' '), concat(' ', %(phrase)s, ' ')) > 0) AS phrase, "
        f"arraySum(arrayMap(w -> toUInt32(has(%(query_words)s, w)), {split})) / length({split}) AS density "
        f"FROM ({comments_sql(selection)}) WHERE {column} != '' AND hasAll({split}, %(query_words)s) "
        "ORDER BY phrase DESC, density DESC, occurred_at_ms DESC, event_id LIMIT %(limit)s"
    )


def latest_comments_sql(selection: Selection, voices: Sequence[str], limit: int) -> str:
    """The ``limit`` newest comments of these voices, with scores, dimensions and sentiment."""
    listed = ", ".join(f"'{v}'" for v in voices if v in VOICES)
    return (f"SELECT {', '.join(COMMENT_COLUMNS)}, voice, sentiment, sentiment_score "  # noqa: S608
            f"FROM ({comments_sql(selection)}) WHERE voice IN ({listed}) "
            f"ORDER BY occurred_at_ms DESC, event_id LIMIT {int(limit)}")


def examples_sql(keys: Sequence[str], selection: Selection, per_term: int) -> str:
    """Up to ``per_term`` newest unhappy comments per (scope, term) for the terms in ``%(terms)s``."""
    checked = [checked_identifier(k) for k in keys]
    head = "".join(f"{k}, " for k in checked)
    return (f"SELECT {head}term, event_id, occurred_at_ms, comment, csat, nps "  # noqa: S608
            f"FROM ({comments_sql(selection)}) ARRAY JOIN terms AS term "
            f"WHERE voice = 'unhappy' AND has(%(terms)s, term) "
            f"ORDER BY {head}term, occurred_at_ms DESC, event_id LIMIT {int(per_term)} BY {head}term")


def sentiment_sql(selection: Selection) -> str:
    """Unscored comments by predicted sentiment (``''``: no active model scored them)."""
    return (f"SELECT sentiment, toUInt64(count()) AS comments, any(model_version) AS model "  # noqa: S608
            f"FROM ({comments_sql(selection)}) WHERE voice = 'unscored' "
            "GROUP BY sentiment ORDER BY sentiment")


# --- the Python API (commands and the report) -------------------------------------------------------

_SYLLABLES: Final = re.compile(r"[^\W\d_]+")


def query_words(query: str, ignore_accents: bool) -> list[str]:
    """A search query as the words a comment must hold: syllables, lower-case NFC, folded when asked."""
    syllables = _SYLLABLES.findall(unicodedata.normalize("NFC", query).lower())
    return [fold(s) for s in syllables] if ignore_accents else syllables


def filtered(start_s: int, end_s: int, filters: Mapping[str, str]) -> tuple[Selection, dict[str, Any]]:
    """Events in ``[start_s, end_s)`` with each ``dimension = value`` filter, and their parameters."""
    selection, params = BOUND, parameters(start_s, end_s)
    for key, value in filters.items():
        if key not in SCOPE_DIMENSIONS:
            raise ValueError(f"cannot filter comments by {key!r}; use {', '.join(SCOPE_DIMENSIONS)}")
        selection = selection.narrowed(f"{checked_identifier(key)} = %(f_{key})s")
        params[f"f_{key}"] = value
    return selection, params


def ranked_terms(db: Database, start_s: int, end_s: int, by: str, min_n: int, top: int = 10,
                 per_term: int = 2) -> list[dict[str, Any]]:
    """Per scope of ``by`` (a key of :data:`RANK_SCOPES`), its ranked terms with shares and examples.

    Each term: the counts, ``unhappy_pct`` / ``happy_pct`` (share of the scope's unhappy / happy
    comments using it, percent), ``lift`` and up to ``per_term`` newest unhappy comments using it.
    """
    if by not in RANK_SCOPES:
        raise ValueError(f"cannot rank terms by {by!r}; choose from {', '.join(RANK_SCOPES)}")
    keys = RANK_SCOPES[by]
    params = parameters(start_s, end_s, extra={"min_n": min_n})
    rows = db.query(term_ranking_sql(keys, BOUND, top), params)
    samples: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    if rows:
        found = db.query(examples_sql(keys, BOUND, per_term),
                         params | {"terms": sorted({r["term"] for r in rows})})
        for e in found:
            samples.setdefault((*(e[k] for k in keys), e["term"]), []).append(
                {"event_id": e["event_id"], "occurred_at_ms": int(e["occurred_at_ms"]),
                 "comment": e["comment"], "csat": e["csat"], "nps": e["nps"]})
    scopes: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        scope = scopes.setdefault(tuple(r[k] for k in keys), {**{k: r[k] for k in keys}, "terms": [],
                                  "unhappy_comments": int(r["unhappy_comments"]),
                                  "happy_comments": int(r["happy_comments"])})
        scope["terms"].append({
            "term": r["term"], "unhappy_with": int(r["unhappy_with"]), "happy_with": int(r["happy_with"]),
            "unhappy_pct": round(100 * int(r["unhappy_with"]) / int(r["unhappy_comments"]), 4),
            "happy_pct": round(100 * int(r["happy_with"]) / int(r["happy_comments"]), 4),
            "lift": round(float(r["lift"]), 4),
            "examples": samples.get((*(r[k] for k in keys), r["term"]), [])})
    return sorted(scopes.values(), key=lambda s: tuple(s[k] for k in keys))


def emerging(db: Database, end_s: int, min_n: int, top: int = 10) -> dict[str, Any]:
    """Terms of the 7 days before ``end_s`` used more than in the 28 days before those."""
    recent_start, start = end_s - RECENT_S, end_s - RECENT_S - BASELINE_S
    params = parameters(start, end_s, extra={"min_n": min_n, "recent_start": recent_start})
    rows = db.query(emerging_sql(BOUND, "%(recent_start)s", top), params)
    counts = ("recent_with", "baseline_with", "recent_comments", "baseline_comments")
    terms = [{"term": r["term"], **{c: int(r[c]) for c in counts}, "growth": round(float(r["growth"]), 4)}
             for r in rows]
    return {"recent": [recent_start, end_s], "baseline": [start, recent_start], "min_n": min_n,
            "terms": terms}


def search(db: Database, query: str, start_s: int, end_s: int, filters: Mapping[str, str],
           ignore_accents: bool, limit: int = 20) -> list[dict[str, Any]]:
    """Comments holding every word of ``query``, best first (``search_sql``), with their scores."""
    words = query_words(query, ignore_accents)
    if not words:
        raise ValueError("the search needs at least one word")
    selection, params = filtered(start_s, end_s, filters)
    params |= {"query_words": words, "phrase": " ".join(words), "limit": limit}
    rows = db.query(search_sql(selection, "folded" if ignore_accents else "words"), params)
    return [{**r, "occurred_at_ms": int(r["occurred_at_ms"]), "density": round(float(r["density"]), 4)}
            for r in rows]


def latest_comments(db: Database, start_s: int, end_s: int, voices: Sequence[str],
                    limit: int = 10) -> list[dict[str, Any]]:
    """The newest comments of these voices in ``[start_s, end_s)``."""
    rows = db.query(latest_comments_sql(BOUND, voices, limit), parameters(start_s, end_s))
    return [{**r, "occurred_at_ms": int(r["occurred_at_ms"])} for r in rows]


def sentiment_counts(db: Database, start_s: int, end_s: int) -> list[dict[str, Any]]:
    """Unscored comments of ``[start_s, end_s)`` per predicted sentiment."""
    return [{**r, "comments": int(r["comments"])}
            for r in db.query(sentiment_sql(BOUND), parameters(start_s, end_s))]


def training_examples(db: Database, start_s: int, end_s: int) -> list[tuple[str, tuple[str, ...], str]]:
    """``(event_id, terms, voice)`` of every scored comment in ``[start_s, end_s)`` (a model's labels)."""
    sql = (f"SELECT event_id, terms, voice FROM ({comments_sql(BOUND)}) "  # noqa: S608 - code constants
           "WHERE voice IN ('unhappy', 'happy', 'neutral') ORDER BY event_id")
    return [(r["event_id"], tuple(r["terms"]), r["voice"]) for r in db.query(sql, parameters(start_s, end_s))]
