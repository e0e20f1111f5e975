"""``cxpulse worker``, ``publish``, ``drain`` and ``db migrate``: running the pipeline itself."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cxpulse import console, stack, wiring
from cxpulse.settings import Settings
from cxpulse.timeparse import parse_duration


def cmd_worker(_args: argparse.Namespace, settings: Settings) -> int:
    """The Faust worker in the foreground (supervisord runs it in the stack)."""
    import asyncio

    import faust
    import uvloop

    from streams.app import create_app, tune_memory
    from streams.config import WorkerConfig
    from streams.followups.rules import parse_sla_spec

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    config = WorkerConfig(
        app_id=settings.worker_group, bootstrap=settings.bootstrap,
        topics=wiring.topics(settings), clickhouse_host=settings.clickhouse_host,
        clickhouse_port=settings.clickhouse_port, clickhouse_database=settings.clickhouse_database,
        clickhouse_user=settings.clickhouse_user, clickhouse_password=settings.clickhouse_password,
        web_port=settings.worker_port, batch_size=settings.sink_batch_size,
        batch_seconds=settings.sink_batch_seconds, schema_registry_url=settings.schema_registry_url,
        partitions=settings.touchpoint_partitions, data_dir=str(settings.worker_data_path),
        fcr_window_ms=int(parse_duration(settings.fcr_window) * 1000),
        fcr_cached_contacts=settings.fcr_cache_contacts,
        max_poll_interval_s=settings.worker_max_poll_interval_s, web_bind=settings.worker_bind,
        failpoint_file=settings.worker_failpoint_file,
        clickhouse_cluster=settings.clickhouse_cluster,
        clickhouse_insert_quorum=settings.clickhouse_insert_quorum,
        alerts_enabled=settings.alerts_enabled, board_url=settings.board_url,
        followup_sla=parse_sla_spec(settings.followup_sla),
    )
    worker = faust.Worker(create_app(config), loglevel="INFO", quiet=True)
    tune_memory()
    worker.execute_from_commandline()
    return 0


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    """JSON lines -> the ``jsonl`` connector -> Kafka; prints the one-line summary."""
    stream = sys.stdin.buffer if args.file == "-" else Path(args.file).open("rb")
    with stream, console.progress(f"publish {args.file}", unit="lines") as tracker:
        summary = wiring.publish_lines(settings, stream, args.source, on_record=tracker.advance)
    console.stdout.print(summary.line())
    return 0


def cmd_drain(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 once ClickHouse holds everything published so far, 1 on timeout."""
    with console.progress("drain", unit="records stored") as tracker:
        lag = wiring.drain(settings, args.timeout, tracker.remaining)
    if any(lag.values()):
        console.error(f"not drained after {args.timeout:.0f}s: records left per partition {lag}")
        return 1
    console.stdout.print("drained: everything published is stored in ClickHouse")
    return 0


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    """Create the database if needed and apply the migrations not applied yet (``--cluster``: ON CLUSTER)."""
    with console.progress(f"migrate {settings.clickhouse_database}", unit="migrations") as tracker:
        applied = stack.migrate_database(settings, args.cluster)
        tracker.set(len(applied))
    for m in applied:
        console.stdout.print(f"applied {m.version:04d}_{m.name}")
    console.stdout.print(f"database {settings.clickhouse_database}: {len(applied)} migration(s) applied")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``worker``, ``publish``, ``drain``, ``db``."""
    p = commands.add_parser("worker", help="run the Faust worker in the foreground")
    p.set_defaults(func=cmd_worker)

    p = commands.add_parser("publish", help="JSON lines of canonical events -> Kafka (invalid -> cx.dlq)")
    p.add_argument("file", help="a JSON-lines file, or - for standard input")
    p.add_argument("--source", default="cli-publish", help="source for events that name none")
    p.set_defaults(func=cmd_publish)

    p = commands.add_parser("drain", help="wait until everything published is in ClickHouse")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds (default 120)")
    p.set_defaults(func=cmd_drain)

    p = commands.add_parser("db", help="database tasks")
    p.add_argument("action", choices=["migrate"])
    p.add_argument("--cluster", default=None, metavar="NAME",
                   help="apply the cluster forms (sql/cluster/: ReplicatedMergeTree + Distributed) "
                        "ON CLUSTER NAME, through the server CXPULSE_CLICKHOUSE_HOST/PORT")
    p.set_defaults(func=cmd_db)
