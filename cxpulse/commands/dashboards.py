"""``cxpulse dashboards push``: the boards, their data sources and folder into a Grafana, by its API."""

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


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``dashboards push``."""
    p = commands.add_parser("dashboards", help="Grafana: push boards and data sources by API")
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
