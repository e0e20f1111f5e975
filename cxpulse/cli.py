"""The ``cxpulse`` command: parses arguments and calls into the packages that do the work."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cxpulse.ingest_cmd import add_ingest_parser
from cxpulse.settings import Settings
from cxpulse.timeparse import parse_duration, parse_time


def _database(settings: Settings) -> Any:
    from sql.client import ServerDatabase

    return ServerDatabase(settings.clickhouse_host, settings.clickhouse_port,
                          settings.clickhouse_database, settings.clickhouse_user,
                          settings.clickhouse_password)


def cmd_stack(args: argparse.Namespace, settings: Settings) -> int:
    from infra import stack

    if args.action == "up":
        print(f"cxpulse stack up: run folder {settings.run_path}")
        stack.up(settings)
        print("stack is up. `cxpulse stack status` shows it; `make down` stops it.")
    elif args.action == "down":
        if not stack.down(settings):
            print(f"stack is not running (run folder {settings.run_path})")
        else:
            print("stack stopped")
    else:
        rows = stack.status(settings)
        print(f"{'component':<12} {'state':<9} {'pid':>7} {'port':>6}  health")
        for row in rows:
            health = "healthy" if row.healthy else "-"
            print(f"{row.name:<12} {row.state:<9} {row.pid or '-':>7} {row.port:>6}  {health}")
        return 0 if all(r.healthy for r in rows) else 3
    return 0


def cmd_worker(_args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    import faust
    import uvloop

    from schemas.topics import Topics
    from streams.app import create_app
    from streams.config import WorkerConfig
    from streams.followups.rules import parse_sla_spec

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    config = WorkerConfig(
        app_id=settings.worker_group, bootstrap=settings.bootstrap,
        topics=Topics(settings.topic_prefix), clickhouse_host=settings.clickhouse_host,
        clickhouse_port=settings.clickhouse_port, clickhouse_database=settings.clickhouse_database,
        clickhouse_user=settings.clickhouse_user, clickhouse_password=settings.clickhouse_password,
        web_port=settings.worker_port, batch_size=settings.sink_batch_size,
        batch_seconds=settings.sink_batch_seconds, schema_registry_url=settings.schema_registry_url,
        partitions=settings.touchpoint_partitions, data_dir=str(settings.worker_data_path),
        fcr_window_ms=int(parse_duration(settings.fcr_window) * 1000),
        alerts_enabled=settings.alerts_enabled, board_url=settings.board_url,
        followup_sla=parse_sla_spec(settings.followup_sla),
    )
    app = create_app(config)
    worker = faust.Worker(app, loglevel="INFO", quiet=True)
    worker.execute_from_commandline()
    return 0


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.jsonl import publish_lines

    stream = sys.stdin.buffer if args.file == "-" else Path(args.file).open("rb")
    with stream:
        summary = publish_lines(stream, settings.bootstrap, settings.topic_prefix,
                                settings.schema_registry_url, args.source,
                                privacy_key=privacy_key(settings))
    print(summary.line())
    return 0


def drain(settings: Settings, timeout: float,
          progress: Callable[[int], None] | None = None) -> dict[int, int]:
    """Wait until the worker committed every record (it commits only after ClickHouse stored them).

    Returns the remaining lag per partition: all zero when drained.
    """
    from schemas.kafka import consumer_lag
    from schemas.topics import Topics

    topic = Topics(settings.topic_prefix).touchpoints
    deadline = time.monotonic() + timeout
    lag = consumer_lag(settings.bootstrap, settings.worker_group, topic)
    reported = time.monotonic()
    while any(lag.values()) and time.monotonic() < deadline:
        if progress and time.monotonic() - reported > 5:
            progress(sum(lag.values()))
            reported = time.monotonic()
        time.sleep(0.25)
        lag = consumer_lag(settings.bootstrap, settings.worker_group, topic)
    return lag


def cmd_drain(args: argparse.Namespace, settings: Settings) -> int:
    lag = drain(settings, args.timeout,
                lambda left: print(f"waiting: {left:,} records not yet stored", file=sys.stderr))
    if any(lag.values()):
        print(f"not drained after {args.timeout:.0f}s: records left per partition {lag}",
              file=sys.stderr)
        return 1
    print("drained: everything published is stored in ClickHouse")
    return 0


def cmd_demo(_args: argparse.Namespace, settings: Settings) -> int:
    from cxpulse.demo import run_demo

    return run_demo(settings, lambda: _database(settings))


def cmd_metrics(args: argparse.Namespace, settings: Settings) -> int:
    from sql.figures import figures

    by = [d.strip() for d in args.by.split(",") if d.strip()] if args.by else []
    db = _database(settings)
    try:
        rows = figures(db, parse_time(args.start), parse_time(args.end), by, args.grain)
    finally:
        db.close()
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    else:
        from cxpulse.table import render_table

        print(render_table(rows, by, args.grain))
    return 0


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import fields

    from streams.alerts.backtest import backtest, describe
    from streams.alerts.detector import DetectorParams

    overrides = {f.name: getattr(args, f.name) for f in fields(DetectorParams)
                 if getattr(args, f.name, None) is not None}
    params = DetectorParams(**overrides)
    db = _database(settings)
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
    from cxpulse.followups_view import run_followups

    return run_followups(args, lambda: _database(settings))


def privacy_key(settings: Settings) -> Any:
    """The pseudonymisation key: the setting, else a random one kept (0600) in the run folder."""
    return kept_key(settings.pseudonym_key, settings.run_path / "pseudonym.key")


def kept_key(setting: Any, path: Path) -> Any:
    """A ``PrivacyKey`` from a secret setting, else from a random key created once at ``path``."""
    import secrets

    from connectors.sdk.privacy import PrivacyKey

    if setting is not None:
        return PrivacyKey(setting)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return PrivacyKey(path.read_text().strip())


def _connector_and_publisher(args: argparse.Namespace, settings: Settings) -> tuple[Any, Any]:
    """The named connector with its validated config, and a publisher in its name."""
    from connectors.sdk import registry
    from connectors.sdk.publisher import EventPublisher
    from schemas.codec import AvroCodec
    from schemas.topics import Topics

    cls = registry.get(args.name)
    connector = cls(registry.load_config(cls, json.loads(args.config)))
    topics = Topics(settings.topic_prefix)
    codec = AvroCodec(registry_url=settings.schema_registry_url, subject=f"{topics.touchpoints}-value")
    return connector, EventPublisher(settings.bootstrap, topics, codec, cls.name,
                                     privacy_key=privacy_key(settings),
                                     raw_id_fields=connector.raw_id_fields())


def cmd_connector_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.call_center import ingest_file

    connector, publisher = _connector_and_publisher(args, settings)
    summary = ingest_file(connector, args.file, publisher)
    print(f"{connector.name}: {summary.line()}")
    return 0


def cmd_connector_watch(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.retail_partner import watch

    connector, publisher = _connector_and_publisher(args, settings)
    print(f"{connector.name}: watching {args.folder} every {args.interval:g} s (Ctrl-C to stop)",
          flush=True)
    try:
        watch(args.folder, connector, publisher, interval_s=args.interval,
              on_file=lambda r: print(f"{connector.name}: {r.line()}", flush=True))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_connector_new(args: argparse.Namespace, _settings: Settings) -> int:
    from connectors.sdk.scaffold import ScaffoldError, scaffold

    try:
        for path in scaffold(args.name, args.root):
            print(f"created {path}")
    except ScaffoldError as exc:
        print(f"cxpulse: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_connector_run(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.kiosk import KioskConfig
    from connectors.kiosk_bridge import run_from_settings

    config = KioskConfig.model_validate_json(args.config.read_bytes()) if args.config else None
    # prints progress and a final summary line itself; keeps its kiosk device registry in the run folder
    run_from_settings(settings, config, state_dir=settings.run_path / "kiosk",
                      privacy_key=privacy_key(settings))
    return 0


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from sql.migrate import migrate

    db = _database(settings)
    try:
        db.create_database()
        applied = migrate(db)
    finally:
        db.close()
    for m in applied:
        print(f"applied {m.version:04d}_{m.name}")
    print(f"database {settings.clickhouse_database}: {len(applied)} migration(s) applied")
    return 0


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.simulator import SimulationOptions, run_simulation

    options = SimulationOptions(
        rate=args.rate, duration_s=parse_duration(args.duration), scenario=args.scenario,
        seed=args.seed, output=args.output,
        start_ms=parse_time(args.start) * 1000 if args.start else None,
    )
    return run_simulation(options, settings.bootstrap, settings.topic_prefix,
                          settings.schema_registry_url, privacy_key=privacy_key(settings))


def cmd_top(args: argparse.Namespace, settings: Settings) -> int:
    from cxpulse.top import run_top

    return run_top(lambda: _database(settings), args.interval, args.once,
                   settings.run_path / "alerts" / "webhook.jsonl")


def build_parser() -> argparse.ArgumentParser:
    """The whole command-line contract (DESIGN.md)."""
    parser = argparse.ArgumentParser(prog="cxpulse", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("stack", help="start/stop/inspect the local stack")
    p.add_argument("action", choices=["up", "down", "status"])
    p.set_defaults(func=cmd_stack)

    p = sub.add_parser("worker", help="run the Faust worker in the foreground")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("publish", help="JSON lines of canonical events -> Kafka (invalid -> cx.dlq)")
    p.add_argument("file", help="a JSON-lines file, or - for standard input")
    p.add_argument("--source", default="cli-publish", help="source for events that name none")
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("drain", help="wait until everything published is in ClickHouse")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds (default 120)")
    p.set_defaults(func=cmd_drain)

    p = sub.add_parser("metrics", help="figures from ClickHouse")
    p.add_argument("--from", dest="start", default="-24h",
                   help="ISO-8601, epoch seconds, 'now' or relative like -15m, -24h (default -24h)")
    p.add_argument("--to", dest="end", default="now", help="end, exclusive (default now)")
    p.add_argument("--by", default="", help="comma-separated dimensions, e.g. channel,touchpoint")
    p.add_argument("--grain", choices=["minute", "hour", "day", "total"], default="total")
    p.add_argument("--format", choices=["json", "table"], default="table")
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser("alerts", help="satisfaction-drop alerts")
    p.add_argument("action", choices=["backtest"])
    p.add_argument("--from", dest="start", default="now-24h", help="event-time start (default now-24h)")
    p.add_argument("--to", dest="end", default="now", help="event-time end (default now)")
    p.add_argument("--z-fire", dest="z_fire", type=float, help="override: z a drop must reach")
    p.add_argument("--min-effect-pts", dest="min_effect_pts", type=float,
                   help="override: smallest drop in points that may fire")
    p.add_argument("--min-recent", dest="min_recent", type=int,
                   help="override: fewest recent responses to judge")
    p.set_defaults(func=cmd_alerts)

    from cxpulse.followups_view import add_followups_arguments

    p = sub.add_parser("followups", help="closed-loop follow-ups: open, past SLA, recovered")
    add_followups_arguments(p)
    p.set_defaults(func=cmd_followups)

    p = sub.add_parser("connector", help="channel connectors")
    connector_sub = p.add_subparsers(dest="connector_cmd", required=True)
    p = connector_sub.add_parser("new", help="scaffold a connector module, samples and its test")
    p.add_argument("name", help="connector name: lower-case words joined by - or _, e.g. acme-survey")
    p.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: here)")
    p.set_defaults(func=cmd_connector_new)
    p = connector_sub.add_parser("ingest", help="publish every record of a file through a connector")
    p.add_argument("name", help="connector name, e.g. call-center-ctr or call-center-ivr-survey")
    p.add_argument("file", type=Path, help="CTR JSON / JSON array / JSON lines / Firehose file, or CSV")
    p.add_argument("--config", default="{}", help="connector config as a JSON object")
    p.set_defaults(func=cmd_connector_ingest)
    p = connector_sub.add_parser("watch", help="process files dropped into FOLDER, each exactly once")
    p.add_argument("name", help="connector name, e.g. retail-partner-csv")
    p.add_argument("folder", type=Path)
    p.add_argument("--config", default="{}", help="connector config as a JSON object")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between scans (default 5)")
    p.set_defaults(func=cmd_connector_watch)
    p = connector_sub.add_parser("run", help="run a push connector until SIGTERM/Ctrl-C")
    p.add_argument("name", choices=["kiosk-mqtt"])
    p.add_argument("--config", type=Path,
                   help="connector config as JSON (default: the local stack's Mosquitto)")
    p.set_defaults(func=cmd_connector_run)

    p = sub.add_parser("db", help="database tasks")
    p.add_argument("action", choices=["migrate"])
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("simulate", help="realistic omnichannel traffic into Kafka or a file")
    p.add_argument("--rate", type=float, default=50.0, help="mean events/s (default 50)")
    p.add_argument("--duration", default="0",
                   help="how long, e.g. 90s, 10m, 24h; 0 = until Ctrl-C (default)")
    p.add_argument("--scenario", default="steady", help="steady | incident (default steady)")
    p.add_argument("--seed", type=int, default=None, help="seed for a reproducible run")
    p.add_argument("--output", default=None,
                   help="write JSON lines to this file (- for stdout) instead of Kafka; "
                        "then time is simulated and runs as fast as it can")
    p.add_argument("--start", default=None,
                   help="simulated clock start for --output (default: now - duration)")
    p.set_defaults(func=cmd_simulate)

    add_ingest_parser(sub)

    p = sub.add_parser("demo", help="the stack, history, live traffic and the live view (make demo)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("top", help="live CSAT/NPS/CES per channel, refreshed from ClickHouse")
    p.add_argument("--interval", type=float, default=2.0, help="refresh seconds (default 2)")
    p.add_argument("--once", action="store_true", help="print one screen and exit")
    p.set_defaults(func=cmd_top)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if not args.verbose:  # it logs a traceback per refused connection while a server starts
        logging.getLogger("clickhouse_driver").setLevel(logging.CRITICAL)
    try:
        settings = Settings()
    except Exception as exc:  # pydantic lists every bad variable at once
        print(f"cxpulse: configuration error:\n{exc}", file=sys.stderr)
        return 2
    try:
        code: int = args.func(args, settings)
        return code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from infra.stack import StackError

        if isinstance(exc, StackError | ValueError):
            print(f"cxpulse: {exc}", file=sys.stderr)
            return 1
        raise
