"""Benchmark: events/s through publish -> Kafka -> worker -> ClickHouse on a fresh local stack.

`make bench` runs it. It starts its own stack (free ports, a temporary run folder), publishes N
simulated events, waits until `drain` says they are all stored, checks the stored count, and prints
the figures. Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import io
import socket
import tempfile
import time
from pathlib import Path

import orjson

from connectors.simulator import generate_events
from cxpulse import stack, wiring
from cxpulse.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run(events: int, rate: float) -> None:
    """Publish ``events`` simulated events and time each stage."""
    run_dir = Path(tempfile.mkdtemp(prefix="cxpulse-bench-"))
    settings = Settings(run_dir=run_dir, kafka_port=_free_port(), clickhouse_port=_free_port(),
                        clickhouse_http_port=_free_port(), prometheus_port=_free_port(),
                        worker_port=_free_port(), alertmanager_port=_free_port(),
                        webhook_port=_free_port(), topic_prefix="bench.")
    stack.up(settings, progress=lambda line: None)
    try:
        now_ms = int(time.time() * 1000)
        duration_s = events / rate
        lines = []
        for event in generate_events("steady", 1, now_ms - int(duration_s * 1000), duration_s, rate):
            lines.append(orjson.dumps(event))
            if len(lines) == events:
                break
        payload = b"\n".join(lines) + b"\n"
        stack.stop_component(settings, "worker")  # measure the worker on a full backlog
        started = time.perf_counter()
        summary = wiring.publish_lines(settings, io.BytesIO(payload), "bench")
        published = time.perf_counter() - started
        stack.start_component(settings, "worker")
        started = time.perf_counter()
        lag = wiring.drain(settings, timeout=3600)
        stored_s = time.perf_counter() - started
        db = wiring.database(settings)
        stored = db.execute("SELECT count() FROM touchpoint_events")[0][0]
        db.close()
        print(f"events generated      {len(lines):>10,}  (~{len(payload) / len(lines):.0f} B each)")
        print(f"publish (validate+Avro+Kafka)  {summary.accepted / published:>10,.0f} events/s")
        print(f"worker -> ClickHouse  {stored / stored_s:>10,.0f} events/s "
              f"(backlog of {stored:,} drained in {stored_s:.1f} s; group {settings.worker_group})")
        print(f"lag after drain       {sum(lag.values()):>10}")
    finally:
        stack.down(settings, progress=lambda line: None)


def main() -> None:
    """Command line: --events N --rate R (simulated rate, shapes timestamps only)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args()
    run(args.events, args.rate)


if __name__ == "__main__":
    main()
