"""A board drawn from live data without Grafana: its panels' SQL run on ClickHouse, drawn with matplotlib.

No Grafana runs on these machines, so ``cxpulse dashboards render`` shows what a board shows: every
ClickHouse panel's query, expanded exactly as the Grafana plugin would (``dashboards.macros``: time
range, every scope variable on "All", each text box at its default), run on the configured database,
and drawn in the look of ``cxpulse.charts``: stat panels as tiles, time series as lines, tables as
their first rows. One PNG per board; a panel whose query fails shows the error instead of a figure.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

from cxpulse.charts import BLUE, FONT, GREY, RED
from dashboards.build import BOARDS
from dashboards.macros import TimeRange, Variables, expand
from dashboards.panels import JSON, sql_queries
from sql.client import Database

TABLE_ROWS: Final = 8
TABLE_COLUMNS: Final = 7
STATS_PER_ROW: Final = 4
STAT_VALUES: Final = 7
COLORS: Final = (BLUE, RED, "#5b9a4b", "#d08a2c", GREY, "#7b5ea7")


@dataclass
class PanelResult:
    """One panel's query result (or the error it gave)."""

    title: str
    kind: str
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    fields: str = ""
    """A stat panel's field regex (``reduceOptions.fields``): the column it shows; empty: the first number."""


def board_variables(db: Database, board: JSON, time_range: TimeRange) -> Variables:
    """Every query variable on all of its options (Grafana's "All"), every text box at its default."""
    chosen: dict[str, str | Sequence[str]] = {}
    for variable in board.get("templating", {}).get("list", []):
        if variable["type"] == "query":
            rows = db.execute(expand(variable["query"], time_range, chosen))
            chosen[variable["name"]] = [str(row[0]) for row in rows] or ["(none)"]
        elif variable["type"] == "textbox":
            chosen[variable["name"]] = str(variable["query"])
    return chosen


def run_panels(db: Database, board: JSON, time_range: TimeRange) -> list[PanelResult]:
    """Every ClickHouse panel of ``board``, in board order, with its rows."""
    variables = board_variables(db, board, time_range)
    results = []
    for panel, sql in sql_queries(board):
        fields = str(panel.get("options", {}).get("reduceOptions", {}).get("fields") or "")
        result = PanelResult(str(panel.get("title", "")), str(panel["type"]), fields=fields.strip("/"))
        try:
            rows = db.query(expand(sql, time_range, variables))
        except Exception as exc:  # shown on the picture: a preview must show every panel
            result.error = f"{type(exc).__name__}: {exc}"[:300]
        else:
            result.rows = rows
            result.columns = list(rows[0]) if rows else []
        results.append(result)
    return results


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _text(value: Any) -> str:
    if value is None:
        return "n<min"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, dt.datetime):
        return value.strftime("%m-%d %H:%M")
    return str(value)[:28]


def _stat(axes: Axes, result: PanelResult) -> None:
    """One value large; a value per row (e.g. per channel) as a short list, as Grafana repeats it."""
    axes.axis("off")
    axes.text(0.02, 0.86, result.title[:44], fontsize=8, color=GREY, transform=axes.transAxes)
    shown = []
    for row in result.rows[:STAT_VALUES]:
        label = next((str(v) for v in row.values() if isinstance(v, str)), "")
        if result.fields:
            value = next((v for k, v in row.items() if re.fullmatch(result.fields, k)), None)
        else:
            value = next((v for v in row.values() if _number(v) is not None), None)
        shown.append((label, _text(value)))
    if len(shown) <= 1:
        text = shown[0][1] if shown else "no data"
        axes.text(0.02, 0.3, text, fontsize=18, color=BLUE, transform=axes.transAxes)
        return
    for i, (label, text) in enumerate(shown):
        axes.text(0.02, 0.7 - i * 0.11, f"{label[:18]:<18} {text}", fontsize=7, color=BLUE,
                  family="DejaVu Sans Mono", transform=axes.transAxes)


def _as_time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str):  # chDB gives DateTime as text
        try:
            return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
        except ValueError:
            return None
    number = _number(value)
    if number is None:
        return None
    return dt.datetime.fromtimestamp(number / 1000 if number > 1e11 else number, dt.UTC)


