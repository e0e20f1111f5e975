"""The benchmark workload: simulator events over a span of event time, published once like a connector."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import orjson

from connectors.simulator import generate_events
from cxpulse import wiring
from cxpulse.settings import Settings
from schemas.event import validate_event

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Workload:
    """``events`` JSON lines (``payload``) whose event times span ``span_h`` hours."""

    payload: bytes
    events: int
    span_h: float
    seed: int

    @property
    def bytes_per_event(self) -> float:
        """Mean size of an event's JSON line."""
        return len(self.payload) / self.events if self.events else 0.0


def build(events: int, span_h: float, seed: int) -> Workload:
    """``events`` events of the ``steady`` scenario ending now, spread over about ``span_h`` hours.

    The simulator's rate is the mean over a day (diurnal curve): the span is generated again at a
    higher rate until it holds enough events, then cut at ``events``.
    """
    end_ms = int(time.time() * 1000)
    rate = events / (span_h * 3600)
    while True:
        buffer, count, first, last = io.BytesIO(), 0, end_ms, 0
        for event in generate_events("steady", seed, end_ms - int(span_h * HOUR_MS), span_h * 3600, rate):
            if count == 0:
                validate_event(event)  # fail fast on a malformed event
            buffer.write(orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE))
            first, last = min(first, event["occurred_at"]), max(last, event["occurred_at"])
            count += 1
            if count == events:
                return Workload(buffer.getvalue(), count, (last - first) / HOUR_MS, seed)
        rate *= events / max(count, 1) * 1.1


def publish(settings: Settings, workload: Workload) -> float:
    """Publish through the jsonl connector (``cxpulse publish``: envelopes); returns seconds."""
    started = time.perf_counter()
    summary = wiring.publish_lines(settings, io.BytesIO(workload.payload), "bench")
    seconds = time.perf_counter() - started
    if summary.rejected or summary.accepted != workload.events:
        raise RuntimeError(f"publish: {summary.line()} (expected {workload.events:,} accepted)")
    return seconds
