"""Alerting in the worker: after each committed batch, evaluate the minutes of event time it completed.

The detector is a singleton: with N workers only the leader (Faust's leader election: the worker
that holds the leader topic's one partition) evaluates and publishes. When a worker loses the lead
it drops its detector state and its alert gauges; the next leader restores the alerts still firing
from ClickHouse, so an incident is alerted once however the lead moves. Every worker keeps the
kiosk liveness of the events it saw (the alert rules take the minimum over workers).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
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


def register_alerting(app: faust.App, config: WorkerConfig, executor: Executor, outbox: Outbox
                      ) -> Callable[[list[dict[str, Any]]], Awaitable[None]]:
    """Attach the alert timer to ``app``; return the hook the touchpoint agent calls per batch.

    Transitions go to ``cx.alerts`` first and are stored in ClickHouse once Kafka acknowledged
    them; until both happened they stay pending and are sent again on the next run.
    """
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

    async def evaluate() -> None:
        if not app.is_leader():
            if engine.leading:
                log.info("no longer the leader: the detector stops here")
                engine.step_down()
            engine.follow()
            engine.export_liveness()
            return
        async with lock:
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

    @app.timer(CATCH_UP_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def catch_up() -> None:
        await evaluate()

    async def after_batch(events: list[dict[str, Any]]) -> None:
        engine.observe(events)
        await evaluate()

    return after_batch
