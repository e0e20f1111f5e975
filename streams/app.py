"""The Faust app: one worker process consumes ``cx.touchpoints`` and keeps ClickHouse exact."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from prometheus_client import generate_latest

from schemas.kafka import consumer_lag, end_offsets
from streams.config import WorkerConfig
from streams.metrics import CONSUMER_LAG

log = logging.getLogger(__name__)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4"
"""aiohttp takes the charset separately; Prometheus assumes UTF-8 anyway."""
LAG_REFRESH_S = 10.0
FETCH_MAX_WAIT_MS = 20
"""Tansu holds every fetch for the full wait even when data is there; Faust hard-codes 1500 ms."""


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
    """faust.App with a short fetch wait (low latency on Tansu and on quiet topics)."""

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


def faust_datadir(data_dir: str) -> str:
    """``data_dir`` as Faust must get it: absolute, with braces escaped (Faust ``str.format``s it).

    Faust's default, ``{conf.name}-data`` relative to the working directory (the repository root
    under the stack's supervisor), is what left ``<app id>-data/v1/tables`` folders in the repo.
    """
    return str(Path(data_dir).absolute()).replace("{", "{{").replace("}", "}}")


def create_app(config: WorkerConfig) -> faust.App:
    """Build the app with its agents and its web pages (/health, /metrics).

    Everything Faust writes (its data dir, RocksDB tables) goes under ``config.data_dir``.
    """
    app = CxApp(
        config.app_id,
        broker=f"kafka://{config.bootstrap.split(',')[0]}",
        store="rocksdb://",
        datadir=faust_datadir(config.data_dir),
        autodiscover=False,
        web_port=config.web_port,
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        topic_disable_leader=True,
        topic_allow_declare=False,
        broker_commit_interval=0.5,
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=20.0,
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=max(4096, config.batch_size * 2),
        web_enabled=True,
    )
    from streams.satisfaction.agents import register_touchpoint_agent

    health = register_touchpoint_agent(app, config)

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

    return app
