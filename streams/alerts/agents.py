"""Alerting in the worker: after each committed batch, evaluate the minutes of event time it completed.

The evaluation runs beside the data path, on a thread and a Kafka producer of its own: the agent
takes its next batch at once (after a backlog, the detector's catch-up of 30 minutes of windows
took about half a second, once per batch, which the data path waited for).

The detector is a singleton: with N workers only the leader (Faust's leader election: the worker
that holds the leader topic's one partition) evaluates and publishes. When a worker loses the lead
it drops its detector state and its alert gauges; the next leader restores the alerts still firing
from ClickHouse, so an incident is alerted once however the lead moves. Every worker keeps the
kiosk liveness of the events it saw (the alert rules take the minimum over workers).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faust
import orjson

from sql.client import ServerDatabase
from streams.alerts.engine import AlertEngine
from streams.config import WorkerConfig
from streams.metrics import ALERT_EVALUATION_FAILURES
from streams.sinks.clickhouse import cluster_settings
from streams.sinks.kafka import Outbox

log = logging.getLogger(__name__)
CATCH_UP_INTERVAL_S = 15.0


def register_alerting(app: faust.App, config: WorkerConfig) -> Callable[[list[dict[str, Any]]], None]:
    """Attach the alert timer to ``app``; return the hook the touchpoint agent calls per batch.

    The hook returns at once; the evaluation it starts runs until it caught up with every batch
    observed meanwhile. Transitions go to ``cx.alerts`` first and are stored in ClickHouse once
    Kafka acknowledged them; until both happened they stay pending and are sent again on the next run.
    """
    outbox = Outbox(config.bootstrap, config.topics)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts")

    def publish(alerts: list[dict[str, Any]]) -> None:
        for alert in alerts:
            outbox.send(outbox.topics.alerts, alert["alert_id"].encode(), orjson.dumps(alert))
        outbox.flush()

    settings = cluster_settings(config.clickhouse_insert_quorum) if config.clickhouse_cluster else {}
    engine = AlertEngine(
        lambda: ServerDatabase(config.clickhouse_host, config.clickhouse_port,
                               config.clickhouse_database, config.clickhouse_user,
                               config.clickhouse_password, settings=settings),
        publish, board_url=config.board_url,
    )
    lock = asyncio.Lock()
    running: asyncio.Future[None] | None = None
    again = False

    async def evaluate() -> None:
        async with lock:
            if not app.is_leader():
                if engine.leading:
                    log.info("no longer the leader: the detector stops here")
                    engine.step_down()
                engine.follow()
                engine.export_liveness()
                return
            try:
                alerts = await asyncio.get_running_loop().run_in_executor(executor, engine.run)
            except Exception:  # alerting must never stop the data path; the next run retries
                ALERT_EVALUATION_FAILURES.inc()
                log.exception("alert evaluation failed (%d transition(s) pending)", engine.pending)
                return
        for alert in alerts:
            log.info("alert %s %s=%s csat_pct %s%% (n=%s) vs %s%% (n=%s)", alert["status"],
                     alert["scope_kind"], alert["scope"], alert.get("recent_pct"),
                     alert.get("recent_n"), alert.get("baseline_pct"), alert.get("baseline_n"))

    async def catch_up_with_batches() -> None:
        nonlocal again
        while True:
            again = False
            await evaluate()
            if not again:
                return

    @app.timer(CATCH_UP_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def catch_up() -> None:
        await evaluate()

    def after_batch(events: list[dict[str, Any]]) -> None:
        nonlocal running, again
        engine.observe(events)
        if running is not None and not running.done():
            again = True  # the running evaluation goes on once more, up to what was just observed
            return
        running = asyncio.ensure_future(catch_up_with_batches())

    return after_batch
