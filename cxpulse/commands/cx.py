"""``cxpulse journey``, ``impact``, ``fixes add|list|compare`` and ``scorecard``: the CX layer.

Every figure follows METRICS.md, "What the figures mean for the business"; the SQL is in ``sql/``
(``journey``, ``impact``, ``fixes``, ``scorecards``), the tables in ``cxpulse/cx_view.py``. The window
defaults to the last ``CXPULSE_ANALYSIS_WINDOW`` (90 days) of event time; ratios over fewer than
``CXPULSE_MIN_N`` answers are masked (``n<5``) in tables and listed in ``masked`` in JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from rich.console import RenderableType
from rich.live import Live

from cxpulse import console, cx_view, wiring
from cxpulse.settings import Settings
from cxpulse.timeparse import parse_duration, parse_time
from sql.client import Database


def window(args: argparse.Namespace, settings: Settings) -> tuple[int, int]:
    """``[--from, --to)`` in epoch seconds; ``--from`` defaults to ``--to`` minus the analysis window."""
    end = parse_time(args.end)
    start = parse_time(args.start) if args.start else end - int(parse_duration(settings.analysis_window))
    if start >= end:
        raise ValueError(f"--from must be before --to ({cx_view.stamp(start)} >= {cx_view.stamp(end)})")
    return start, end


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=1, default=str))


def _with_db(settings: Settings, work: Callable[[Database], int]) -> int:
    db = wiring.database(settings)
    try:
        return work(db)
    finally:
        db.close()


def cmd_journey(args: argparse.Namespace, settings: Settings) -> int:
    """The journey map once (table or JSON), or refreshed until Ctrl-C with ``--live``."""
    from sql.journey import journey

    configured = [t.strip() for t in settings.moments_of_truth.split(",") if t.strip()]

    def screen(db: Database) -> tuple[dict[str, Any], RenderableType]:
        start, end = window(args, settings)
        view = journey(db, start, end, settings.min_n, configured)
        return view, cx_view.journey_screen(view, start, end, settings.min_n)

    def run(db: Database) -> int:
        view, shown = screen(db)
        if args.format == "json":
            _print_json(view)
        elif not args.live:
            console.show(shown)
        else:
            with Live(shown, console=console.stdout, auto_refresh=False) as live:
                try:
                    while True:
                        time.sleep(args.interval)
                        live.update(screen(db)[1], refresh=True)
                except KeyboardInterrupt:
                    pass
        return 0

    return _with_db(settings, run)


def cmd_impact(args: argparse.Namespace, settings: Settings) -> int:
    """Pain points ranked by revenue at risk, with the assumptions used."""
    from sql.impact import SCOPES, impact

    start, end = window(args, settings)
    assumptions = wiring.assumptions(settings)

    def run(db: Database) -> int:
        result = impact(db, start, end, args.by, assumptions, settings.min_n)
        if args.format == "json":
            _print_json(result | {"from": start, "to": end, "by": args.by})
        else:
            console.stdout.print(f"Pain points by {args.by}, {cx_view.stamp(start)} .. {cx_view.stamp(end)}, "
                                 "ranked by revenue at risk", markup=False)
            console.show(cx_view.impact_table(result, SCOPES[args.by], settings.min_n))
            console.show(cx_view.impact_summary(result, assumptions.describe(), settings.min_n))
        return 0

    return _with_db(settings, run)


def cmd_fixes(args: argparse.Namespace, settings: Settings) -> int:
    """``fixes add``, ``list`` and ``compare``."""
    from sql import fixes

    def run(db: Database) -> int:
        if args.action == "add":
            fix = fixes.add_fix(db, fixes.parse_scope(args.scope), parse_time(args.at), args.note)
            print(f"recorded {fix.fix_id}: {fix.scope_text()} at {cx_view.stamp(fix.at)} ({fix.note})")
        elif args.action == "list":
            found = fixes.list_fixes(db)
            if args.format == "json":
                verdicts = fixes.stored_verdicts(db)
                _print_json([asdict(f) | verdicts.get(f.fix_id, {}) for f in found])
            else:
                console.show(cx_view.fixes_table(found, fixes.stored_verdicts(db)))
        else:
            return _compare(db, args, settings)
        return 0

    return _with_db(settings, run)


def _compare(db: Database, args: argparse.Namespace, settings: Settings) -> int:
    from sql import fixes

    if not args.fix_id:
        raise ValueError("fixes compare needs a fix id: `cxpulse fixes list` shows them")
    fix = fixes.get_fix(db, args.fix_id)
    length = int(parse_duration(args.window or settings.fix_window))
    settle = int(parse_duration(args.settle or settings.fix_settle))
    if length <= 0:
        raise ValueError("--window must be longer than 0")
    results = fixes.compare_fix(db, fix, length, settle, settings.min_n)
    fixes.store_comparisons(db, fix, results, length, settle)
    verdict = fixes.overall([r.verdict for r in results])
    if args.format == "json":
        _print_json({"fix": asdict(fix), "window_s": length, "settle_s": settle, "min_n": settings.min_n,
                     "figures": [asdict(r) for r in results], "verdict": verdict})
        return 0
    console.stdout.print(
        f"{fix.fix_id}: {fix.scope_text()} at {cx_view.stamp(fix.at)} ({fix.note})\n"
        f"before {cx_view.stamp(fix.at - length)} .. {cx_view.stamp(fix.at)}, after "
        f"{cx_view.stamp(fix.at + settle)} .. {cx_view.stamp(fix.at + settle + length)}; "
        f"min n {settings.min_n}, p < 0.05", markup=False)
    console.show(cx_view.compare_table(results))
    console.stdout.print(f"verdict: {verdict}", markup=False)
    return 0


def cmd_scorecard(args: argparse.Namespace, settings: Settings) -> int:
    """Partners or locations, best CSAT % first, with intervals."""
    from sql.scorecards import scorecard

    start, end = window(args, settings)

    def run(db: Database) -> int:
        rows = scorecard(db, start, end, args.by, settings.min_n)
        if args.format == "json":
            _print_json(rows)
        else:
            console.show(cx_view.scorecard_table(rows, args.by, settings.min_n))
        return 0

    return _with_db(settings, run)


def _window_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="start", default="",
                   help="event-time start (default: --to minus CXPULSE_ANALYSIS_WINDOW, 90d)")
    p.add_argument("--to", dest="end", default="now", help="end, exclusive (default now)")
    p.add_argument("--format", choices=["table", "json"], default="table")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``journey``, ``impact``, ``fixes``, ``scorecard``."""
    from sql.impact import SCOPES
    from sql.scorecards import SCORED_BY

    p = commands.add_parser("journey", help="journey map: figures per stage x touchpoint, moments of truth")
    _window_arguments(p)
    p.add_argument("--live", action="store_true", help="refresh until Ctrl-C")
    p.add_argument("--interval", type=float, default=5.0, help="refresh seconds with --live (default 5)")
    p.set_defaults(func=cmd_journey)

    p = commands.add_parser("impact", help="pain points ranked by revenue at risk")
    _window_arguments(p)
    p.add_argument("--by", choices=list(SCOPES), default="touchpoint")
    p.set_defaults(func=cmd_impact)

    p = commands.add_parser("fixes", help="record fixes and compare before/after")
    p.add_argument("action", choices=["add", "list", "compare"])
    p.add_argument("fix_id", nargs="?", default="", help="compare: the fix (see `fixes list`)")
    p.add_argument("--scope", default="", help="add: dimension filters, e.g. touchpoint=checkout")
    p.add_argument("--at", default="now", help="add: event time the fix took effect (default now)")
    p.add_argument("--note", default="", help="add: what was changed")
    p.add_argument("--window", default="", help="compare: L, length of each period (default 14d)")
    p.add_argument("--settle", default="", help="compare: gap after the fix (default 0d)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_fixes)

    p = commands.add_parser("scorecard", help="partners or locations ranked by CSAT % and NPS")
    _window_arguments(p)
    p.add_argument("--by", choices=list(SCORED_BY), default="partner_id")
    p.set_defaults(func=cmd_scorecard)
