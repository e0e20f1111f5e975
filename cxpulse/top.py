"""``cxpulse top``: a live terminal view of CSAT %, NPS, CES and volume per channel, from ClickHouse."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from sql.client import Database
from sql.figures import figures

WINDOWS = (("5 min", 300), ("1 h", 3600), ("24 h", 86400))
_CLEAR = "\x1b[H\x1b[2J"


def _fmt(value: float | None, width: int = 6) -> str:
    return "-".rjust(width) if value is None else f"{value:.1f}".rjust(width)


def snapshot(db: Database, now_s: int) -> dict[str, dict[str, dict[str, Any]]]:
    """Map channel -> window label -> figures, for each rolling window ending now (sums of minutes)."""
    view: dict[str, dict[str, dict[str, Any]]] = {}
    current_minute = now_s - now_s % 60
    for label, seconds in WINDOWS:
        start = current_minute + 60 - seconds  # the last N minute buckets, the current one included
        for row in figures(db, start, current_minute + 60, ["channel"], "total"):
            view.setdefault(row["channel"], {})[label] = row
    return view


def render(view: dict[str, dict[str, dict[str, Any]]], now_s: int) -> str:
    """The screen: one line per channel, a column group per window."""
    stamp = datetime.fromtimestamp(now_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    head = f"{'channel':<15}" + "".join(f"| {label:^29} " for label, _ in WINDOWS)
    sub = f"{'':<15}" + f"| {'CSAT %':>6} {'NPS':>6} {'CES':>6} {'volume':>8} " * len(WINDOWS)
    lines = [f"cxpulse top — {stamp} (event time; Ctrl-C to quit)", "", head, sub,
             "-" * len(sub)]
    for channel in sorted(view):
        cells = []
        for label, _ in WINDOWS:
            row = view[channel].get(label)
            if row is None:
                cells.append(f"| {'-':>6} {'-':>6} {'-':>6} {0:>8} ")
            else:
                cells.append(f"| {_fmt(row['csat_pct'])} {_fmt(row['nps'])} "
                             f"{_fmt(row['ces_mean'])} {row['events']:>8} ")
        lines.append(f"{channel:<15}" + "".join(cells))
    if not view:
        lines.append("no events in the last 24 h yet: is the simulator or a connector running?")
    return "\n".join(lines)


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


def run_top(connect: Callable[[], Database], interval: float, once: bool,
            webhook_log: Path | None = None) -> int:
    """Refresh every ``interval`` seconds until Ctrl-C (or print one screen with ``once``)."""
    db = connect()
    try:
        while True:
            now_s = int(time.time())
            screen = render(snapshot(db, now_s), now_s)
            screen += "\n" + "\n".join(alert_lines(db, now_s, webhook_log))
            if once:
                print(screen)
                return 0
            sys.stdout.write(_CLEAR + screen + "\n")
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        return 0
    finally:
        close = getattr(db, "close", None)
        if close:
            close()
