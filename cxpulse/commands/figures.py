"""``cxpulse metrics``, ``top``, ``alerts backtest`` and ``followups``: reading figures back."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from cxpulse import console, wiring
from cxpulse.followups_view import add_followups_arguments
from cxpulse.settings import Settings
from cxpulse.timeparse import parse_time

FIGURE_COLUMNS = (
    ("events", "events"), ("csat_pct", "CSAT %"), ("csat_responses", "n"), ("nps", "NPS"),
    ("nps_responses", "n"), ("ces_mean", "CES"), ("ces_responses", "n"), ("fcr_pct", "FCR %"),
    ("contacts", "contacts"), ("complaint_rate", "compl %"),
)
"""The headline figures of ``metrics --format table``: (field, column title)."""


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value) if value != "" else "(none)"


def figures_table(rows: list[dict[str, Any]], by: list[str], grain: str, min_n: int = 5) -> Any:
    """Time bucket (unless total), the dimensions, then the headline figures; a rich Table.

    A figure listed in a row's ``masked`` shows as ``n<min_n``.
    """
    keys = (["bucket"] if grain != "total" else []) + by
    body = []
    for row in rows:
        cells = []
        for key in keys:
            value = row.get(key)
            if key == "bucket" and value is not None:
                value = datetime.fromtimestamp(int(value), UTC).strftime("%Y-%m-%d %H:%M")
            cells.append(_cell(value))
        body.append(cells + [f"n<{min_n}" if name in row.get("masked", ()) else _cell(row.get(name))
                             for name, _ in FIGURE_COLUMNS])
    labels = [label for _, label in FIGURE_COLUMNS]
    return console.table([*keys, *labels], body, right=labels)


def cmd_metrics(args: argparse.Namespace, settings: Settings) -> int:
    """Figures from ClickHouse, as JSON or a table."""
    from sql.figures import figures, mask

    by = [d.strip() for d in args.by.split(",") if d.strip()] if args.by else []
    db = wiring.database(settings)
    try:
        rows = [mask(r, settings.min_n)
                for r in figures(db, parse_time(args.start), parse_time(args.end), by, args.grain,
                                 parse_time(args.as_of))]
    finally:
        db.close()
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    elif not rows:
        console.stdout.print("no events in that time range")
    else:
        console.show(figures_table(rows, by, args.grain, settings.min_n))
    return 0


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    """What the satisfaction-drop detector would have raised over a past range."""
    from streams.alerts.backtest import backtest, describe
    from streams.alerts.detector import DetectorParams

    overrides = {f.name: getattr(args, f.name) for f in fields(DetectorParams)
                 if getattr(args, f.name, None) is not None}
    params = DetectorParams(**overrides)
    db = wiring.database(settings)
    try:
        count = 0
        for alert in backtest(db, parse_time(args.start), parse_time(args.end), params,
                              settings.board_url):
            print(describe(alert))
            count += 1
    finally:
        db.close()
    print(f"{count} alert transition(s); detector {params}")
    return 0


def cmd_followups(args: argparse.Namespace, settings: Settings) -> int:
    """Closed-loop follow-ups: open, past SLA, recovered."""
    from cxpulse.followups_view import run_followups

    return run_followups(args, lambda: wiring.database(settings))


def cmd_top(args: argparse.Namespace, settings: Settings) -> int:
    """The live view of CSAT/NPS/CES per channel."""
    from cxpulse.top import run_top

    return run_top(lambda: wiring.database(settings), args.interval, args.once,
                   settings.run_path / "alerts" / "webhook.jsonl", min_n=settings.min_n,
                   journey=args.journey)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``metrics``, ``alerts``, ``followups``, ``top``."""
    p = commands.add_parser("metrics", help="figures from ClickHouse")
    p.add_argument("--from", dest="start", default="-24h",
                   help="ISO-8601, epoch seconds, 'now' or relative like -15m, -24h (default -24h)")
    p.add_argument("--to", dest="end", default="now", help="end, exclusive (default now)")
    p.add_argument("--by", default="", help="comma-separated dimensions, e.g. channel,touchpoint")
    p.add_argument("--grain", choices=["minute", "hour", "day", "total"], default="total")
    p.add_argument("--format", choices=["json", "table"], default="table")
    p.add_argument("--as-of", dest="as_of", default="now",
                   help="the clock FCR outcomes are decided against: an open first contact is a "
                        "success once it passed occurred_at + R, pending before (default now)")
    p.set_defaults(func=cmd_metrics)

    p = commands.add_parser("alerts", help="satisfaction-drop alerts")
    p.add_argument("action", choices=["backtest"])
    p.add_argument("--from", dest="start", default="now-24h", help="event-time start (default now-24h)")
    p.add_argument("--to", dest="end", default="now", help="event-time end (default now)")
    p.add_argument("--z-fire", dest="z_fire", type=float, help="override: z a drop must reach")
    p.add_argument("--min-effect-pts", dest="min_effect_pts", type=float,
                   help="override: smallest drop in points that may fire")
    p.add_argument("--min-recent", dest="min_recent", type=int,
                   help="override: fewest recent responses to judge")
    p.set_defaults(func=cmd_alerts)

    p = commands.add_parser("followups", help="closed-loop follow-ups: open, past SLA, recovered")
    add_followups_arguments(p)
    p.set_defaults(func=cmd_followups)

    p = commands.add_parser("top", help="live CSAT/NPS/CES per channel, refreshed from ClickHouse")
    p.add_argument("--interval", type=float, default=2.0, help="refresh seconds (default 2)")
    p.add_argument("--once", action="store_true", help="print one screen and exit")
    p.add_argument("--journey", action="store_true",
                   help="also show the journey map of the last 24 h (stage x touchpoint)")
    p.set_defaults(func=cmd_top)
