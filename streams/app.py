"""The Faust app: a thin shell around ``WorkerPipeline`` (the flow), plus timers and web pages.

Faust acks a batch from ``take_events`` as soon as the loop body ends, even when it ends by an
exception or a cancellation. So the body never raises: the pipeline returns only once the batch is
committed, and when it cannot be (shutting down with a failing write, partitions lost), the process
exits at once, before Faust can commit, so the batch is read again.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from prometheus_client import generate_latest

from schemas.codec import AvroCodec
from schemas.kafka import consumer_lag, end_offsets
from sql.client import ServerDatabase
from streams.alerts.agents import register_alerting
from streams.config import WorkerConfig
from streams.failpoints import Failpoints
from streams.fcr.processor import FcrProcessor
from streams.fence import Fence
from streams.followups.processor import FollowUpProcessor
from streams.intake import Interrupted, Record
from streams.metrics import CONSUMER_LAG, FCR_CACHED_CONTACTS, FCR_EVICTED_CONTACTS, STORED_INDEX_BYTES
from streams.pipeline import BatchResult, WorkerPipeline
from streams.sinks.checkpoints import Checkpoints, topic_id
from streams.sinks.clickhouse import ClickHouseSink, cluster_settings
from streams.sinks.kafka import Outbox
from streams.take import CxStream

log = logging.getLogger(__name__)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4"
"""aiohttp takes the charset separately; Prometheus assumes UTF-8 anyway."""
LAG_REFRESH_S = 10.0
FETCH_MAX_WAIT_MS = 20
"""Tansu holds every fetch for the full wait even when data is there; Faust hard-codes 1500 ms."""
EXIT_UNWRITTEN_BATCH = 75
COMMIT_INTERVAL_S = 0.2
"""Faust commits acknowledged offsets this often, besides the commit after each batch (``take``)."""
BACKLOG_IDLE_S = 0.06
"""Draining a backlog, a batch is yielded once no record came for this long (three fetch waits)."""
GC_THRESHOLDS = (200_000, 50, 1000)
"""A batch allocates ~10 objects per event (decoded dicts, rows, copies), nearly all freed by reference
counting; at Python's default (700, 10, 10) the cycle collector ran full passes over every live
object many times per batch, over half of the pipeline's CPU (86 -> 38 µs/event, 80k events)."""
MMAP_THRESHOLD_BYTES = 1 << 20
"""Blocks from this size up are mapped apart and unmapped when freed. glibc's default threshold
rises to the largest block freed so far, so after the first merge of the stored index its runs came
from the heap, whose freed holes the process kept: RSS grew about 1.4x the index's bytes (96 MB
index, 133 MB of growth, against 104 MB with this fixed)."""
_M_MMAP_THRESHOLD = -3
"""``mallopt``'s parameter number (malloc.h); setting it also stops the threshold from moving."""
CLICKHOUSE_CALL_TIMEOUT_S = 10.0
"""Longest wait on one ClickHouse socket read or write: with the fence's grace it stays below the
rebalance timeout, so no write of this worker can land after its partitions moved."""


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):  # type: ignore[misc]
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    async def _highwaters(self, partitions: list[Any]) -> dict[Any, int]:
        # Table recovery reads changelogs up to these offsets; ListOffsets is wrong on Tansu.
        bootstrap = ",".join(str(url).removeprefix("kafka://") for url in self.app.conf.broker)
        found = await asyncio.get_running_loop().run_in_executor(
            None, end_offsets, bootstrap, [(tp.topic, tp.partition) for tp in partitions])
        return {tp: found[(tp.topic, tp.partition)] for tp in partitions}


class _Consumer(faust_aiokafka.Consumer):  # type: ignore[misc]
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):  # type: ignore[misc]
    Consumer = _Consumer


