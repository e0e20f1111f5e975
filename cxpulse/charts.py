"""Charts of the report and of the boards' pictures, drawn with matplotlib (SVG, DejaVu Sans).

Each function takes plain numbers (already masked: ``None`` is not drawn, and its label says
``n<N``) and returns the chart as SVG text. The same functions draw the quarterly report and the
boards' panels rendered from live data for the README (``cxpulse dashboards render``), so a figure
looks the same wherever it is shown.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Final

import matplotlib

matplotlib.use("Agg")  # files only: no display on these machines

from matplotlib import pyplot as plt
from matplotlib.figure import Figure

FONT: Final = "DejaVu Sans"
"""Has every Vietnamese letter; Debian's fonts-dejavu-core."""
BLUE: Final = "#3572b0"
RED: Final = "#c8453c"
GREY: Final = "#9a9a9a"


def _svg(figure: Figure) -> str:
    out = io.StringIO()
    figure.savefig(out, format="svg", bbox_inches="tight")
    plt.close(figure)
    return out.getvalue()


def bars(title: str, labels: Sequence[str], values: Sequence[float | None], *, unit: str = "",
         notes: Sequence[str] = (), color: str = BLUE, decimals: int = 1) -> str:
    """Horizontal bars, largest first as given; ``notes`` (e.g. "n=120") beside each bar."""
    plt.rcParams["font.family"] = FONT
    height = 0.8 + 0.34 * max(len(labels), 1)
    figure, axes = plt.subplots(figsize=(7.2, height))
    shown = [0.0 if v is None else float(v) for v in values]
    positions = list(range(len(labels)))[::-1]
    axes.barh(positions, shown, color=[GREY if v is None else color for v in values])
    axes.set_yticks(positions, [str(label)[:48] for label in labels], fontsize=8)
    span = max((abs(v) for v in shown), default=1.0) or 1.0
    for y, value, note in zip(positions, values, [*notes, *[""] * len(labels)], strict=False):
        text = "n<min" if value is None else f"{value:,.{decimals}f}{unit}"
        axes.text((value or 0.0) + span * 0.01, y, f"{text}  {note}".rstrip(), va="center", fontsize=7)
    axes.set_xlim(min(0.0, min(shown, default=0.0)) * 1.15, span * 1.35)
    axes.set_title(title, fontsize=10, loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


def lines(title: str, x: Sequence[str], series: dict[str, Sequence[float | None]], *, unit: str = "") -> str:
    """One line per series over ``x`` (dates as text); gaps where a value is masked (None)."""
    plt.rcParams["font.family"] = FONT
    figure, axes = plt.subplots(figsize=(7.2, 2.6))
    for (name, values), color in zip(series.items(), (BLUE, RED, GREY, "#5b9a4b"), strict=False):
        axes.plot(range(len(x)), [float("nan") if v is None else v for v in values], label=name,
                  color=color, linewidth=1.6, marker="o", markersize=2.5)
    step = max(1, len(x) // 8)
    axes.set_xticks(range(0, len(x), step), [x[i] for i in range(0, len(x), step)], fontsize=7)
    axes.set_ylabel(unit, fontsize=8)
    axes.tick_params(axis="y", labelsize=7)
    axes.legend(fontsize=7, frameon=False)
    axes.set_title(title, fontsize=10, loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


def heatmap(title: str, rows: Sequence[str], columns: Sequence[str],
            values: Sequence[Sequence[float | None]], *, unit: str = "") -> str:
    """A grid of values (masked cells grey, labelled n<min), e.g. CSAT % by stage x touchpoint."""
    plt.rcParams["font.family"] = FONT
    figure, axes = plt.subplots(figsize=(7.2, 0.8 + 0.42 * max(len(rows), 1)))
    grid = [[float("nan") if v is None else float(v) for v in row] for row in values]
    axes.imshow(grid, cmap="RdYlGn", vmin=50, vmax=100, aspect="auto")
    axes.set_xticks(range(len(columns)), columns, fontsize=7, rotation=30, ha="right")
    axes.set_yticks(range(len(rows)), rows, fontsize=8)
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            axes.text(j, i, "" if value is None else f"{value:.0f}{unit}", ha="center", va="center",
                      fontsize=7)
    axes.set_title(title, fontsize=10, loc="left")
    return _svg(figure)
