"""The fixes board, and fixes as annotations on every board.

A fix (``fixes``, recorded by ``cxpulse fixes add``) is a scope, an event time and a note. Every board
draws the fixes in its time range as annotations (``fixes_annotation``). The "Fixes" board lists
them with the verdicts of their latest before/after comparison (``fix_comparisons``, written by
``cxpulse fixes compare``: the statistics, exact tests included, live in ``sql.stats``, which SQL
cannot run; "not compared yet" until then): per figure the difference after - before, its p-value
and verdict, and the fix's overall verdict.
"""

from __future__ import annotations

from typing import Final

from dashboards.panels import JSON, Column, Layout, annotation, dashboard, table
from dashboards.variables import board_variables
from sql.fixes import FIGURES, OVERALL

UID: Final = "cxpulse-fixes"
TITLE: Final = "cxpulse / Fixes"
TIME_FROM: Final = "now-90d"
SCOPE_TEXT: Final = ("arrayStringConcat(arrayMap((k, v) -> concat(k, '=', v), scope_keys, scope_values), "
                     "',')")
IN_RANGE: Final = "at >= $__fromTime AND at <= $__toTime"
NOT_COMPARED: Final = "not compared yet"
_TITLES: Final = {"csat_pct": "CSAT %", "nps": "NPS", "ces_mean": "CES", "fcr_pct": "FCR %"}


def recorded_sql() -> str:
    """Fixes whose time lies in the range: id, time, scope as text, note."""
    return f"SELECT fix_id, at, {SCOPE_TEXT} AS scope_text, note FROM fixes FINAL WHERE {IN_RANGE}"  # noqa: S608


def annotation_sql() -> str:
    """One annotation per fix in the range: ``time``, ``text`` (id, scope, note) and ``tags``."""
    return "\n".join([
        "SELECT at AS time, concat('Fix ', fix_id, ' (', scope_text, '): ', note) AS text,",
        "    concat('fix,', scope_text) AS tags",
        f"FROM ({recorded_sql()})",
        "ORDER BY time, fix_id",
    ])


def fixes_annotation() -> JSON:
    """Fixes as annotations: a line at each fix's time, drawn on every board."""
    return annotation("Fixes", annotation_sql(), color="green")


def _verdict(figure: str) -> str:
    return f"if(countIf(figure = '{figure}') = 0, '{NOT_COMPARED}', anyIf(verdict, figure = '{figure}'))"


def list_sql() -> str:
    """Fixes in the range, newest first, with each figure's latest difference, p-value and verdict."""
    per_figure = []
    for f in FIGURES:
        per_figure += [f"anyIf(difference, figure = '{f}') AS {f}_difference",
                       f"anyIf(p_value, figure = '{f}') AS {f}_p", f"{_verdict(f)} AS {f}_verdict"]
    return "\n".join([
        f"SELECT fix_id, at, scope_text, note, {_verdict(OVERALL)} AS fix_verdict,",
        "    " + ",\n    ".join(per_figure) + ",",
        "    if(countIf(figure != '') = 0, NULL, max(compared_at)) AS compared",
        f"FROM ({recorded_sql()}) AS recorded",
        "ALL LEFT JOIN (SELECT fix_id, figure, verdict, difference, p_value, compared_at",
        "    FROM fix_comparisons FINAL) AS comparisons USING fix_id",
        "GROUP BY fix_id, at, scope_text, note",
        "ORDER BY at DESC, fix_id",
    ])


def list_columns() -> list[Column]:
    """The columns of the fixes table, in query order."""
    columns = [Column("fix_id", "Fix", unit="string"), Column("at", "At", unit="dateTimeAsIso"),
               Column("scope_text", "Scope", unit="string"), Column("note", "Note", unit="string"),
               Column("fix_verdict", "Verdict", unit="string")]
    for f in FIGURES:
        decimals = 2 if f == "ces_mean" else 1
        columns += [Column(f"{f}_difference", f"{_TITLES[f]} after - before", "none", decimals),
                    Column(f"{f}_p", f"{_TITLES[f]} p", "none", 3),
                    Column(f"{f}_verdict", f"{_TITLES[f]} verdict", unit="string")]
    return [*columns, Column("compared", "Compared at", unit="dateTimeAsIso")]


def fixes_table() -> JSON:
    """Every fix in the range with its verdicts."""
    return table(
        "Fixes and their verdicts", list_sql(),
        description="Each fix recorded in the range (cxpulse fixes add): its scope and note, the overall "
                    "verdict and, per figure, after - before, the two-sided p-value and the verdict "
                    "(improved / worse only when p < 0.05; not enough data below min n), from its latest "
                    f"cxpulse fixes compare (\"{NOT_COMPARED}\" before one). Before = [at - 14 d, at), "
                    "after = [at, at + 14 d) unless the comparison was run with other windows.",
        columns=list_columns())


def build() -> JSON:
    """The whole board as Grafana dashboard JSON."""
    layout = Layout()
    layout.add_row("Fixes")
    layout.add(fixes_table(), width=24, height=12)
    return dashboard(
        UID, TITLE, description="Fixes a team made, and whether each one worked (before/after comparison).",
        panels=layout.panels, variables=board_variables(), tags=["cxpulse", "cx", "fixes"],
        time_from=TIME_FROM, refresh="5m", annotations=[fixes_annotation()])
