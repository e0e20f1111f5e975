"""``cxpulse demo`` (``make demo``): the stack, some history, live traffic, and ``cxpulse top``."""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from cxpulse.settings import Settings
from sql.client import Database


def backfill(settings: Settings, progress: Callable[[str], None] = print) -> None:
    """Publish the last ``demo_backfill_hours`` of simulated history, so every window has data."""
    from connectors.sdk.publisher import EventPublisher
    from connectors.simulator import generate_events
    from cxpulse.cli import privacy_key
    from schemas.codec import AvroCodec
    from schemas.topics import Topics

    hours = settings.demo_backfill_hours
    if hours <= 0:
        return
    topics = Topics(settings.topic_prefix)
    publisher = EventPublisher(settings.bootstrap, topics,
                               AvroCodec(registry_url=settings.schema_registry_url,
                                         subject=f"{topics.touchpoints}-value"), "simulator",
                               privacy_key=privacy_key(settings))
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - int(hours * 3_600_000)
    seed = now_ms // 3_600_000  # a new history each hour; re-running within the hour is a no-op
    for event in generate_events("steady", seed, start_ms, hours * 3600, settings.demo_rate / 4):
        if event["received_at"] > now_ms:
            break
        publisher.publish_object(event, orjson.dumps(event))
    summary = publisher.flush()
    progress(f"  history: {hours:g} h of simulated events ({summary.line()})")


def run_demo(settings: Settings, connect: Callable[[], Database]) -> int:
    """Bring everything up, then show the live view until Ctrl-C. The stack keeps running."""
    from cxpulse.top import run_top
    from infra import stack

    print(f"cxpulse demo: starting the local stack in {settings.run_path}")
    stack.up(settings)
    backfill(settings)
    from cxpulse.cli import drain

    drain(settings, timeout=900, progress=lambda left: print(f"  worker: {left:,} events to store"))
    from cxpulse.ingest_cmd import demo_ingest

    demo_ingest(settings)
    stack.start_component(settings, "simulator", health=False)
    print(f"  simulator  sending ~{settings.demo_rate:g} events/s (log: "
          f"{settings.run_path / 'logs' / 'simulator.log'})")
    print(
        "\nWhere things are:\n"
        f"  data and logs   {settings.run_path}\n"
        f"  ClickHouse      clickhouse-client --port {settings.clickhouse_port} "
        f"-d {settings.clickhouse_database}\n"
        f"  Prometheus      http://127.0.0.1:{settings.prometheus_port}\n"
        f"  Alertmanager    http://127.0.0.1:{settings.alertmanager_port}\n"
        f"  alerts received tail -f {settings.run_path / 'alerts' / 'webhook.jsonl'}\n"
        f"  worker metrics  http://127.0.0.1:{settings.worker_port}/metrics\n"
        f"  ingest API      http://127.0.0.1:{settings.ingest_port}/openapi.json "
        "(keys: .venv/bin/cxpulse ingest keys add --help)\n"
        "  figures         .venv/bin/cxpulse metrics --by channel --from now-1h\n"
        f"The simulator's incident (CSAT -25 points on web/checkout and one kiosk) starts 5 minutes\n"
        "after it and lasts 15: watch the alert fire, reach the webhook, and resolve.\n"
        "Stop everything with `make down`. Live view in 5 s (Ctrl-C leaves it; the stack keeps running).\n"
    )
    time.sleep(5)
    code = run_top(connect, 2.0, once=False,
                   webhook_log=settings.run_path / "alerts" / "webhook.jsonl")
    print("\nThe stack is still running: `make down` stops it.")
    return code
