"""Board SQL: figures from summed counts, filtered by the board's macros.

Sources: ``minute_counts`` (satisfaction, contact and survey-FCR counts per minute) and
``fcr_contacts`` (the FCR role and outcome of every eligible contact, read with ``FINAL``).

Rules every query here keeps (DESIGN.md, METRICS.md):

- ratios come from summed counts (``100 * sum(satisfied) / sum(responses)``), never averages of
  ratios; a group whose denominator is 0 gives NULL (``nullIf(..., 0)``), never 0;
- SQL that runs on ClickHouse 18.16 and modern ClickHouse alike: only ``$__timeFilter``,
  ``$__fromTime``/``$__toTime`` and template variables, buckets by ``toStartOfFiveMinute`` /
  ``toStartOfHour``;
- every source is filtered on ``minute``, the start of the event's minute (``fcr_contacts`` defines
  it as ``toStartOfMinute(occurred_at)``), so every board selects the same events for a time range;
- result aliases never repeat a column name, so no alias can shadow a column inside ``sum()``;
- identifiers (columns, aliases) are validated; values only ever come from the macro expansions.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from dashboards.panels import JSON, NO_VALUE, Column, Step, thresholds
from dashboards.variables import MASKED, MIN_N_SQL, SCOPE_FILTER
from sql.client import checked_identifier
from sql.figures import FCR_COUNTS, RATIOS

TABLE: Final = "minute_counts"
TIME_FILTER: Final = "$__timeFilter(minute)"
"""Minute buckets whose start lies in the panel's time range (both ends included)."""
BUCKET_5M: Final = "toStartOfFiveMinute(minute)"
BUCKET_1H: Final = "toStartOfHour(minute)"


@dataclass(frozen=True)
class Source:
    """A table a board reads; ``minute`` defines the column of that name where the table has none."""

    table: str
    minute: str | None = None

    def prelude(self) -> list[str]:
        """The ``WITH`` line defining ``minute`` (the time filter's column), if the table needs one."""
        return [f"WITH {self.minute} AS minute"] if self.minute else []


MINUTES: Final = Source(TABLE)
"""Minute counts; ``minute`` is a column."""
FCR_CONTACTS: Final = Source("fcr_contacts FINAL", minute="toStartOfMinute(occurred_at)")
"""One row per eligible contact, latest outcome (``FINAL``); ``minute`` is the contact's minute, to
which METRICS.md attributes a first contact's outcome."""


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

    @property
    def masked(self) -> bool:
        """True for a ratio masked below the board's ``min_n``."""
        return MIN_N_SQL in self.sql

    @property
    def no_value(self) -> str:
        """What a panel shows where the figure is NULL: ``n<5`` for a masked ratio."""
        return MASKED if self.masked else NO_VALUE

    def column(self) -> Column:
        """A table column showing this figure."""
        return Column(self.name, self.title, self.unit, self.decimals, no_value=self.no_value)


CSAT_PCT: Final = Figure(
    name="csat_pct", title="CSAT %",
    sql=RATIOS["csat_pct"].masked_sql(MIN_N_SQL),
    unit="percent", decimals=1,
    steps=thresholds(Step("red"), Step("orange", 70), Step("green", 80)),
    meaning="satisfied CSAT responses (score 4-5) / CSAT responses x 100",
)
NPS: Final = Figure(
    name="nps", title="NPS",
    sql=RATIOS["nps"].masked_sql(MIN_N_SQL),
    unit="none", decimals=1,
    steps=thresholds(Step("red"), Step("orange", 0), Step("green", 30)),
    meaning="(promoters - detractors) / NPS responses x 100, in -100..100",
)
CES_MEAN: Final = Figure(
    name="ces_mean", title="CES mean",
    sql=RATIOS["ces_mean"].masked_sql(MIN_N_SQL),
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
    sql=RATIOS["complaint_rate"].masked_sql(MIN_N_SQL), unit="percent", decimals=1,
    steps=thresholds(Step("green"), Step("orange", 5), Step("red", 10)),
    meaning="complaints / contacts x 100",
)


def n_of(figure: str, column: str, answers: str) -> Figure:
    """The n shown beside a ratio: the summed ``column`` (its denominator)."""
    return Figure(name=f"{figure}_n", title=f"n ({figure.upper()})", sql=f"sum({column})", unit="short",
                  decimals=0, steps=thresholds(Step("blue")), meaning=f"{answers}: the n beside it")


CSAT_N: Final = n_of("csat", "csat_responses", "CSAT responses")
NPS_N: Final = n_of("nps", "nps_responses", "NPS responses")
CES_N: Final = n_of("ces", "ces_responses", "CES responses")
COMPLAINTS: Final = Figure(
    name="complaint_count", title="Complaints", sql="sum(complaints)", unit="short", decimals=0,
    steps=thresholds(Step("blue")), meaning="contacts flagged as complaints",
)