class CxApp(faust.App):  # type: ignore[misc]
    """faust.App with a short fetch wait, and the fence told of every rebalance as it starts."""

    fence: Fence | None = None

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)

    def on_rebalance_start(self) -> None:
        """Called by the consumer's thread as soon as partitions are about to be revoked."""
        if self.fence is not None:
            self.fence.rebalance_started()
        super().on_rebalance_start()


def tune_memory() -> None:
    """Collect cycles rarely, never scan what start-up built, unmap large blocks when freed.

    Call it once the app is created.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        applied = ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):  # not glibc: its allocator keeps its own policy
        applied = 0
    if not applied:  # mallopt answers 0 when it refuses the setting
        log.info("mmap threshold not set: the allocator keeps its own policy")


def faust_datadir(data_dir: str) -> str:
    """``data_dir`` as Faust must get it: absolute, with braces escaped (Faust ``str.format``s it).

    Faust's default, ``{conf.name}-data`` relative to the working directory (the repository root
    under the stack's supervisor), is what left ``<app id>-data/v1/tables`` folders in the repo.
    """
    return str(Path(data_dir).absolute()).replace("{", "{{").replace("}", "}}")


@dataclass
class WorkerHealth:
    """Liveness as /health reports it."""

    sink: ClickHouseSink
    is_leader: Callable[[], bool]
    started: float = field(default_factory=time.time)
    last_batch_at: float | None = None
    batches: int = 0

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {"ok": not self.sink.failing, "leader": self.is_leader(), "batches": self.batches,
                "last_batch_at": self.last_batch_at, "uptime_s": round(time.time() - self.started, 1)}


def take_records(config: WorkerConfig) -> int:
    """Kafka records per batch: ``batch_size`` single events, or fewer envelopes of many events.

    Without a schema registry producers may send envelopes of up to 500 events, so a batch of
    ``batch_size`` records could hold millions of events (and their bytes in Faust's buffer); the
    pipeline writes a batch in chunks of ``batch_size`` events anyway.
    """
    return config.batch_size if config.schema_registry_url else max(1, config.batch_size // 50)


def build_pipeline(config: WorkerConfig, fence: Fence) -> WorkerPipeline:
    """The pipeline with its real ClickHouse sink and Kafka outbox."""
    settings = cluster_settings(config.clickhouse_insert_quorum) if config.clickhouse_cluster else {}
    sink = ClickHouseSink(lambda: ServerDatabase(
        config.clickhouse_host, config.clickhouse_port, config.clickhouse_database,
        config.clickhouse_user, config.clickhouse_password, connect_timeout=3.0,
        send_receive_timeout=CLICKHOUSE_CALL_TIMEOUT_S, settings=settings,
    ), cluster=config.clickhouse_cluster)
    return WorkerPipeline(
        codec=AvroCodec(registry_url=config.schema_registry_url,
                        subject=f"{config.topics.touchpoints}-value"),
        sink=sink, outbox=Outbox(config.bootstrap, config.topics),
        checkpoints=Checkpoints(topic_id(config.bootstrap, config.topics.touchpoints)),
        fcr=FcrProcessor(config.fcr_window_ms, config.fcr_cached_contacts),
        followups=FollowUpProcessor(config.followup_sla), fence=fence,
        failpoints=Failpoints(config.failpoint_file), max_events=config.batch_size,
    )


def create_app(config: WorkerConfig) -> faust.App:
    """Build the app with its agent, timers and web pages (/health, /metrics)."""
    app = CxApp(
        config.app_id, broker=[f"kafka://{host}" for host in config.bootstrap.split(",")],
        store="memory://", datadir=faust_datadir(config.data_dir), autodiscover=False,
        web_port=config.web_port, web_bind=config.web_bind, web_host=config.web_bind,
        topic_disable_leader=False, topic_allow_declare=False, broker_commit_interval=COMMIT_INTERVAL_S,
        broker_session_timeout=6.0, broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=config.rebalance_timeout_s,
        broker_max_poll_interval=config.max_poll_interval_s,
        consumer_auto_offset_reset="earliest", Stream=CxStream,
        stream_buffer_maxsize=max(64, take_records(config) * 2), web_enabled=True,
    )
    fence = Fence(config.rebalance_grace_s, config.max_poll_interval_s * 0.8)
    app.fence = fence
    pipeline = build_pipeline(config, fence)
    health = _register_agent(app, config, pipeline)

    @app.on_partitions_assigned.connect  # type: ignore[untyped-decorator]
    async def partitions_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        pipeline.partitions_moved()
        fence.rebalance_done()

    _register_pages(app, config, health)
    return app


def _register_agent(app: faust.App, config: WorkerConfig, pipeline: WorkerPipeline) -> WorkerHealth:
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline")
    health = WorkerHealth(pipeline.sink, app.is_leader)
    after_batch = register_alerting(app, config) if config.alerts_enabled else None
    source = app.topic(config.topics.touchpoints, key_serializer="raw", value_serializer="raw",
                       allow_empty=True)

    async def commit(records: list[Record]) -> BatchResult:
        work = executor.submit(pipeline.process, records)
        try:
            return await asyncio.wrap_future(work)
        except asyncio.CancelledError:
            pipeline.fence.stopping.set()
            work.result()  # finish (or give up) the batch before Faust may ack it
            raise

    @app.agent(source, concurrency=1)  # type: ignore[untyped-decorator]
    async def touchpoints(stream: Any) -> None:
        evicted = pipeline.fcr.evicted_contacts  # what the counter has counted
        async for events in stream.take_batches(take_records(config), config.batch_seconds,
                                                BACKLOG_IDLE_S):
            records = [Record(e.message.partition, e.message.offset, e.message.value) for e in events]
            try:
                result = await commit(records)
            except BaseException as exc:
                # Leaving the loop body, even by an exception, makes Faust ack the batch: exit first,
                # so the batch is read again after the restart instead of being lost.
                level = logging.WARNING if isinstance(exc, Interrupted) else logging.ERROR
                log.log(level, "batch of %d records not committed (%r): exiting before Faust can "
                        "acknowledge it", len(records), exc, exc_info=not isinstance(exc, Interrupted))
                logging.shutdown()
                os._exit(EXIT_UNWRITTEN_BATCH)
            health.batches += 1
            health.last_batch_at = time.time()
            FCR_CACHED_CONTACTS.set(pipeline.fcr.cached_contacts)
            FCR_EVICTED_CONTACTS.inc(pipeline.fcr.evicted_contacts - evicted)
            evicted = pipeline.fcr.evicted_contacts
            for index, size in pipeline.index_bytes().items():
                STORED_INDEX_BYTES.labels(index).set(size)
            log.info("batch: %d records, %d already applied, %d stored, %d duplicates, "
                     "%d dead-lettered, %d fcr rows", result.records, result.already_applied,
                     result.stored, result.duplicates, result.dead_lettered, result.fcr_rows)
            if after_batch is not None:
                after_batch(result.events)

    return health


def _register_pages(app: faust.App, config: WorkerConfig, health: WorkerHealth) -> None:
    @app.timer(LAG_REFRESH_S)  # type: ignore[untyped-decorator]
    async def refresh_consumer_lag() -> None:
        topic = config.topics.touchpoints
        try:
            lag = await asyncio.get_running_loop().run_in_executor(
                None, consumer_lag, config.bootstrap, config.app_id, topic, 5.0)
        except Exception as exc:  # the gauge keeps its last value; the worker carries on
            log.warning("consumer lag refresh failed: %s", exc)
            return
        for partition, records in lag.items():
            CONSUMER_LAG.labels(topic, str(partition)).set(records)

    @app.page("/metrics")  # type: ignore[untyped-decorator]
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=PROMETHEUS_CONTENT_TYPE)

    @app.page("/health")  # type: ignore[untyped-decorator]
    async def health_page(web: Any, request: Any) -> Any:
        status = health.snapshot()
        return web.json(status, status=200 if status["ok"] else 503)
