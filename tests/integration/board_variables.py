"""The template variables a board test expands queries with: "All" of every scope, as Grafana sends it.

Written apart from ``dashboards.variables``: each scope variable's options are the values the inserted
events have (an empty one offered as "(none)"), min n is ``MIN_N``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MIN_N = 5
"""The boards' default min n: the tests recompute every ratio masked below it."""
ASSUMPTIONS = {"clv_defaults": "call_center=400,retail_partner=350,default=300", "loss_silent": "0.25",
               "loss_complained": "0.35", "loss_recovered": "0.1"}
"""The pain-point board's defaults (METRICS.md: documented, printed with every figure)."""
COLUMNS = {"channel": "channel", "touchpoint": "touchpoint", "journey_stage": "journey_stage",
           "partner": "partner_id", "location": "location_id"}


def masked(numerator: float, n: float, scale: float = 100.0) -> float | None:
    """A ratio as a board shows it: None below ``MIN_N`` (and where n is 0)."""
    return None if n < MIN_N else numerator / n * scale


def all_of(events: Iterable[Mapping[str, Any]], channels: Sequence[str] | None = None,
           **overrides: str | Sequence[str]) -> dict[str, str | Sequence[str]]:
    """Every scope variable on All (``channels`` narrows the channel), min n, the assumptions."""
    events = list(events)
    chosen: dict[str, str | Sequence[str]] = {
        name: sorted({(e.get(column) or "") or "(none)" for e in events}) or ["(none)"]
        for name, column in COLUMNS.items()}
    if channels is not None:
        chosen["channel"] = list(channels)
    return {**chosen, "min_n": str(MIN_N), **ASSUMPTIONS, "moments_of_truth": "", **overrides}
