"""``cxpulse followups``: the closed-loop follow-ups from ClickHouse, as a table or JSON.

Thin: parses its options, calls ``sql.followups`` and prints. Statuses are decided as of now.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cxpulse import console
from cxpulse.timeparse import parse_time
from sql.client import Database
from sql.followups import GROUPABLE, STATUSES, followup_list, open_past_sla, recovery_rate

LIST_COLUMNS = (("due_at_ms", "due (UTC)"), ("status", "status"), ("route", "route"),
                ("channel", "channel"), ("reasons", "why"), ("occurred_at_ms", "triggered (UTC)"),
                ("recovered_at_ms", "recovered (UTC)"), ("event_id", "event_id"))
RATE_COLUMNS = (("followups_created", "follow-ups"), ("recoverable", "recoverable"),
                ("recovered", "recovered"), ("recovery_pct", "recovery %"), ("open_followups", "open"),
                ("overdue_followups", "past SLA"))
PAST_SLA_COLUMNS = (("route", "route"), ("overdue_followups", "past SLA"),
                    ("oldest_due_at_ms", "oldest due (UTC)"))


def add_followups_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``cxpulse followups``."""
    parser.add_argument("--from", dest="start", default="now-7d",
                        help="triggers from (ISO-8601, epoch s, now, now-24h ...; default now-7d)")
    parser.add_argument("--to", dest="end", default="now", help="triggers until, exclusive (default now)")
    parser.add_argument("--status", choices=STATUSES, default="", help="only this status")
    parser.add_argument("--route", default="", help="only this route, e.g. location:store-12")
    parser.add_argument("--limit", type=int, default=50, help="at most this many rows (default 50)")
    parser.add_argument("--rates", choices=GROUPABLE, default=None,
                        help="show recovery rates per this dimension instead of the list")
    parser.add_argument("--past-sla", action="store_true",
                        help="per route, the open follow-ups past their SLA, most first")
    parser.add_argument("--format", choices=["json", "table"], default="table")


def run_followups(args: argparse.Namespace, connect: Callable[[], Database]) -> int:
    """Print the summary and the follow-up list (or the recovery rates); 0 on success."""
    start_s, end_s = parse_time(args.start), parse_time(args.end)
    db = connect()
    try:
        totals = recovery_rate(db, start_s, end_s, by=())
        if args.rates:
            rows = recovery_rate(db, start_s, end_s, by=(args.rates,))
        elif args.past_sla:
            rows = open_past_sla(db, start_s, end_s)
        else:
            rows = followup_list(db, start_s, end_s, status=args.status, route=args.route,
                                 limit=args.limit)
    finally:
        close = getattr(db, "close", None)
        if close is not None:
            close()
    summary = totals[0] if totals else None
    if args.format == "json":
        print(json.dumps({"summary": summary, "rows": rows}, ensure_ascii=False, indent=1))
        return 0
    print(render_summary(summary))
    if rows:
        columns = (((args.rates, args.rates), *RATE_COLUMNS) if args.rates
                   else PAST_SLA_COLUMNS if args.past_sla else LIST_COLUMNS)
        print(render_rows(rows, columns))
    return 0


def render_summary(summary: dict[str, Any] | None) -> str:
    """One line: how many follow-ups, recovered (and the rate), open, past SLA."""
    if summary is None:
        return "no follow-ups triggered in that time range"
    pct = summary["recovery_pct"]
    rate = "-" if pct is None else f"{pct:.1f}%"
    return (f"follow-ups: {summary['followups_created']} ({summary['recoverable']} recoverable), "
            f"recovered {summary['recovered']} ({rate}), open {summary['open_followups']}, "
            f"past SLA {summary['overdue_followups']}")


def _cell(name: str, row: dict[str, Any]) -> str:
    if name == "reasons":
        return ",".join(r for r in ("low_csat", "detractor", "complaint") if row.get(r)) or "-"
    value = row.get(name)
    if value is None:
        return "-"
    if name.endswith("_ms"):
        return datetime.fromtimestamp(int(value) / 1000, UTC).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value) if value != "" else "(none)"


def render_rows(rows: list[dict[str, Any]], columns: tuple[tuple[str, str], ...]) -> str:
    """Aligned columns with a header (plain text)."""
    return console.render(console.table([label for _, label in columns],
                                        [[_cell(name, row) for name, _ in columns] for row in rows]))