# --- first-contact resolution, over fcr_contacts -------------------------------------------------------

AS_OF: Final = "toDateTime(%(as_of)s)"
"""The clock ``sql.figures`` binds FCR outcomes to; a board decides them against ``now()`` instead."""


def decided_now(count: str) -> str:
    """An FCR count of :data:`sql.figures.FCR_COUNTS` (one set of rules), decided against ``now()``.

    An open first contact is a success once ``now()`` passed its ``decides_at``, pending before.
    """
    sql = FCR_COUNTS[count].replace(AS_OF, "now()")
    if "%(" in sql:
        raise ValueError(f"FCR count {count!r} keeps a bound parameter a board cannot fill: {sql}")
    return sql


_COUNT: Final = thresholds(Step("blue"))
FCR_FIRST_CONTACTS: Final = Figure(
    name="fcr_first_contacts", title="First contacts", sql=decided_now("fcr_first_contacts"),
    unit="short", decimals=0, steps=_COUNT,
    meaning="eligible contacts with no contact of the same customer and reason in the 7 days before",
)
FCR_SUCCESS: Final = Figure(
    name="fcr_success", title="Successes", sql=decided_now("fcr_success"), unit="short", decimals=0,
    steps=_COUNT, meaning="first contacts resolved and not repeated within 7 days, 7 days on",
)
FCR_FAILURE: Final = Figure(
    name="fcr_failure", title="Failures", sql=decided_now("fcr_failure"), unit="short", decimals=0,
    steps=_COUNT, meaning="first contacts not resolved, or repeated within 7 days",
)
FCR_PENDING: Final = Figure(
    name="fcr_pending", title="Pending", sql=decided_now("fcr_pending"), unit="short", decimals=0,
    steps=_COUNT, meaning="first contacts resolved, under 7 days old, not repeated so far",
)
REPEAT_CONTACTS: Final = Figure(
    name="repeat_contacts", title="Repeat contacts", sql=decided_now("repeat_contacts"), unit="short",
    decimals=0, steps=_COUNT,
    meaning="eligible contacts within 7 days after a contact of the same customer and reason",
)
ELIGIBLE_CONTACTS: Final = Figure(
    name="eligible_contacts", title="Eligible contacts", sql="sum(removed = 0)", unit="short", decimals=0,
    steps=_COUNT, meaning="contacts with a customer and a contact reason (one fcr_contacts row each)",
)
FCR_PCT: Final = Figure(
    name="fcr_pct", title="FCR %",
    sql=RATIOS["fcr_pct"].masked_sql(
        MIN_N_SQL, {"fcr_success": FCR_SUCCESS.sql, "fcr_failure": FCR_FAILURE.sql}.__getitem__),
    unit="percent", decimals=1,
    steps=thresholds(Step("red"), Step("orange", 65), Step("green", 75)),
    meaning="successes / (successes + failures) x 100; pending first contacts not counted",
)
REPEAT_CONTACT_RATE: Final = Figure(
    name="repeat_contact_rate", title="Repeat-contact rate",
    sql=RATIOS["repeat_contact_rate"].masked_sql(
        MIN_N_SQL,
        {"repeat_contacts": REPEAT_CONTACTS.sql, "fcr_eligible": ELIGIBLE_CONTACTS.sql}.__getitem__),
    unit="percent", decimals=1,
    steps=thresholds(Step("green"), Step("orange", 15), Step("red", 25)),
    meaning="repeat contacts / eligible contacts x 100",
)

# --- the FCR gap: minute_counts' survey answers next to fcr_contacts' outcomes -----------------

