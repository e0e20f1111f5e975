"""``cxpulse dashboards push|render``: boards into a Grafana by its API, or drawn from live data."""

from __future__ import annotations

import argparse
from pathlib import Path

from cxpulse import console
from cxpulse.access import GRAFANA_USER
from cxpulse.settings import Settings
from sql.access import boards_database


def _secret(path: str | None) -> str | None:
    return Path(path).read_text().strip("\n") if path else None


def cmd_push(args: argparse.Namespace, settings: Settings) -> int:
    """Push; prints one line per object created or updated, then a summary."""
    from cxpulse import grafana

    token = _secret(args.token_file)
    if not token:
        raise ValueError(f"{args.token_file}: empty token file")
    target = grafana.Target(
        clickhouse_host=args.clickhouse_host or settings.clickhouse_host,
        clickhouse_port=args.clickhouse_port or settings.clickhouse_port,
        clickhouse_user=GRAFANA_USER, boards_database=boards_database(settings.clickhouse_database),
        prometheus_url=args.prometheus_url or f"http://127.0.0.1:{settings.prometheus_port}",
        clickhouse_password=_secret(args.clickhouse_password_file))
    report = grafana.push(grafana.connect(args.url, token), target, args.folder)
    for kind, uid in report.created:
        console.stdout.print(f"created {kind} {uid}")
    for kind, uid in report.updated:
        console.stdout.print(f"updated {kind} {uid}")
    console.stdout.print(f"pushed to {args.url}: {len(report.created)} created, {len(report.updated)} "
                         f"updated, {len(report.unchanged)} unchanged")
    return 0


def cmd_render(args: argparse.Namespace, settings: Settings) -> int:
    """Draw boards from the configured ClickHouse; one line per picture."""
    from cxpulse import wiring
    from cxpulse.board_render import render
    from cxpulse.commands.cx import window
    from dashboards.macros import TimeRange

    start, end = window(args, settings)
    db = wiring.database(settings)
    try:
        drawn = render(db, args.board, TimeRange(start, end - 1), Path(args.out))
    finally:
        db.close()
    failed = 0
    for path, results in drawn:
        errors = [r for r in results if r.error]
        failed += len(errors)
        console.stdout.print(f"{path}: {len(results)} panel(s), {sum(1 for r in results if r.rows)} "
                             f"with rows" + (f", {len(errors)} failed" if errors else ""), markup=False)
        for result in errors:
            console.stderr.print(f"  {result.title}: {result.error}", markup=False)
    return 1 if failed else 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``dashboards push``."""
    p = commands.add_parser("dashboards", help="Grafana: push boards by API, or draw them from live data")
    actions = p.add_subparsers(dest="dashboards_command", required=True)
    push = actions.add_parser("push", help="data sources, folder and every board (idempotent)")
    push.add_argument("--url", required=True, help="Grafana's URL, e.g. https://grafana.example.com")
    push.add_argument("--token-file", required=True, help="a file holding a service-account token")
    push.add_argument("--folder", default="cxpulse", help="folder uid and title (default cxpulse)")
    push.add_argument("--clickhouse-host", default="", help="ClickHouse as Grafana reaches it")
    push.add_argument("--clickhouse-port", type=int, default=0, help="its native port")
    push.add_argument("--prometheus-url", default="", help="Prometheus as Grafana reaches it")
    push.add_argument("--clickhouse-password-file", default=None,
                      help=f"the {GRAFANA_USER} password (sent on create, or whenever given)")
    push.set_defaults(func=cmd_push)
    draw = actions.add_parser("render", help="draw boards from live data as PNG (no Grafana needed)")
    draw.add_argument("--board", action="append", default=[],
                      help="a board's name (repeatable; default every board)")
    draw.add_argument("--out", default="board-pictures", help="folder of the PNGs (default board-pictures)")
    draw.add_argument("--from", dest="start", default="",
                      help="start of the boards' time range (default --to minus CXPULSE_ANALYSIS_WINDOW)")
    draw.add_argument("--to", dest="end", default="now", help="end of the time range (default now)")
    draw.set_defaults(func=cmd_render)
