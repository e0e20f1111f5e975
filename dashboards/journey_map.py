"""The journey map board: every figure per journey stage x touchpoint, its change, moments of truth.

- "Journey map": per (stage, touchpoint), stages in journey order, over the dashboard range: volume,
  CSAT %, NPS, CES mean and complaint rate, each with its n and masked below ``min_n``, and the
  change of CSAT %, NPS and volume against the previous period of the same length
  (``[from - (to - from), from)``; NULL where either period's figure is masked);
- FCR per (stage, touchpoint) from ``fcr_contacts``;
- moments of truth: per touchpoint, NPS of customers who passed through it without a problem there
  minus NPS of those with one (``sql.journey``), and whether it is configured as one (the
  ``moments_of_truth`` text-box variable: comma-separated touchpoints);
- CSAT % per stage every hour.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from dashboards.fixes_board import fixes_annotation
from dashboards.panels import JSON, Column, Layout, dashboard, table, textbox_variable, time_series
from dashboards.queries import (
    BUCKET_1H,
    CSAT_PCT,
    FCR_CONTACTS,
    FCR_FIRST_CONTACTS,
    FCR_PCT,
    FCR_PENDING,
    MINUTES,
    grouped,
)
from dashboards.variables import BOARD_SELECTION, MASKED, MIN_N_SQL, SCOPE_FILTER, board_variables
from sql.figures import RATIOS
from sql.journey import MOT_RATIOS, STAGES, moments_of_truth_sql

UID: Final = "cxpulse-journey-map"
TITLE: Final = "cxpulse / Journey map"
TIME_FROM: Final = "now-7d"
PERIODS_FILTER: Final = ("minute >= $__fromTime - (toUInt32($__toTime) - toUInt32($__fromTime)) "
                         "AND minute <= $__toTime")
"""Minute buckets of the range and of the previous period of the same length."""
CURRENT: Final = "minute >= $__fromTime"
STAGE_ORDER: Final = f"indexOf([{', '.join(repr(s) for s in STAGES)}], journey_stage)"
MAP_RATIOS: Final = (("csat_pct", "CSAT %", "csat_responses", 1), ("nps", "NPS", "nps_responses", 1),
                     ("ces_mean", "CES mean", "ces_responses", 2),
                     ("complaint_rate", "Complaint rate", "contacts", 1))
"""(figure, title, its n, decimals) of each cell, left to right."""
CHANGES: Final = ("csat_pct", "nps")


def _count(condition: str) -> Callable[[str], str]:
    return lambda name: f"sumIf({name}, {condition})"


def map_sql() -> str:
    """One row per (stage, touchpoint) with events in the range: figures, n and changes."""
    now, before = _count("in_range"), _count("NOT in_range")
    columns = ["journey_stage", "touchpoint", "sumIf(events, in_range) AS volume"]
    for name, _title, n, _decimals in MAP_RATIOS:
        columns += [f"{RATIOS[name].masked_sql(MIN_N_SQL, now)} AS {name}", f"sumIf({n}, in_range) AS {n}_n"]
    for name in CHANGES:
        columns.append(f"({RATIOS[name].masked_sql(MIN_N_SQL, now)}) - "
                       f"({RATIOS[name].masked_sql(MIN_N_SQL, before)}) AS {name}_change")
    columns.append("toInt64(sumIf(events, in_range)) - toInt64(sumIf(events, NOT in_range)) AS volume_change")
    return "\n".join([
        f"WITH {CURRENT} AS in_range",
        "SELECT\n    " + ",\n    ".join(columns),
        f"FROM {MINUTES.table}",
        f"WHERE {PERIODS_FILTER}\n  AND {SCOPE_FILTER}",
        "GROUP BY journey_stage, touchpoint",
        "HAVING sumIf(events, in_range) > 0",
        f"ORDER BY {STAGE_ORDER}, touchpoint",
    ])


def map_columns() -> list[Column]:
    """The journey map's columns, in query order."""
    columns = [Column("journey_stage", "Stage", unit="string"),
               Column("touchpoint", "Touchpoint", unit="string"), Column("volume", "Volume")]
    for name, title, n, decimals in MAP_RATIOS:
        unit = "percent" if name.endswith(("_pct", "_rate")) else "none"
        columns += [Column(name, title, unit, decimals, no_value=MASKED), Column(f"{n}_n", "n")]
    columns += [Column(f"{name}_change", f"{title} change", "none", 1, no_value="-")
                for name, title, _n, _d in MAP_RATIOS if name in CHANGES]
    return [*columns, Column("volume_change", "Volume change")]