_GAP_BRANCHES: Final = (
    (MINUTES, {"survey_yes": "toUInt64(sum(survey_fcr_yes))",
               "survey_answers": "toUInt64(sum(survey_fcr_responses))",
               "successes": "toUInt64(0)", "failures": "toUInt64(0)"}),
    (FCR_CONTACTS, {"survey_yes": "toUInt64(0)", "survey_answers": "toUInt64(0)",
                    "successes": FCR_SUCCESS.sql, "failures": FCR_FAILURE.sql}),
)
"""Per channel, one branch per source with the other source's counts as 0 (same types: UInt64;
minute counts are signed deltas, their sums never negative)."""
SURVEY_FCR_ANSWERS: Final = Figure(
    name="survey_fcr_answers", title="Survey FCR answers", sql="sum(survey_answers)", unit="short",
    decimals=0, steps=_COUNT, meaning='survey responses answering "resolved at first contact?"',
)
SURVEY_FCR_PCT: Final = Figure(
    name="survey_fcr_pct", title="Survey FCR %",
    sql=RATIOS["survey_fcr_pct"].masked_sql(
        MIN_N_SQL,
        {"survey_fcr_yes": "sum(survey_yes)", "survey_fcr_responses": "sum(survey_answers)"}.__getitem__),
    unit="percent", decimals=1,
    steps=FCR_PCT.steps, meaning='"yes" answers / survey FCR answers x 100',
)
FCR_DECIDED: Final = Figure(
    name="fcr_decided", title="Decided first contacts", sql="sum(successes) + sum(failures)",
    unit="short", decimals=0, steps=_COUNT, meaning="first contacts decided: successes + failures",
)
OPERATIONAL_FCR_PCT: Final = Figure(
    name="fcr_pct", title="Operational FCR %",
    sql=RATIOS["fcr_pct"].masked_sql(
        MIN_N_SQL, {"fcr_success": "sum(successes)", "fcr_failure": "sum(failures)"}.__getitem__),
    unit="percent",
    decimals=1, steps=FCR_PCT.steps, meaning=FCR_PCT.meaning,
)
FCR_GAP: Final = Figure(
    name="fcr_gap", title="FCR gap", sql=f"({SURVEY_FCR_PCT.sql}) - ({OPERATIONAL_FCR_PCT.sql})",
    unit="suffix: pp", decimals=1, steps=_COUNT,
    meaning="survey FCR % - operational FCR %, in percentage points",
)
GAP_FIGURES: Final = (SURVEY_FCR_ANSWERS, SURVEY_FCR_PCT, FCR_DECIDED, OPERATIONAL_FCR_PCT, FCR_GAP)

# --- query builders -------------------------------------------------------------------------------------


def _select_list(items: Sequence[str]) -> str:
    return ",\n    ".join(items)


def _figure_columns(figures: Sequence[Figure]) -> list[str]:
    return [f"{f.sql} AS {checked_identifier(f.name)}" for f in figures]


def _query(source: Source, keys: Sequence[str], columns: Sequence[str], bucket: str | None,
           *, ordered: bool = True) -> str:
    group = (["time"] if bucket else []) + [checked_identifier(k) for k in keys]
    select = ([f"{bucket} AS time"] if bucket else []) + [*keys, *columns]
    return "\n".join([
        *source.prelude(),
        f"SELECT\n    {_select_list(select)}",
        f"FROM {source.table}",
        f"WHERE {TIME_FILTER}\n  AND {SCOPE_FILTER}",
        f"GROUP BY {', '.join(group)}",
        *([f"ORDER BY {', '.join(group)}"] if ordered else []),
    ])


def grouped(figures: Sequence[Figure], keys: Sequence[str] = ("channel",), source: Source = MINUTES,
            bucket: str | None = None) -> str:
    """One row per group in the panel's range, with at least one row of ``source``.

    Columns: ``time`` (the ``bucket`` start, if a bucket is given), ``keys``, then each figure by its
    name.
    """
    return _query(source, keys, _figure_columns(figures), bucket)


def by_channel(figures: Sequence[Figure], source: Source = MINUTES) -> str:
    """One row per channel in the panel's time range: ``channel`` then each figure by its name."""
    return grouped(figures, ("channel",), source)


def by_channel_every_5_minutes(figure: Figure) -> str:
    """Long format for a time series: (``time`` = 5-minute bucket start, ``channel``, figure)."""
    return grouped([figure], ("channel",), MINUTES, BUCKET_5M)


def by_channel_every_hour(figure: Figure, source: Source = MINUTES) -> str:
    """Long format for a time series: (``time`` = hour start, ``channel``, figure)."""
    return grouped([figure], ("channel",), source, BUCKET_1H)


Branches = Sequence[tuple[Source, dict[str, str]]]
"""Sources of one combined query, each with its counts (name -> SQL; the other sources' as 0)."""


def combined(branches: Branches, keys: Sequence[str], figures: Sequence[Figure], having: str = "") -> str:
    """One row per group of ``keys`` with a row in any branch: the figures over the summed branches."""
    checked = [checked_identifier(k) for k in keys]
    parts = [_query(source, checked, [f"{sql} AS {checked_identifier(name)}" for name, sql in counts.items()],
                    None, ordered=False)
             for source, counts in branches]
    union = textwrap.indent("\nUNION ALL\n".join(parts), "    ")
    return "\n".join([
        f"SELECT\n    {_select_list([*checked, *_figure_columns(figures)])}",
        f"FROM (\n{union}\n)",
        f"GROUP BY {', '.join(checked)}",
        *([f"HAVING {having}"] if having else []),
        f"ORDER BY {', '.join(checked)}",
    ])


def fcr_gap_by_channel() -> str:
    """Per channel: survey FCR (minute_counts) next to operational FCR (fcr_contacts), and the gap.

    A channel with events of either kind in the range has a row; a figure without a denominator is
    NULL, and so is the gap then.
    """
    return combined(_GAP_BRANCHES, ["channel"], GAP_FIGURES)
