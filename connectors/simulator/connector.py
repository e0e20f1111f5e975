"""The ``simulator`` connector: realistic omnichannel traffic as a pull source, like any other.

``poll(cursor)`` yields the events of one seeded run (``scenarios.simulation``) in the order a
connector would receive them; the cursor is the number of events already yielded, so a restarted
run regenerates the same traffic and resumes exactly after the last event that reached Kafka.
With ``realtime`` each event is held until the wall clock reaches its ``received_at`` (live
traffic); without, a run of past time is yielded as fast as it can be (a backfill). Events go
through the runtime and the publisher like every source's: customer ids are pseudonymised and
comments redacted there, not here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import islice
from typing import Any, Literal

from pydantic import Field

from connectors.sdk.base import Connector, ConnectorConfig, InvalidRecord
from connectors.simulator.scenarios import check_arguments, simulation


class SimulatorConfig(ConnectorConfig):
    """One run: scenario, seed, clock start and length, mean rate, pacing.

    ``start_ms`` None starts at the wall clock when the run starts (a live run: set it to resume one
    after a restart). ``duration_s`` 0 runs until stopped. ``received_before_ms`` ends the run at the
    first event received at or after it (a backfill that must stop at now).
    """

    scenario: Literal["steady", "incident", "fix"] = "steady"
    seed: int = 0
    start_ms: int | None = None
    duration_s: float = Field(0.0, ge=0)
    rate: float = Field(50.0, gt=0, description="mean events/s over a day")
    realtime: bool = True
    received_before_ms: int | None = None


class SimulatorConnector(Connector[SimulatorConfig]):
    """Simulated touchpoint events (already canonical: ``to_events`` only checks their shape)."""

    name = "simulator"
    Config = SimulatorConfig

    def to_events(self, raw: Any) -> list[dict[str, Any]]:
        """One simulated event -> itself; the publisher validates and protects it. Pure."""
        if not isinstance(raw, dict):
            raise InvalidRecord("invalid_record", f"expected a simulated event, got {type(raw).__name__}")
        return [dict(raw)]

    def poll(self, cursor: str | None) -> Iterator[tuple[Any, str]]:
        """The run's events after the first ``cursor`` of them, each with the count that follows it."""
        cfg = self.config
        check_arguments(cfg.scenario, cfg.rate, cfg.duration_s)
        start_ms = cfg.start_ms if cfg.start_ms is not None else int(time.time() * 1000)
        run = simulation(cfg.scenario, cfg.seed, start_ms, cfg.duration_s, cfg.rate,
                         f"sim-{cfg.seed}-{start_ms}")
        done = int(cursor) if cursor else 0
        for n, event in enumerate(islice(run.events(), done, None), start=done + 1):
            if cfg.received_before_ms is not None and event["received_at"] >= cfg.received_before_ms:
                return
            if cfg.realtime:
                _sleep_until(event["received_at"])
            yield event, str(n)


def _sleep_until(t_ms: int) -> None:
    delay_s = (t_ms - time.time() * 1000) / 1000
    if delay_s > 0.002:  # below that, sleeping costs more than it paces
        time.sleep(delay_s)
