"""Pure helpers of the benchmark reports: percentiles, number formats, tables (text and markdown)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, nearest rank: a value that was measured.

    The smallest value with at least q% of the values at or below it. NaN for no values.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside 0-100")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Latency:
    """Latency figures of one run, in milliseconds."""

    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @staticmethod
    def of(values_ms: Sequence[float]) -> Latency:
        """The figures of these samples."""
        return Latency(len(values_ms), percentile(values_ms, 50), percentile(values_ms, 99),
                       max(values_ms) if values_ms else math.nan)


def number(value: float | None, digits: int = 0) -> str:
    """``12,345`` (or ``12.3`` with ``digits``); ``-`` for nothing or NaN."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def ratio(value: float | None, of: float | None) -> str:
    """``value / of`` as ``0.42``; ``-`` when either is missing or ``of`` is 0."""
    if value is None or not of or math.isnan(value) or math.isnan(of):
        return "-"
    return f"{value / of:.2f}"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]) -> str:
    """A fixed-width table: numeric columns right-aligned, others left; a rule under the header."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.rjust(w) if right else cell.ljust(w)
                         for cell, w, right in zip(cells, widths, numeric, strict=True)).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths),
                      *(line(row) for row in rows)])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]) -> str:
    """The same table in markdown (numeric columns right-aligned); ``|`` in a cell is escaped."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    rule = "| " + " | ".join("---:" if right else "---" for right in numeric) + " |"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])
