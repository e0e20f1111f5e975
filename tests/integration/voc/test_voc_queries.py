"""Term ranking, emerging terms, search and the board on ClickHouse 18.16 and chDB, against a
recomputation from the raw events (latest version of each; counting and ranking written apart from
``sql.voc``; words from ``voc.text``, the tokenizer under test in tests/unit/test_voc_text.py)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from dashboards.build import BOARDS
from dashboards.macros import TimeRange, expand
from dashboards.panels import sql_queries
from sql.client import Database
from sql.voc import emerging, ranked_terms, search
from tests.integration.board_variables import all_of
from tests.integration.voc.conftest import DAY, END_S, MIN_N, START_S
from voc.text import analyse

Event = dict[str, Any]


def voice(e: Event) -> str:
    csat, nps = e["csat"], e["nps"]
    if e["kind"] != "response":
        return "unscored"
    if (csat is not None and csat <= 2) or (nps is not None and nps <= 6):
        return "unhappy"
    if (csat is not None and csat >= 4) or (nps is not None and nps >= 9):
        return "happy"
    return "neutral" if csat is not None or nps is not None else "unscored"


def commented(events: list[Event], start: int, end: int) -> list[tuple[Event, Any]]:
    return [(e, analyse(e["comment"], e["language"] or "")) for e in events
            if e["comment"] and start * 1000 <= e["occurred_at"] < end * 1000]


def lift(a: int, total_a: int, b: int, total_b: int) -> float:
    return ((a + 0.5) / (total_a + 1)) / ((b + 0.5) / (total_b + 1))


Ranked = dict[str, list[tuple[str, int, int, float]]]


def reference_ranking(events: list[Event], key: str, top: int) -> Ranked:
    used: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e, doc in commented(events, START_S, END_S):
        side = {"unhappy": 0, "happy": 1}.get(voice(e))
        if side is None:
            continue
        totals[e[key]][side] += 1
        for term in set(doc.terms):
            used[e[key]][term][side] += 1
    out = {}
    for scope, terms in used.items():
        u_total, h_total = totals[scope]
        rows = [(t, u, h, lift(u, u_total, h, h_total)) for t, (u, h) in terms.items()
                if u >= MIN_N and u_total >= MIN_N and h_total >= MIN_N and lift(u, u_total, h, h_total) > 1]
        rows.sort(key=lambda r: (-r[3], -r[1], -len(r[0]), r[0]))
        if rows:
            out[scope] = rows[:top]
    return out


def test_term_ranking_per_touchpoint_matches_a_recomputation(engine: Database, events: list[Event]) -> None:
    got = ranked_terms(engine, START_S, END_S, "touchpoint", MIN_N, top=5)
    want = reference_ranking(events, "touchpoint", 5)
    assert {s["touchpoint"] for s in got} == set(want) and want
    by_id = {e["event_id"]: e for e in events}
    for scope in got:
        rows = [(t["term"], t["unhappy_with"], t["happy_with"]) for t in scope["terms"]]
        assert rows == [r[:3] for r in want[scope["touchpoint"]]], scope["touchpoint"]
        for term, (_t, _u, _h, value) in zip(scope["terms"], want[scope["touchpoint"]], strict=True):
            assert term["lift"] == pytest.approx(value, abs=1e-3)
            assert 1 <= len(term["examples"]) <= 2
            for example in term["examples"]:  # an unhappy comment of the scope that uses the term
                source = by_id[example["event_id"]]
                assert voice(source) == "unhappy" and source["touchpoint"] == scope["touchpoint"]
                assert term["term"] in analyse(source["comment"], source["language"] or "").terms
    checkout = {t["term"] for s in got if s["touchpoint"] == "checkout" for t in s["terms"]}
    assert checkout, "unhappy checkout customers have terms of their own"


def test_emerging_terms_match_a_recomputation(engine: Database, events: list[Event]) -> None:
    got = emerging(engine, END_S, MIN_N, top=10)
    recent_start = END_S - 7 * DAY
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    totals = [0, 0]
    for e, doc in commented(events, END_S - 35 * DAY, END_S):
        side = 0 if e["occurred_at"] >= recent_start * 1000 else 1
        totals[side] += 1
        for term in set(doc.terms):
            counts[term][side] += 1
    rows = [(t, r, b, lift(r, totals[0], b, totals[1])) for t, (r, b) in counts.items()
            if r >= MIN_N and lift(r, totals[0], b, totals[1]) > 1]
    rows.sort(key=lambda r: (-r[3], -r[1], -len(r[0]), r[0]))
    got_rows = [(t["term"], t["recent_with"], t["baseline_with"]) for t in got["terms"]]
    assert got_rows == [r[:3] for r in rows[:10]]
    assert any("wallet" in t["term"] or "ví điện tử" in t["term"] for t in got["terms"]), got["terms"]


@pytest.mark.parametrize(("query", "ignore_accents"), [("giao hàng chậm", False), ("giao hang cham", True)])
def test_search_matches_a_recomputation(engine: Database, events: list[Event], query: str,
                                        ignore_accents: bool) -> None:
    got = search(engine, query, START_S, END_S, {"touchpoint": "order_status"}, ignore_accents, limit=50)
    words = query.split()
    found = []
    for e, doc in commented(events, START_S, END_S):
        text = (doc.folded if ignore_accents else doc.words).split(" ")
        if e["touchpoint"] == "order_status" and text != [""] and set(words) <= set(text):
            phrase = f" {' '.join(words)} " in f" {' '.join(text)} "
            density = sum(w in words for w in text) / len(text)
            found.append((not phrase, -round(density, 4), -e["occurred_at"], e["event_id"]))
    found.sort()
    assert [r["event_id"] for r in got] == [f[3] for f in found[:50]] and got
    assert "voc-v" in [r["event_id"] for r in got]  # its latest version still says "giao hàng chậm"
    assert [r["csat"] for r in got if r["event_id"] == "voc-v"] == [5]  # ... with its latest score
    if ignore_accents:
        assert "voc-b" in [r["event_id"] for r in got]  # typed without diacritics


def test_every_voc_panel_runs_and_shows_rows(engine: Database, events: list[Event]) -> None:
    window = TimeRange(START_S, END_S)
    for panel, sql in sql_queries(BOARDS["voice_of_customer"]()):
        rows = engine.query(expand(sql, window, all_of(events, min_n=str(MIN_N))))
        assert rows, panel["title"]
