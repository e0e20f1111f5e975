"""Board SQL over ``minute_satisfaction``: figures from summed counts, filtered by the board's macros.

Rules every query here keeps (DESIGN.md, METRICS.md):

- ratios come from summed counts (``100 * sum(satisfied) / sum(responses)``), never averages of
  ratios; a group whose denominator is 0 gives NULL (``nullIf(..., 0)``), never 0;
- SQL that runs on ClickHouse 18.16 and modern ClickHouse alike: only ``$__timeFilter``,
  ``$__fromTime``/``$__toTime`` and template variables, buckets by ``toStartOfFiveMinute``;
- result aliases never repeat a column name, so no alias can shadow a column inside ``sum()``;
- identifiers (columns, aliases) are validated; values only ever come from the macro expansions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from dashboards.panels import JSON, Step, thresholds
from sql.client import checked_identifier

TABLE: Final = "minute_satisfaction"
CHANNEL_FILTER: Final = "channel IN (${channel:singlequote})"
"""The ``channel`` template variable (multi-value, with All) as a list of quoted values."""
TIME_FILTER: Final = "$__timeFilter(minute)"
"""Minute buckets whose start lies in the panel's time range (both ends included)."""
BUCKET_5M: Final = "toStartOfFiveMinute(minute)"


@dataclass(frozen=True)
class Figure:
    """One figure a board shows: its SQL over summed counts, and how to display it."""

    name: str
    title: str
    sql: str
    unit: str
    decimals: int
    steps: JSON
    meaning: str

    def __post_init__(self) -> None:
        checked_identifier(self.name)

    @property
    def may_be_null(self) -> bool:
        """True for a ratio: NULL where its denominator is 0 (no responses, no contacts)."""
        return "nullIf(" in self.sql


CSAT_PCT: Final = Figure(
    name="csat_pct", title="CSAT %",
    sql="100 * sum(csat_satisfied) / nullIf(sum(csat_responses), 0)",
    unit="percent", decimals=1,
    steps=thresholds(Step("red"), Step("orange", 70), Step("green", 80)),
    meaning="satisfied CSAT responses (score 4-5) / CSAT responses x 100",
)
NPS: Final = Figure(
    name="nps", title="NPS",
    sql="100 * (toInt64(sum(nps_promoters)) - toInt64(sum(nps_detractors))) / nullIf(sum(nps_responses), 0)",
    unit="none", decimals=1,
    steps=thresholds(Step("red"), Step("orange", 0), Step("green", 30)),
    meaning="(promoters - detractors) / NPS responses x 100, in -100..100",
)
CES_MEAN: Final = Figure(
    name="ces_mean", title="CES mean",
    sql="sum(ces_sum) / nullIf(sum(ces_responses), 0)",
    unit="none", decimals=2,
    steps=thresholds(Step("red"), Step("orange", 4), Step("green", 5)),
    meaning="mean CES score, 1-7 (7 = very easy)",
)
VOLUME: Final = Figure(
    name="volume", title="Volume",
    sql="sum(events)",
    unit="short", decimals=0,
    steps=thresholds(Step("blue")),
    meaning="events (responses and contacts)",
)
RESPONSES: Final = Figure(
    name="response_count", title="Responses", sql="sum(responses)", unit="short", decimals=0,
    steps=thresholds(Step("blue")), meaning="survey responses",
)
CONTACTS: Final = Figure(
    name="contact_count", title="Contacts", sql="sum(contacts)", unit="short", decimals=0,
    steps=thresholds(Step("blue")), meaning="customer contacts",
)
COMPLAINT_RATE: Final = Figure(
    name="complaint_rate", title="Complaint rate",
    sql="100 * sum(complaints) / nullIf(sum(contacts), 0)", unit="percent", decimals=1,
    steps=thresholds(Step("green"), Step("orange", 5), Step("red", 10)),
    meaning="complaints / contacts x 100",
)


def _select_list(items: Sequence[str]) -> str:
    return ",\n    ".join(items)


def _figure_columns(figures: Sequence[Figure]) -> list[str]:
    return [f"{f.sql} AS {checked_identifier(f.name)}" for f in figures]


def by_channel(figures: Sequence[Figure]) -> str:
    """One row per channel in the panel's time range: ``channel`` then each figure by its name."""
    columns = _select_list(["channel", *_figure_columns(figures)])
    return "\n".join([
        f"SELECT\n    {columns}",
        f"FROM {TABLE}",
        f"WHERE {TIME_FILTER}\n  AND {CHANNEL_FILTER}",
        "GROUP BY channel",
        "ORDER BY channel",
    ])


def by_channel_every_5_minutes(figure: Figure) -> str:
    """Long format for a time series: (``time`` = 5-minute bucket start, ``channel``, figure)."""
    columns = _select_list([f"{BUCKET_5M} AS time", "channel", *_figure_columns([figure])])
    return "\n".join([
        f"SELECT\n    {columns}",
        f"FROM {TABLE}",
        f"WHERE {TIME_FILTER}\n  AND {CHANNEL_FILTER}",
        "GROUP BY time, channel",
        "ORDER BY time, channel",
    ])


def channels() -> str:
    """Every channel that ever had an event: the ``channel`` variable's options."""
    return "SELECT DISTINCT channel FROM minute_satisfaction ORDER BY channel"