def _timeseries(axes: Axes, result: PanelResult) -> None:
    """Grafana's long format: ``time``, label columns (strings) naming the series, value columns."""
    series: dict[str, list[tuple[dt.datetime, float]]] = defaultdict(list)
    for row in result.rows:
        at = _as_time(row.get("time"))
        if at is None:
            continue
        label = "/".join(str(v) for k, v in row.items() if k != "time" and isinstance(v, str))
        for column, value in row.items():
            number = _number(value)
            if column != "time" and number is not None:
                series[f"{label} {column}".strip()].append((at, number))
    for (name, points), color in zip(sorted(series.items())[:len(COLORS)], COLORS, strict=False):
        points.sort()
        axes.plot([p[0].timestamp() for p in points], [p[1] for p in points], label=name[:40],
                  color=color, linewidth=1.4)
    axes.xaxis.set_major_formatter(FuncFormatter(
        lambda x, _pos: f"{dt.datetime.fromtimestamp(x, dt.UTC):%m-%d %H:%M}"))
    if series:
        axes.legend(fontsize=6, frameon=False, loc="upper left")
    axes.tick_params(labelsize=6)
    axes.spines[["top", "right"]].set_visible(False)


def _table(axes: Axes, result: PanelResult) -> None:
    axes.axis("off")
    if not result.rows:
        axes.text(0.01, 0.5, "no rows", fontsize=8, color=GREY, transform=axes.transAxes)
        return
    columns = result.columns[:TABLE_COLUMNS]
    cells = [[_text(row[c]) for c in columns] for row in result.rows[:TABLE_ROWS]]
    table = axes.table(cellText=cells, colLabels=[c[:18] for c in columns], loc="upper left",
                       cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(6)
    table.scale(1, 1.15)


def draw(title: str, results: list[PanelResult], out: Path, subtitle: str = "") -> Path:
    """The board as one PNG: stat tiles first, then each time series and table at full width."""
    plt.rcParams["font.family"] = FONT
    stats = [r for r in results if r.kind == "stat"]
    others = [r for r in results if r.kind != "stat"]
    stat_rows = -(-len(stats) // STATS_PER_ROW)
    heights = [1.4] * stat_rows + [2.6] * len(others)
    figure = plt.figure(figsize=(11, 0.8 + sum(heights)))
    grid = figure.add_gridspec(max(len(heights), 1), STATS_PER_ROW, height_ratios=heights or [1],
                               hspace=0.55)
    for i, result in enumerate(stats):
        _draw_one(figure.add_subplot(grid[i // STATS_PER_ROW, i % STATS_PER_ROW]), result)
    for j, result in enumerate(others):
        axes = figure.add_subplot(grid[stat_rows + j, :])
        shown = (f"  (first {TABLE_ROWS} of {len(result.rows):,} rows)"
                 if result.kind == "table" and len(result.rows) > TABLE_ROWS else "")
        axes.set_title(result.title + shown, fontsize=9, loc="left")
        _draw_one(axes, result)
    figure.suptitle(f"{title}  {subtitle}".strip(), fontsize=12, x=0.01, ha="left")
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return out


def _draw_one(axes: Axes, result: PanelResult) -> None:
    if result.error:
        axes.axis("off")
        axes.set_title(result.title, fontsize=8, loc="left")
        axes.text(0.01, 0.4, result.error[:120], fontsize=6, color=RED, transform=axes.transAxes,
                  wrap=True)
    elif result.kind == "stat":
        _stat(axes, result)
    elif result.kind == "timeseries":
        _timeseries(axes, result)
    else:
        _table(axes, result)


def render(db: Database, names: Sequence[str], time_range: TimeRange, out_dir: Path
           ) -> list[tuple[Path, list[PanelResult]]]:
    """Draw each board of ``names`` (all when empty) into ``out_dir/<name>.png``."""
    unknown = sorted(set(names) - set(BOARDS))
    if unknown:
        raise ValueError(f"unknown board(s) {', '.join(unknown)}; known: {', '.join(BOARDS)}")
    drawn = []
    window = (f"{dt.datetime.fromtimestamp(time_range.start, dt.UTC):%Y-%m-%d %H:%M} to "
              f"{dt.datetime.fromtimestamp(time_range.end, dt.UTC):%Y-%m-%d %H:%M} UTC")
    for name in names or list(BOARDS):
        board = BOARDS[name]()
        results = run_panels(db, board, time_range)
        drawn.append((draw(str(board["title"]), results, out_dir / f"{name}.png", window), results))
    return drawn
