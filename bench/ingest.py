"""Benchmark: the HTTP ingest service — signed requests/s, events/s and latency to the Kafka ack.

`make bench-ingest` runs it on a fresh local stack (free ports, a temporary run folder; the worker is
not started). For each batch size, ``--concurrency`` clients post signed batches of canonical events
for ``--seconds``; every answer must be 200 with every item accepted. Then the service's own cost per
event is timed in process (no HTTP, no clients). The topic must hold exactly the events sent.
Not a test: nothing here asserts a speed. The clients share the machine's cores
with the service, so the figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from connectors.ingest.client import signed_headers
from connectors.ingest.delivery import SharedProducer
from connectors.ingest.keys import KeyStore
from cxpulse import stack
from cxpulse.commands.ingest import build_service
from cxpulse.ports import free_port as _free_port
from cxpulse.settings import Settings
from cxpulse.wiring import master_key
from schemas.kafka import end_offsets
from schemas.topics import Topics


def _batch(size: int, now_ms: int) -> bytes:
    return orjson.dumps({"events": [
        {"event_id": uuid.uuid4().hex, "occurred_at": now_ms - 1000, "channel": "web",
         "kind": "response", "touchpoint": "checkout", "csat": 1 + n % 5, "nps": n % 11,
         "customer_id": f"cust-{n % 997}", "comment": "giao hàng nhanh, cảm ơn"}
        for n in range(size)]})


async def _client(session: aiohttp.ClientSession, url: str, key_id: str, secret: str, size: int,
                  until: float, latencies: list[float]) -> int:
    events = 0
    while time.perf_counter() < until:
        body = _batch(size, int(time.time() * 1000))
        headers = {"Content-Type": "application/json",
                   **signed_headers(key_id, secret, "POST", "/v1/events", body)}
        started = time.perf_counter()
        async with session.post(url, data=body, headers=headers) as response:
            answer: Any = await response.json()
        latencies.append(time.perf_counter() - started)
        if response.status != 200 or answer["accepted"] != size:
            raise RuntimeError(f"unexpected answer {response.status}: {answer}")
        events += size
    return events


async def _round(url: str, key_id: str, secret: str, size: int, concurrency: int,
                 seconds: float) -> tuple[int, int, list[float]]:
    latencies: list[float] = []
    until = time.perf_counter() + seconds
    async with aiohttp.ClientSession() as session:
        counts = await asyncio.gather(*(_client(session, url, key_id, secret, size, until, latencies)
                                        for _ in range(concurrency)))
    return sum(counts), len(latencies), latencies


def _in_process(settings: Settings, key_id: str, batches: int = 20, size: int = 500) -> int:
    """The service's own cost per event, without HTTP or clients; returns the events published.

    ``IngestService.publish`` on full batches, one after another, each waiting for its Kafka
    acknowledgements: wall time (acks included) and CPU time of this process (its Kafka threads too).
    """
    service = build_service(settings)
    service.producer = SharedProducer(settings.bootstrap)
    key = service.keys.get(key_id)
    assert key is not None
    items = [orjson.loads(_batch(size, int(time.time() * 1000)))["events"] for _ in range(batches)]
    started, cpu = time.perf_counter(), time.process_time()
    for batch in items:
        service.publish("/v1/events", key, batch)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    service.producer.close()
    events = batches * size
    print(f"in process ({batches} batches of {size}, one after another): "
          f"{elapsed / events * 1e6:.0f} µs/event wall, acks included; "
          f"{cpu / events * 1e6:.0f} µs/event CPU")
    return batches * size


def run(sizes: list[int], concurrency: int, seconds: float) -> None:
    """Post batches of each size for ``seconds``; print throughput and latency per size."""
    settings = Settings(run_dir=Path(tempfile.mkdtemp(prefix="cxpulse-bench-ingest-")),
                        kafka_port=_free_port(), clickhouse_port=_free_port(),
                        clickhouse_http_port=_free_port(), prometheus_port=_free_port(),
                        worker_port=_free_port(), alertmanager_port=_free_port(),
                        webhook_port=_free_port(), mqtt_port=_free_port(),
                        ingest_port=_free_port(), topic_prefix="bench.")
    stack.up(settings, progress=lambda line: None,
             components=tuple(c for c in stack.COMPONENTS if c != "worker"))
    try:
        key, secret = KeyStore(settings.ingest_keys_path, master_key(settings)).add(
            "server", "bench", rate_per_s=1e9, burst=10**9)
        time.sleep(1.5)  # the service re-reads the key file at most once a second
        url = f"http://127.0.0.1:{settings.ingest_port}/v1/events"
        print(f"{'batch':>6} {'requests/s':>11} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
        total = 0
        for size in sizes:
            events, requests, latencies = asyncio.run(
                _round(url, key.key_id, secret, size, concurrency, seconds))
            total += events
            q = statistics.quantiles(latencies, n=100)
            print(f"{size:>6} {requests / seconds:>11,.0f} {events / seconds:>10,.0f} "
                  f"{q[49] * 1000:>8.1f} {q[98] * 1000:>8.1f}")
        total += _in_process(settings, key.key_id)
        topic = Topics(settings.topic_prefix).touchpoints
        stored = sum(end_offsets(settings.bootstrap, [(topic, p) for p in
                                                      range(settings.touchpoint_partitions)]).values())
        print(f"events acknowledged {total:,}; in {topic}: {stored:,}")
    finally:
        stack.down(settings, progress=lambda line: None)


def main() -> None:
    """Command line: --sizes 1,20,200 --concurrency 16 --seconds 10."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1,20,200")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    run([int(s) for s in args.sizes.split(",")], args.concurrency, args.seconds)


if __name__ == "__main__":
    main()
