"""Satisfaction-drop alerts on the boards: an annotation query and a table over ``alerts``.

``alerts`` holds one FIRING and (once it resolved) one RESOLVED row per ``alert_id`` (a
``ReplacingMergeTree``: read with ``FINAL``). An alert is shown once, with the evidence it fired on (its
FIRING row) and its resolution time (its RESOLVED row's ``at``, if any):

- it is **in the dashboard range** iff it was first seen at or before the range's end and it is still
  firing or resolved at or after the range's start (it overlaps the range);
- a channel or channel x touchpoint alert follows the ``channel`` variable (the scope's channel is the
  part before ``/``); partner and location alerts span channels and are always shown.

SQL for ClickHouse 18.16 and modern ClickHouse alike: an equality ``ALL LEFT JOIN ... USING alert_id``
(an unmatched alert gets the right side's defaults, ``resolved = 0``), aliases that never repeat a
column name (18.16 lets an alias shadow a column anywhere in the query).
"""

from __future__ import annotations

from typing import Final

from dashboards.panels import JSON, Column, annotation, table

ALERT_CHANNEL_FILTER: Final = (
    "(scope_kind NOT IN ('channel', 'channel_touchpoint') "
    "OR splitByChar('/', scope)[1] IN (${channel:singlequote}))"
)
"""Channel scopes (``web``, ``web/checkout``) follow the ``channel`` variable; partner and location
scopes are always shown."""
EVIDENCE: Final = ("window_min", "recent_pct", "recent_low", "recent_high", "recent_n", "baseline_pct",
                   "baseline_n", "effect_pts", "p_value")
"""The FIRING row's evidence, as stored (percent, counts, p-value)."""


def alert_spans_sql() -> str:
    """One row per alert overlapping the range, with its status now and the evidence it fired on.

    Columns: scope, ``first_seen``, ``alert_status`` (FIRING or RESOLVED), ``resolved_at`` (NULL while
    firing), ``EVIDENCE`` and ``link``.
    """
    evidence = ", ".join(EVIDENCE)
    return "\n".join([
        "SELECT alert_id, scope_kind, scope, first_seen,",
        "    if(resolved = 1, 'RESOLVED', 'FIRING') AS alert_status,",
        "    if(resolved = 1, resolved_time, NULL) AS resolved_at,",
        f"    {evidence}, link",
        "FROM (",
        f"    SELECT alert_id, scope_kind, scope, first_seen, {evidence}, link",
        "    FROM alerts FINAL",
        f"    WHERE status = 'FIRING' AND first_seen <= $__toTime\n      AND {ALERT_CHANNEL_FILTER}",
        ") AS fired",
        "ALL LEFT JOIN (",
        "    SELECT alert_id, at AS resolved_time, toUInt8(1) AS resolved",
        "    FROM alerts FINAL",
        "    WHERE status = 'RESOLVED'",
        ") AS resolutions USING alert_id",
        "WHERE resolved = 0 OR resolved_time >= $__fromTime",
    ])


def _pct(column: str) -> str:
    return f"ifNull(toString(round({column}, 1)), '?')"


ANNOTATION_TEXT: Final = (
    "concat('CSAT % drop (', scope_kind, ' ', scope, '): ', "
    f"{_pct('recent_pct')}, '% [', {_pct('recent_low')}, ', ', {_pct('recent_high')}, '] n=', "
    "toString(recent_n), ' in ', toString(window_min), ' min vs baseline ', "
    f"{_pct('baseline_pct')}, '% n=', toString(baseline_n), '; effect ', {_pct('effect_pts')}, "
    "' pts; ', alert_status)"
)


def annotation_sql() -> str:
    """Annotation rows, one per alert overlapping the range.

    ``time`` = first seen, ``timeEnd`` = resolved (NULL while firing: a line, not a region), ``text``
    with the evidence, ``tags`` = scope kind and scope.
    """
    return "\n".join([
        f"SELECT first_seen AS time, resolved_at AS timeEnd,\n    {ANNOTATION_TEXT} AS text,",
        "    concat(scope_kind, ',', scope) AS tags",
        f"FROM (\n{alert_spans_sql()}\n)",
        "ORDER BY time, alert_id",
    ])


TABLE_COLUMNS: Final = (
    Column("scope_kind", "Scope kind", unit="string"), Column("scope", "Scope", unit="string"),
    Column("alert_status", "Status now", unit="string"),
    Column("first_seen", "First seen", unit="dateTimeAsIso"),
    Column("resolved_at", "Resolved at", unit="dateTimeAsIso"),
    Column("window_min", "Window (min)"),
    Column("recent_pct", "Recent CSAT %", unit="percent", decimals=1),
    Column("recent_low", "95% low", unit="percent", decimals=1),
    Column("recent_high", "95% high", unit="percent", decimals=1),
    Column("recent_n", "Recent n"),
    Column("baseline_pct", "Baseline CSAT %", unit="percent", decimals=1),
    Column("baseline_n", "Baseline n"),
    Column("effect_pts", "Drop (pts)", unit="none", decimals=1),
    Column("p_value", "p-value", unit="sci", decimals=2),
    Column("link", "Board", unit="string", url=True),
)


def table_sql() -> str:
    """The alerts table: every alert overlapping the range once, latest first seen first."""
    names = ", ".join(c.name for c in TABLE_COLUMNS)
    return f"SELECT {names}\nFROM (\n{alert_spans_sql()}\n)\nORDER BY first_seen DESC, alert_id"


def alerts_table() -> JSON:
    """Satisfaction-drop alerts overlapping the dashboard range, with their evidence."""
    return table(
        "Satisfaction-drop alerts",
        table_sql(),
        description="Every alert overlapping the dashboard range, once: status now (FIRING until its "
                    "RESOLVED event), first seen, resolved at, and the evidence it fired on: recent "
                    "CSAT % with its 95% Wilson interval and n over the window, the scope's trailing "
                    "7-day baseline CSAT % and n, the drop in points and the one-sided p-value. Channel "
                    "and channel x touchpoint alerts follow the channel variable; partner and location "
                    "alerts are always shown.",
        columns=TABLE_COLUMNS,
    )


def alerts_annotation() -> JSON:
    """Alerts as annotations: a region from first seen to resolution, a line while still firing."""
    return annotation("Satisfaction-drop alerts", annotation_sql())
