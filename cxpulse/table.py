"""Plain-text table of figures for ``cxpulse metrics --format table``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

FIGURE_COLUMNS = (
    ("events", "events"), ("csat_pct", "CSAT %"), ("csat_responses", "n"), ("nps", "NPS"),
    ("nps_responses", "n"), ("ces_mean", "CES"), ("ces_responses", "n"), ("contacts", "contacts"),
    ("complaint_rate", "compl %"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def render_table(rows: list[dict[str, Any]], by: list[str], grain: str) -> str:
    """Aligned columns: time bucket (unless total), the dimensions, then the headline figures."""
    keys = (["bucket"] if grain != "total" else []) + by
    header = [*keys, *(label for _, label in FIGURE_COLUMNS)]
    body = []
    for row in rows:
        cells = []
        for key in keys:
            value = row.get(key)
            if key == "bucket" and value is not None:
                value = datetime.fromtimestamp(int(value), UTC).strftime("%Y-%m-%d %H:%M")
            cells.append(_cell(value) if value != "" else "(none)")
        cells += [_cell(row.get(name)) for name, _ in FIGURE_COLUMNS]
        body.append(cells)
    if not body:
        return "no events in that time range"
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body, strict=False)]
    lines = ["  ".join(str(c).rjust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *body]]
    return "\n".join(lines)
