"""``cxpulse alerts backtest``: replay stored history through the detector, minute by minute."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sql.client import Database
from streams.alerts.detector import Detector, DetectorParams
from streams.alerts.store import load_history


def backtest(db: Database, start_s: int, end_s: int, params: DetectorParams | None = None,
             board_url: str = "") -> Iterator[dict[str, Any]]:
    """Every alert transition the detector would have made for event-time minutes in [start, end)."""
    params = params or DetectorParams()
    first = start_s - start_s % 60 + 60
    history = load_history(db, first - max(params.windows_min) * 60 - params.baseline_s, end_s)
    detector = Detector(params, board_url)
    for end in range(first, end_s + 1, 60):
        yield from detector.evaluate(end, history.window_counts(end, params))


def describe(alert: dict[str, Any]) -> str:
    """One line per alert, evidence included."""
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(alert["at"], UTC).strftime("%Y-%m-%d %H:%M")
    line = f"{at}  {alert['status']:<8} {alert['scope_kind']}={alert['scope']}"
    if "recent_pct" in alert:
        low, high = alert["recent_interval"]
        line += (f"  CSAT {alert['recent_pct']:.1f}% [{low:.1f}-{high:.1f}] n={alert['recent_n']} "
                 f"({alert['window_min']} min) vs {alert['baseline_pct']:.1f}% n={alert['baseline_n']}"
                 f"  drop {alert['effect_pts']:.1f} pts, p={alert['p_value']:.2g}")
    return line