def journey_table() -> JSON:
    """The journey map itself."""
    return table(
        "Journey map: stage x touchpoint", map_sql(),
        description="Per journey stage and touchpoint, stages in journey order: volume, CSAT %, NPS, CES "
                    "mean and complaint rate, each with its n, and the change of CSAT %, NPS and volume "
                    "against the previous period of the same length. "
                    f"\"{MASKED}\": fewer than min n answers (then no change either).",
        columns=map_columns())


def fcr_table() -> JSON:
    """FCR per stage x touchpoint (first contacts' own stage and touchpoint)."""
    figures = (FCR_FIRST_CONTACTS, FCR_PCT, FCR_PENDING)
    return table(
        "FCR by stage x touchpoint", grouped(figures, ("journey_stage", "touchpoint"), FCR_CONTACTS),
        description=f"FCR % = {FCR_PCT.meaning}, of the first contacts at each stage and touchpoint; "
                    f"pending ones beside it. \"{MASKED}\" below min n decided first contacts.",
        columns=[Column("journey_stage", "Stage", unit="string"),
                 Column("touchpoint", "Touchpoint", unit="string"), *(f.column() for f in figures)])


def moments_sql() -> str:
    """Per touchpoint: both NPS with their n, the moment-of-truth score, and whether configured."""
    nps = [f"{ratio.masked_sql(MIN_N_SQL, lambda n: n)} AS {name}" for name, ratio in MOT_RATIOS.items()]
    return "\n".join([
        "SELECT touchpoint, " + ", ".join(nps) + ",",
        "    clean_customers, problem_customers,",
        "    nps_without_problem - nps_with_problem AS mot_score,",
        "    toUInt8(has(splitByChar(',', replaceAll(${moments_of_truth:singlequote}, ' ', '')), touchpoint))"
        " AS configured",
        f"FROM ({moments_of_truth_sql(BOARD_SELECTION)})",
        "ORDER BY touchpoint",
    ])


def moments_table() -> JSON:
    """Moment-of-truth scores of every touchpoint."""
    return table(
        "Moments of truth", moments_sql(),
        description="Among customers with an NPS answer who passed through the touchpoint: NPS of those "
                    "with no problem there minus NPS of those with one (each customer's latest NPS "
                    "answer). A large score means a problem there costs loyalty. Configured = listed in "
                    f"the moments_of_truth variable. \"{MASKED}\" when either group is below min n.",
        columns=[Column("touchpoint", "Touchpoint", unit="string"),
                 Column("nps_without_problem", "NPS, no problem there", "none", 1, no_value=MASKED),
                 Column("nps_with_problem", "NPS, problem there", "none", 1, no_value=MASKED),
                 Column("clean_customers", "n (no problem)"), Column("problem_customers", "n (problem)"),
                 Column("mot_score", "Moment-of-truth score", "none", 1, no_value=MASKED),
                 Column("configured", "Configured")],
        sort_by="Moment-of-truth score")


def csat_by_stage() -> JSON:
    """CSAT % per stage every hour."""
    return time_series(
        "CSAT % by journey stage, every hour", grouped([CSAT_PCT], ("journey_stage",), MINUTES, BUCKET_1H),
        description=f"CSAT % = {CSAT_PCT.meaning}, per hour and stage; a gap: fewer than min n answers.",
        unit=CSAT_PCT.unit, decimals=CSAT_PCT.decimals, series_label="journey_stage")


def build() -> JSON:
    """The whole board as Grafana dashboard JSON."""
    layout = Layout()
    layout.add_row("The journey, stage by stage")
    layout.add(journey_table(), width=24, height=14)
    layout.add_row("First-contact resolution and moments of truth")
    layout.add(fcr_table(), width=12, height=10)
    layout.add(moments_table(), width=12, height=10)
    layout.add(csat_by_stage(), width=24, height=8)
    return dashboard(
        UID, TITLE,
        description="Every figure per journey stage and touchpoint, its change, and moments of truth.",
        panels=layout.panels,
        variables=[*board_variables(), textbox_variable("moments_of_truth", "Moments of truth", "")],
        tags=["cxpulse", "cx", "journey"], time_from=TIME_FROM, refresh="1m",
        annotations=[fixes_annotation()])
