"""``cxpulse top``: a live terminal view of CSAT %, NPS, CES and volume per channel, from ClickHouse.

A figure over fewer than min n answers shows as ``n<N``; ``--journey`` (the demo's view) adds the
journey map of the last 24 h, each cell against the 24 h before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from rich import box
from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cxpulse import console, cx_view
from sql.client import Database
from sql.figures import MIN_N, figures, mask
from sql.journey import cells

WINDOWS = (("5 min", 300), ("1 h", 3600), ("24 h", 86400))


def _fmt(row: dict[str, Any], name: str, min_n: int) -> str:
    if name in row.get("masked", ()):
        return f"n<{min_n}"
    value = row[name]
    return "-" if value is None else f"{value:.1f}"


def snapshot(db: Database, now_s: int, min_n: int = MIN_N) -> dict[str, dict[str, dict[str, Any]]]:
    """Map channel -> window label -> figures, for each rolling window ending now (sums of minutes)."""
    view: dict[str, dict[str, dict[str, Any]]] = {}
    current_minute = now_s - now_s % 60
    for label, seconds in WINDOWS:
        start = current_minute + 60 - seconds  # the last N minute buckets, the current one included
        for row in figures(db, start, current_minute + 60, ["channel"], "total"):
            view.setdefault(row["channel"], {})[label] = mask(row, min_n)
    return view


def _window_table(view: dict[str, dict[str, dict[str, Any]]], label: str, min_n: int) -> Table:
    """One window's figures: a row per channel."""
    grid = Table(title=label, box=box.SIMPLE_HEAD, header_style="bold", title_style="bold")
    grid.add_column("channel", no_wrap=True, min_width=14)
    for figure in ("CSAT %", "NPS", "CES", "volume"):
        grid.add_column(figure, justify="right", no_wrap=True)
    for channel in sorted(view):
        row = view[channel].get(label)
        if row is None:
            grid.add_row(channel, "-", "-", "-", "0")
        else:
            grid.add_row(channel, _fmt(row, "csat_pct", min_n), _fmt(row, "nps", min_n),
                         _fmt(row, "ces_mean", min_n), f"{row['events']:,}")
    return grid


def render(view: dict[str, dict[str, dict[str, Any]]], now_s: int, min_n: int = MIN_N) -> Group:
    """The figures part of the screen: a table per window, side by side where the terminal is wide."""
    stamp = datetime.fromtimestamp(now_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    head = Text(f"cxpulse top — {stamp} (event time; Ctrl-C to quit)", style="bold")
    if not view:
        return Group(head, Text("no events in the last 24 h yet: is the simulator or a connector running?"))
    return Group(head, Columns([_window_table(view, label, min_n) for label, _ in WINDOWS], padding=(0, 2)))


OPEN_ALERTS = (
    "SELECT alert_id, any(scope_kind) AS scope_kind, any(scope) AS scope, "
    "anyIf(recent_pct, status = 'FIRING') AS recent_pct, anyIf(baseline_pct, status = 'FIRING') "
    "AS baseline_pct, anyIf(recent_n, status = 'FIRING') AS recent_n, min(first_seen) AS first_seen "
    "FROM alerts FINAL WHERE at >= toDateTime(%(since)s) GROUP BY alert_id "
    "HAVING countIf(status = 'RESOLVED') = 0 ORDER BY first_seen"
)


def alert_lines(db: Database, now_s: int, webhook_log: Path | None) -> list[str]:
    """Alerts FIRING now (from ClickHouse), and what reached the Alertmanager webhook."""
    lines = []
    for a in db.query(OPEN_ALERTS, {"since": now_s - 86400}):
        lines.append(f"  FIRING  {a['scope_kind']}={a['scope']}: CSAT {a['recent_pct']:.1f}% "
                     f"(n={a['recent_n']}) vs {a['baseline_pct']:.1f}% baseline")
    if webhook_log is not None and webhook_log.exists():
        notices = webhook_log.read_text().splitlines()
        if notices:
            last = orjson.loads(notices[-1])
            names = ", ".join(sorted({x["labels"].get("alertname", "?") for x in last.get("alerts", [])}))
            lines.append(f"  webhook: {len(notices)} notification(s) from Alertmanager; "
                         f"last: {last.get('status')} {names}")
    return ["", "alerts:", *(lines or ["  none"])]


def screen(db: Database, webhook_log: Path | None, min_n: int = MIN_N, journey: bool = False) -> Group:
    """Figures per channel and window, the journey map if asked, then the alerts: one screen."""
    now_s = int(time.time())
    alerts = Text("\n".join(alert_lines(db, now_s, webhook_log)))
    parts: list[RenderableType] = [render(snapshot(db, now_s, min_n), now_s, min_n)]
    if journey:
        end = now_s - now_s % 60 + 60
        parts += [Text("\njourney map, last 24 h (Δ: against the 24 h before)", style="bold"),
                  cx_view.compact_journey(cells(db, end - 86400, end, min_n), min_n)]
    return Group(*parts, alerts)


def run_top(connect: Callable[[], Database], interval: float, once: bool,
            webhook_log: Path | None = None, min_n: int = MIN_N, journey: bool = False) -> int:
    """Refresh every ``interval`` seconds until Ctrl-C (or print one screen with ``once``)."""
    db = connect()
    try:
        if once:
            console.show(screen(db, webhook_log, min_n, journey))
            return 0
        with Live(screen(db, webhook_log, min_n, journey), console=console.stdout, screen=False,
                  auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                live.update(screen(db, webhook_log, min_n, journey), refresh=True)
    except KeyboardInterrupt:
        return 0
    finally:
        close = getattr(db, "close", None)
        if close:
            close()
