"""``cxpulse voc index|terms|emerging|search|comments|train``: the voice of the customer.

Comment work runs off the hot path: ``voc index`` reads the comments the worker stored and writes
their terms to ``comment_docs`` (``voc.index``); every other command brings the index up to date
first, then reads it with the SQL of ``sql.voc`` (the board reads the same). Tables in
``cxpulse/voc_view.py``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from cxpulse import console, voc_view, wiring
from cxpulse.commands.cx import window
from cxpulse.settings import Settings
from cxpulse.timeparse import parse_time
from sql.client import Database

FILTERS = ("touchpoint", "journey_stage", "channel", "partner_id", "location_id", "region")


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=1, default=str))


def _output(args: argparse.Namespace, data: Any, screen: Callable[[], Any]) -> int:
    """``data`` as JSON with ``--format json``, else the screen made of it."""
    if args.format == "json":
        _print_json(data)
    else:
        console.show(screen())
    return 0


def refresh_index(db: Database, settings: Settings, quiet: bool = True) -> None:
    """Index what is new (with the active sentiment model, if any); one summary line unless quiet."""
    from voc.index import index
    from voc.sentiment import load_active

    active = load_active(settings.voc_models_path)
    run = index(db, active[0] if active else None)
    if not quiet or run.comments:
        cost = run.microseconds_per_comment
        analysing = run.analyse_seconds / max(run.comments, 1) * 1e6
        detail = "" if cost is None else f" ({cost:,.0f} µs per comment, {analysing:,.0f} µs of it analysing)"
        console.stderr.print(f"indexed {run.comments:,} new comment(s) in {run.seconds:.2f} s{detail}",
                             markup=False)


def cmd_voc(args: argparse.Namespace, settings: Settings) -> int:
    """Run one ``voc`` action against the configured ClickHouse."""
    db = wiring.database(settings)
    try:
        refresh_index(db, settings, quiet=args.action != "index")
        if args.action == "index":
            return 0
        return int(ACTIONS[args.action](db, args, settings))
    finally:
        db.close()


def _terms(db: Database, args: argparse.Namespace, settings: Settings) -> int:
    from sql.voc import ranked_terms

    start, end = window(args, settings)
    scopes = ranked_terms(db, start, end, args.by, settings.min_n, args.top)
    return _output(args, {"from": start, "to": end, "by": args.by, "min_n": settings.min_n,
                          "scopes": scopes},
                   lambda: voc_view.terms_screen(scopes, args.by, start, end, settings.min_n))


def _emerging(db: Database, args: argparse.Namespace, settings: Settings) -> int:
    from sql.voc import emerging

    result = emerging(db, parse_time(args.end), settings.min_n, args.top)
    return _output(args, result, lambda: voc_view.emerging_screen(result))


def _search(db: Database, args: argparse.Namespace, settings: Settings) -> int:
    from sql.voc import search

    if not args.query:
        raise ValueError('voc search needs a query, e.g. cxpulse voc search "giao hàng chậm"')
    start, end = window(args, settings)
    filters = {k: getattr(args, k) for k in FILTERS if getattr(args, k)}
    rows = search(db, args.query, start, end, filters, args.ignore_accents, args.limit)
    return _output(args, rows, lambda: voc_view.comments_table(rows, ranked=True))


def _comments(db: Database, args: argparse.Namespace, settings: Settings) -> int:
    from sql.voc import latest_comments

    start, end = window(args, settings)
    rows = latest_comments(db, start, end, args.voice.split(","), args.limit)
    return _output(args, rows, lambda: voc_view.comments_table(rows, ranked=False))


def _train(db: Database, args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from sql.voc import training_examples
    from voc.index import rescore
    from voc.sentiment import LABEL_OF_VOICE, save, train

    start, end = window(args, settings)
    examples = [(i, t, LABEL_OF_VOICE[v]) for i, t, v in training_examples(db, start, end)]
    model, evaluation = train(examples)
    folder = save(settings.voc_models_path, model, evaluation)
    rescored = rescore(db, model).comments if evaluation.active else 0
    if args.format == "json":
        _print_json({**asdict(evaluation), "folder": str(folder), "rescored": rescored})
    else:
        console.stdout.print(evaluation.describe(), markup=False)
        console.show(voc_view.evaluation_table(evaluation))
        console.stdout.print(f"saved in {folder}" + (f"; {rescored:,} unscored comment(s) scored"
                                                      if evaluation.active else ""), markup=False)
    return 0


ACTIONS = {"terms": _terms, "emerging": _emerging, "search": _search, "comments": _comments, "train": _train}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``voc``."""
    from sql.voc import RANK_SCOPES

    p = commands.add_parser("voc", help="voice of the customer: terms of unhappy customers, emerging "
                            "terms, comment search, the sentiment model")
    p.add_argument("action", choices=["index", *ACTIONS])
    p.add_argument("query", nargs="?", default="", help='search: words to find, e.g. "giao hàng chậm"')
    p.add_argument("--from", dest="start", default="",
                   help="event-time start (default: --to minus CXPULSE_ANALYSIS_WINDOW, 90d)")
    p.add_argument("--to", dest="end", default="now", help="end, exclusive (default now)")
    p.add_argument("--by", choices=list(RANK_SCOPES), default="touchpoint", help="terms: the scope")
    p.add_argument("--top", type=int, default=10, help="terms, emerging: terms per scope (default 10)")
    p.add_argument("-i", "--ignore-accents", action="store_true",
                   help="search: match without diacritics ('giao hang cham' finds 'giao hàng chậm')")
    p.add_argument("--limit", type=int, default=20, help="search, comments: rows (default 20)")
    p.add_argument("--voice", default="unhappy", help="comments: unhappy,happy,neutral,unscored")
    for name in FILTERS:
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, default="", help=f"search: only this {name}")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_voc)
