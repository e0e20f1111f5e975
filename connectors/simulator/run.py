"""``cxpulse simulate``: the simulator's traffic into Kafka, or to a JSON-lines file.

The traffic: web, call center, retail partner and kiosk events (plus some mobile app, chat and
email) at a diurnal rate (quiet at night, peaks late morning and evening: a fixed curve times
Poisson arrivals); survey responses with realistic CSAT/NPS/CES mixes that differ by channel,
partner and location; anonymous kiosk smiley presses; contacts whose customers come back about the
same reason, on the same or another channel, within and beyond the 7-day FCR window; comments in
English and Vietnamese; a small share of late events. The ``incident`` scenario drops CSAT on web
checkout and one kiosk location by ~25 points in the middle of the run.

Two modes:
- Kafka (``output`` None): real time, through the ``simulator`` connector in the SDK runtime like
  any source (privacy, validation, dead letters, per-connector counters). Each event is published
  when the wall clock reaches its ``received_at``; runs until ``duration_s`` or Ctrl-C / SIGTERM,
  then flushes.
- File (``output`` a path or ``-``): simulated time from ``start_ms`` for ``duration_s``, written as
  fast as possible. Same seed and arguments -> byte-identical file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO

import orjson

from connectors.sdk.runtime import ConnectorRuntime, InMemoryCursorStore, Publisher
from connectors.simulator.connector import SimulatorConfig, SimulatorConnector
from connectors.simulator.model import diurnal_factor
from connectors.simulator.scenarios import check_arguments, generate_events

FLUSH_EVERY_S = 1.0
PROGRESS_EVERY_S = 5.0
FILE_PROGRESS_EVERY = 100_000


@dataclass(frozen=True)
class SimulationOptions:
    """What ``cxpulse simulate`` was asked for.

    ``rate`` is the mean events/s over a day; ``duration_s`` 0 means until Ctrl-C (Kafka only);
    ``output`` None -> Kafka, ``-`` -> stdout, else a file path; ``start_ms`` is the simulated clock
    start for file mode (epoch ms, default now - duration).
    """

    rate: float
    duration_s: float
    scenario: str
    seed: int | None
    output: str | None
    start_ms: int | None


def run_simulation(options: SimulationOptions, publisher: Publisher | None = None) -> int:
    """Run ``cxpulse simulate``; returns the exit code (0 on success, also after Ctrl-C).

    Into Kafka (``output`` None) through ``publisher``, which pseudonymises customer ids like any
    source's (it needs the deployment's key: a keyless one dead-letters events with a customer id);
    files keep them raw. Raises ValueError (before anything runs) for a bad scenario, rate or
    duration, for file mode without a positive duration, and for Kafka mode without a publisher.
    """
    check_arguments(options.scenario, options.rate, options.duration_s)
    if options.output is not None and options.duration_s <= 0:
        raise ValueError("simulate --output needs a --duration > 0 (simulated time has no Ctrl-C), "
                         "e.g. --duration 24h")
    seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
    _say(f"simulate: scenario {options.scenario}, seed {seed}, mean {options.rate:g} events/s")
    if options.output is None:
        if publisher is None:
            raise ValueError("simulate into Kafka needs a publisher")
        return _run_kafka(options, seed, publisher)
    return _run_file(options, options.output, seed)


def _run_file(options: SimulationOptions, output: str, seed: int) -> int:
    start_ms = (options.start_ms if options.start_ms is not None
                else _now_ms() - int(options.duration_s * 1000))
    events = generate_events(options.scenario, seed, start_ms, options.duration_s, options.rate)
    name = "stdout" if output == "-" else output
    try:
        with _open_output(output) as out:
            count = _write_lines(out, events, name)
    except BrokenPipeError:
        # the reader stopped early (`| head`): not our failure; silence the flush at exit too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    # stdout may be the data itself: then the summary goes to stderr
    print(f"wrote {count} events to {name}", file=sys.stderr if output == "-" else sys.stdout)
    return 0


def _write_lines(out: BinaryIO, events: Iterator[dict[str, Any]], name: str) -> int:
    count = 0
    for event in events:
        out.write(orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE))
        count += 1
        if count % FILE_PROGRESS_EVERY == 0:
            _say(f"simulate: {count} events written to {name}")
    out.flush()
    return count


def _open_output(output: str) -> contextlib.AbstractContextManager[BinaryIO]:
    if output == "-":
        return contextlib.nullcontext(sys.stdout.buffer)
    return Path(output).open("wb")


def _run_kafka(options: SimulationOptions, seed: int, publisher: Publisher) -> int:
    connector = SimulatorConnector(SimulatorConfig(
        scenario=options.scenario, seed=seed, start_ms=_now_ms(), duration_s=options.duration_s,
        rate=options.rate, realtime=True))
    runtime = ConnectorRuntime(connector, publisher)
    until = f"for {options.duration_s:g} s" if options.duration_s > 0 else "until Ctrl-C"
    _say(f"simulate: publishing {until}")
    progress = _Progress(options.rate)
    with _sigterm_as_interrupt():
        try:
            # a live run is not resumed: the cursor store only paces the flushes (every second)
            runtime.run_pull(InMemoryCursorStore(), max_batch_seconds=FLUSH_EVERY_S,
                             on_record=progress.sent)
        except KeyboardInterrupt:
            _say("simulate: stopping; flushing what was sent")
    publisher.flush()
    print(runtime.summary.line())
    return 0


class _Progress:
    """Reports the send rate every ~5 s on stderr (the demo's simulator log)."""

    def __init__(self, mean_rate: float) -> None:
        self._mean_rate = mean_rate
        self.count = 0
        self._reported_at = time.monotonic()
        self._reported_count = 0

    def sent(self) -> None:
        """Count one published event; report when due."""
        self.count += 1
        now = time.monotonic()
        if now - self._reported_at >= PROGRESS_EVERY_S:
            rate = (self.count - self._reported_count) / (now - self._reported_at)
            target = self._mean_rate * diurnal_factor(_now_ms())
            _say(f"simulate: {self.count} events sent, {rate:.1f} events/s now "
                 f"(diurnal target {target:.1f}/s)")
            self._reported_at, self._reported_count = now, self.count


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM (supervisord stopping the demo simulator) like Ctrl-C: stop, flush, exit 0."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
