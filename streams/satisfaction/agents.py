"""The touchpoint agent: batches of records -> dead-letters + exactly-once rows in ClickHouse.

Faust acks a batch from ``take_events`` as soon as the loop body ends, even when it ends by an exception
or a cancellation. So the body never raises: bad records are dead-lettered, ClickHouse failures are
retried until they succeed, and a shutdown in the middle of a write waits for that write; if it could
not finish, the process exits at once, before Faust can commit, so the batch is read again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import faust
from faust import streams as faust_streams

from schemas.codec import AvroCodec
from schemas.kafka import dead_letter_headers
from sql.client import ServerDatabase
from streams.alerts.agents import register_alerting
from streams.config import WorkerConfig
from streams.fcr.processor import FcrProcessor
from streams.followups.processor import FollowUpProcessor
from streams.metrics import DEAD_LETTERED, DUPLICATES_DROPPED, EVENTS_IN, EVENTS_STORED
from streams.satisfaction.batch import Record, Rejected, prepare_batch
from streams.sinks.clickhouse import ClickHouseSink
from streams.topics import FCR_TABLE

log = logging.getLogger(__name__)
EXIT_UNWRITTEN_BATCH = 75
FCR_SWEEP_INTERVAL_S = 600.0
FCR_STORE_OPTIONS = {
    "write_buffer_size": 16 * 2**20,
    "max_write_buffer_number": 2,
    "block_cache_size": 64 * 2**20,
}
"""Per partition. Faust's defaults (3 x 64 MB write buffers, a 2 GiB block cache) let a worker
grow far beyond what the FCR state needs."""


@contextmanager
def within_event(event: Any) -> Iterator[None]:
    """Run as if ``event`` were the one being processed.

    Faust's RocksDB store picks the partition of a table write from the current event, and
    ``take_events`` leaves none current.
    """
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


@dataclass
class WorkerHealth:
    """Liveness as /health reports it."""

    sink: ClickHouseSink
    started: float = field(default_factory=time.time)
    last_batch_at: float | None = None
    batches: int = 0

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "ok": not self.sink.failing,
            "batches": self.batches,
            "last_batch_at": self.last_batch_at,
            "uptime_s": round(time.time() - self.started, 1),
        }


def register_touchpoint_agent(app: faust.App, config: WorkerConfig) -> WorkerHealth:
    """Attach the agent to ``app``; returns the health record it keeps up to date."""
    codec = AvroCodec(registry_url=config.schema_registry_url,
                      subject=f"{config.topics.touchpoints}-value")
    sink = ClickHouseSink(lambda: ServerDatabase(
        config.clickhouse_host, config.clickhouse_port, config.clickhouse_database,
        config.clickhouse_user, config.clickhouse_password,
    ))
    health = WorkerHealth(sink)
    stopping = threading.Event()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse-sink")
    fcr_table = app.Table(
        FCR_TABLE, default=None, partitions=config.partitions, key_type=str,
        use_partitioner=True, options=FCR_STORE_OPTIONS,
    )
    fcr = FcrProcessor(fcr_table, config.fcr_window_ms)
    followups = FollowUpProcessor(config.followup_sla)
    followups_topic = app.topic(config.topics.followups, key_serializer="raw", value_serializer="raw")
    source_topic = app.topic(config.topics.touchpoints, key_serializer="raw",
                             value_serializer="raw", allow_empty=True)
    dlq_topic = app.topic(config.topics.dlq, key_serializer="raw", value_serializer="raw")

    async def dead_letter(rejected: list[Rejected]) -> None:
        pending = []
        for item in rejected:
            headers = dead_letter_headers(item.reason, item.detail, "worker")
            headers.append(("cx.origin", f"{config.topics.touchpoints}/"
                            f"{item.record.partition}/{item.record.offset}".encode()))
            pending.append(await dlq_topic.send(value=item.record.value, headers=headers))
            DEAD_LETTERED.labels(item.reason).inc()
        for future in pending:  # delivered before the batch may be acked
            await future

    async def store(rows: list[Any], fcr_rows: list[Any], followup_rows: list[Any]) -> int:
        work = executor.submit(sink.write_until_done, rows, fcr_rows, followup_rows, stopping.is_set)
        try:
            written = await asyncio.wrap_future(work)
        except asyncio.CancelledError:
            stopping.set()
            written = work.result()  # finish (or give up) the write before Faust acks
            if written is None:
                log.error("shutdown during an unwritten batch: exiting before commit")
                os._exit(EXIT_UNWRITTEN_BATCH)
            raise
        if written is None:
            os._exit(EXIT_UNWRITTEN_BATCH)
        return written

    after_batch = register_alerting(app, config, executor) if config.alerts_enabled else None

    @app.timer(FCR_SWEEP_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def sweep_fcr_state() -> None:
        dropped = fcr.sweep()
        if dropped:
            log.info("fcr: dropped %d customer-reason keys whose outcomes are final", dropped)

    @app.agent(source_topic, concurrency=1)  # type: ignore[untyped-decorator]
    async def touchpoints(stream: Any) -> None:
        async for events in stream.take_events(config.batch_size, within=config.batch_seconds):
            try:
                await process(events)
            except BaseException:
                # Leaving the loop body, even by an exception, makes Faust ack the batch: exit first,
                # so the batch is read again after the restart instead of being lost.
                log.exception("batch failed: exiting before Faust can commit it")
                logging.shutdown()
                os._exit(EXIT_UNWRITTEN_BATCH)

    async def process(events: list[Any]) -> None:
        records = [Record(e.message.partition, e.message.offset, e.message.value, e)
                   for e in events]
        EVENTS_IN.inc(len(records))
        batch = prepare_batch(records, codec)
        if batch.rejected:
            await dead_letter(batch.rejected)
        fcr_rows = fcr.process(batch.events, lambda i: within_event(batch.sources[i].carrier))
        created = followups.process(batch.events)
        written = await store(batch.rows, fcr_rows, created.rows)
        # Every follow-up of the batch, delivered before Faust may ack: at least once, keyed.
        pending = [await followups_topic.send(key=key, value=value) for key, value in created.messages()]
        for future in pending:
            await future
        health.batches += 1
        health.last_batch_at = time.time()
        EVENTS_STORED.inc(written)
        if after_batch is not None:
            await after_batch(batch.events)
        DUPLICATES_DROPPED.inc(batch.duplicates + len(batch.rows) - written)
        log.info("batch: %d records, %d stored, %d duplicates, %d dead-lettered",
                 len(records), written, batch.duplicates + len(batch.rows) - written,
                 len(batch.rejected))

    return health
