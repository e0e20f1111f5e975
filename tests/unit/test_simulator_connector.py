"""The ``simulator`` connector: a pull source like any other (contract kit), pacing and stop rules."""

from __future__ import annotations

import time
from itertools import islice

from connectors.sdk.runtime import ConnectorRuntime
from connectors.sdk.testing import ConnectorContract, FakePublisher, MemoryCursorStore
from connectors.simulator.connector import SimulatorConfig, SimulatorConnector
from connectors.simulator.scenarios import simulation

START_MS = 1_795_500_000_000  # 2026-11-24, a fixed clock: the run is the same at every poll
CONFIG = {"seed": 5, "start_ms": START_MS, "duration_s": 120, "rate": 2.0, "realtime": False}


class TestSimulator(ConnectorContract):
    connector_cls = SimulatorConnector
    config = CONFIG
    good_records = [raw for raw, _ in islice(SimulatorConnector(SimulatorConfig(**CONFIG)).poll(None), 30)]
    bad_records = [(["not", "an", "event"], "invalid_record"), ("text", "invalid_record")]


def test_poll_yields_the_scenarios_run_and_counts_as_cursor() -> None:
    polled = list(SimulatorConnector(SimulatorConfig(**CONFIG)).poll(None))
    expected = list(simulation("steady", 5, START_MS, 120, 2.0, f"sim-5-{START_MS}").events())
    assert [raw for raw, _ in polled] == expected
    assert [cursor for _, cursor in polled] == [str(n) for n in range(1, len(expected) + 1)]


def test_a_backfill_stops_at_the_first_event_received_after_its_end() -> None:
    cut = START_MS + 60_000
    polled = [raw for raw, _ in SimulatorConnector(SimulatorConfig(
        **CONFIG, received_before_ms=cut)).poll(None)]
    assert polled and all(e["received_at"] < cut for e in polled)


def test_realtime_holds_each_event_until_its_received_at() -> None:
    now_ms = int(time.time() * 1000)
    connector = SimulatorConnector(SimulatorConfig(seed=1, start_ms=now_ms, duration_s=2, rate=20.0))
    publisher = FakePublisher("simulator")
    started = time.monotonic()
    ConnectorRuntime(connector, publisher).run_pull(MemoryCursorStore(), max_batch_seconds=0.5)
    last = max(e["received_at"] for e in publisher.published)
    assert publisher.published and time.monotonic() - started >= (last - now_ms) / 1000 - 0.05
    assert all(e["customer_id"] is None or e["customer_id"].startswith("c_")
               for e in publisher.published)
