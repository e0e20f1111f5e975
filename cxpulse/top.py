"""``cxpulse top``: a live terminal view of CSAT %, NPS, CES and volume per channel, from ClickHouse."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

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


def run_top(connect: Callable[[], Database], interval: float, once: bool) -> int:
    """Refresh every ``interval`` seconds until Ctrl-C (or print one screen with ``once``)."""
    db = connect()
    try:
        while True:
            now_s = int(time.time())
            screen = render(snapshot(db, now_s), now_s)
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
