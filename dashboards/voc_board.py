"""The Voice of the customer board: what unhappy customers talk about, what is new, their words.

Every panel is ``sql.voc``'s SQL (the one definition ``cxpulse voc`` and the report use) over the
board's selection: events whose minute lies in the range, in the selected scope, min n from the
``min_n`` variable. Comments come from ``comment_docs`` (``cxpulse voc index`` keeps it up to date;
``make demo`` and the report run it), redacted at the edge.

- **Top terms** by touchpoint, journey stage and partner: per scope its 5 terms with the highest lift
  (how many times more often unhappy customers use them than happy ones), with the counts and n;
- **Emerging terms**: the 7 days before the range's end against the 28 days before those (the
  range's start does not move them);
- **Latest unhappy comments**: the 20 newest comments of detractors (CSAT <= 2 or NPS <= 6).
"""

from __future__ import annotations

from typing import Final

from dashboards.fixes_board import fixes_annotation
from dashboards.panels import JSON, Column, Layout, dashboard, table
from dashboards.variables import BOARD_SELECTION, SCOPE_FILTER, board_variables
from sql.experience import Selection, board_variable
from sql.voc import BASELINE_S, RECENT_S, emerging_sql, latest_comments_sql, term_ranking_sql

UID: Final = "cxpulse-voc"
TITLE: Final = "cxpulse / Voice of the customer"
TIME_FROM: Final = "now-30d"
TOP: Final = 5
EMERGING_SELECTION: Final = Selection(
    f"occurred_at >= $__toTime - {RECENT_S + BASELINE_S} AND occurred_at < $__toTime AND {SCOPE_FILTER}",
    board_variable)
"""The 35 days before the range's end, in the selected scope."""

_COUNTS: Final = [Column("term", "Term", unit="string"),
                  Column("unhappy_with", "Unhappy comments with it"), Column("unhappy_comments", "n unhappy"),
                  Column("happy_with", "Happy comments with it"), Column("happy_comments", "n happy"),
                  Column("lift", "Lift (x)", unit="none", decimals=1)]


def top_terms(key: str, title: str) -> JSON:
    """Per value of ``key``, its top terms of unhappy customers."""
    return table(
        f"Top terms of unhappy customers by {title}", term_ranking_sql((key,), BOARD_SELECTION, TOP),
        description=f"Per {title}, the {TOP} terms (words and two-word phrases, Vietnamese words from "
                    "underthesea's segmenter) unhappy customers (CSAT <= 2 or NPS <= 6) use most often "
                    "compared with happy ones (CSAT >= 4 or NPS >= 9): lift = ((u + 0.5) / (n unhappy + 1)) "
                    "/ ((h + 0.5) / (n happy + 1)). Only terms used in at least min n unhappy comments, in "
                    "scopes with at least min n unhappy and happy comments.",
        columns=[Column(key, title.capitalize(), unit="string"), *_COUNTS])


def emerging_terms() -> JSON:
    """Terms of the last 7 days of the range used more than in the 28 days before."""
    return table(
        "Emerging terms (last 7 days of the range vs the 28 days before)",
        emerging_sql(EMERGING_SELECTION, f"$__toTime - {RECENT_S}", 15),
        description="Terms whose share of comments in the 7 days before the range's end is highest "
                    "compared with the 28 days before those: growth = ((r + 0.5) / (n this week + 1)) / "
                    "((b + 0.5) / (n before + 1)); only terms in at least min n comments this week.",
        columns=[Column("term", "Term", unit="string"), Column("recent_with", "This week"),
                 Column("recent_comments", "n this week"), Column("baseline_with", "4 weeks before"),
                 Column("baseline_comments", "n before"), Column("growth", "Growth (x)", "none", 1)])


def latest_unhappy() -> JSON:
    """The newest detractor comments, with their scores."""
    return table(
        "Latest unhappy comments", latest_comments_sql(BOARD_SELECTION, ["unhappy"], 20),
        description="The 20 newest comments of customers who answered CSAT <= 2 or NPS <= 6, redacted at "
                    "the edge (emails, phones, cards, national ids, bank accounts).",
        columns=[Column("occurred_at_ms", "Time", unit="dateTimeAsIso"),
                 Column("touchpoint", "Touchpoint", unit="string"), Column("csat", "CSAT"),
                 Column("nps", "NPS"), Column("comment", "Comment", unit="string")])


def build() -> JSON:
    """The whole board as Grafana dashboard JSON."""
    layout = Layout()
    layout.add_row("What unhappy customers talk about")
    layout.add(top_terms("touchpoint", "touchpoint"), width=12, height=12)
    layout.add(emerging_terms(), width=12, height=12)
    layout.add(top_terms("journey_stage", "journey stage"), width=12, height=10)
    layout.add(top_terms("partner_id", "partner"), width=12, height=10)
    layout.add_row("In their words")
    layout.add(latest_unhappy(), width=24, height=12)
    return dashboard(
        UID, TITLE, description="Comments: the terms unhappy customers use, emerging terms, the latest "
                                "unhappy comments (Vietnamese and English).",
        panels=layout.panels, variables=board_variables(), tags=["cxpulse", "cx", "voc"],
        time_from=TIME_FROM, refresh="5m", annotations=[fixes_annotation()])

