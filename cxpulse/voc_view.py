"""Tables of ``cxpulse voc``: ranked terms with their n and examples, emerging terms, comments.

Counts are comments; every share shows its n (the scope's unhappy / happy comments) beside it.
Terms below min n are never listed (``sql.voc``), and a scope without enough comments shows none.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from cxpulse import console
from cxpulse.cx_view import stamp
from voc.sentiment import Evaluation


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _score(row: dict[str, Any]) -> str:
    parts = [f"{name.upper()} {row[name]}" for name in ("csat", "nps", "ces") if row.get(name) is not None]
    return ", ".join(parts) or (f"predicted {row['sentiment']}" if row.get("sentiment") else "-")


TERMS_HEAD = ("scope", "term", "unhappy", "%", "of n", "happy", "%", "of n", "lift",
              "example (newest unhappy)")


def terms_table(scopes: list[dict[str, Any]], keys: tuple[str, ...]) -> Table:
    """One row per ranked term: counts, shares with their n, lift and an example comment."""
    body = []
    for scope in scopes:
        name = " / ".join(scope[k] or "(none)" for k in keys) or "all comments"
        for t in scope["terms"]:
            example = t["examples"][0]["comment"] if t["examples"] else ""
            body.append([name, t["term"], t["unhappy_with"], f"{t['unhappy_pct']:.1f}",
                         scope["unhappy_comments"], t["happy_with"], f"{t['happy_pct']:.1f}",
                         scope["happy_comments"], f"{t['lift']:.1f}x", example[:70]])
    return console.table(TERMS_HEAD, body, right=TERMS_HEAD[2:9])


def terms_screen(scopes: list[dict[str, Any]], by: str, start_s: int, end_s: int, min_n: int) -> Group:
    """Title, the ranked terms, how to read them."""
    from sql.voc import RANK_SCOPES

    head = Text(f"What unhappy customers talk about, by {by}, {stamp(start_s)} .. {stamp(end_s)}",
                style="bold")
    note = Text(f"unhappy: CSAT <= 2 or NPS <= 6; happy: CSAT >= 4 or NPS >= 9. lift: how many times more "
                f"often unhappy customers use the term. Only terms used by >= {min_n} unhappy customers, in "
                f"scopes with >= {min_n} unhappy and happy comments (min n).")
    if not scopes:
        return Group(head, Text("no term passes min n in this window"), note)
    return Group(head, terms_table(scopes, RANK_SCOPES[by]), note)


EMERGING_HEAD = ("term", "this week", "of n", "4 weeks before", "of n", "growth")


def emerging_screen(result: dict[str, Any]) -> Group:
    """Terms of the last 7 days used more often than in the 28 days before."""
    (r0, r1), (b0, _b1) = result["recent"], result["baseline"]
    head = Text(f"Emerging terms: {stamp(r0)} .. {stamp(r1)} against {stamp(b0)} .. {stamp(r0)}",
                style="bold")
    body = [[t["term"], t["recent_with"], t["recent_comments"], t["baseline_with"], t["baseline_comments"],
             f"{t['growth']:.1f}x"] for t in result["terms"]]
    note = Text(f"growth: share of this week's comments using the term / share of the 4 weeks before "
                f"(each + 0.5 / + 1); terms used in >= {result['min_n']} comments this week.")
    return Group(head, console.table(EMERGING_HEAD, body, right=EMERGING_HEAD[1:]), note)


def comments_table(rows: list[dict[str, Any]], ranked: bool) -> Table:
    """Comments with their time, scope, scores and voice (search results keep their rank)."""
    head = ("#", "time", "touchpoint", "scores", "voice", "comment") if ranked else \
        ("time", "touchpoint", "scores", "voice", "comment")
    body = []
    for i, r in enumerate(rows, 1):
        cells = [_day(r["occurred_at_ms"]), r["touchpoint"] or "(none)", _score(r), r["voice"], r["comment"]]
        body.append([i, *cells] if ranked else cells)
    return console.table(head, body, right=("#",))


def evaluation_table(evaluation: Evaluation) -> Table:
    """Per class: precision, recall, F1 and n on the held-out comments."""
    body = [[label, f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", int(c["n"])]
            for label, c in evaluation.per_class.items()]
    return console.table(("class", "precision", "recall", "F1", "n"), body,
                         right=("precision", "recall", "F1", "n"))
