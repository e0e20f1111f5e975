"""``cxpulse simulate``: realistic omnichannel traffic into Kafka, or to a JSON-lines file.

The traffic: web, call center, retail partner and kiosk events (plus some mobile app, chat and
email) at a diurnal rate (quiet at night, peaks late morning and evening: a fixed curve times
Poisson arrivals); survey responses with realistic CSAT/NPS/CES mixes that differ by channel,
partner and location; anonymous kiosk smiley presses; contacts whose customers come back about the
same reason, on the same or another channel, within and beyond the 7-day FCR window; comments in
English and Vietnamese; a small share of late events. The ``incident`` scenario drops CSAT on web
checkout and one kiosk location by ~25 points in the middle of the run.

Two modes:
- Kafka (``output`` None): real time. Each event is published when the wall clock reaches its
  ``received_at``; runs until ``duration_s`` or Ctrl-C / SIGTERM, then flushes.
- File (``output`` a path or ``-``): simulated time from ``start_ms`` for ``duration_s``, written as
  fast as possible. Same seed and arguments -> byte-identical file.
"""

from __future__ import annotations

import contextlib
import math
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

from connectors.sdk.privacy import PrivacyKey, PrivacyKeyLike
from connectors.simulator_engine import SOURCE, Incident, Simulation
from connectors.simulator_model import MINUTE_MS, diurnal_factor

__all__ = ["SCENARIOS", "Incident", "SimulationOptions", "generate_events", "incident_window",
           "run_simulation"]

SCENARIOS = ("steady", "incident")
INCIDENT_START_FRACTION = 0.4
INCIDENT_END_FRACTION = 0.6
"""A run of known duration has its incident in [40%, 60%) of the run."""
ENDLESS_INCIDENT_MS = (5 * MINUTE_MS, 20 * MINUTE_MS)
"""A run until Ctrl-C has its incident from 5 to 20 minutes after it started."""
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


def incident_window(start_ms: int, duration_s: float | None) -> tuple[int, int]:
    """[start, end) of the incident in event time (epoch ms); ``duration_s`` None or 0 = endless run."""
    if not duration_s:
        return start_ms + ENDLESS_INCIDENT_MS[0], start_ms + ENDLESS_INCIDENT_MS[1]
    span_ms = duration_s * 1000
    return (start_ms + int(span_ms * INCIDENT_START_FRACTION),
            start_ms + int(span_ms * INCIDENT_END_FRACTION))


def _check(scenario: str, rate: float, duration_s: float) -> None:
    """Raise one ValueError naming every problem with these arguments."""
    problems = []
    if scenario not in SCENARIOS:
        problems.append(f"unknown scenario {scenario!r}: choose one of {', '.join(SCENARIOS)}")
    if not (math.isfinite(rate) and rate > 0):
        problems.append(f"rate must be a positive number of events/s, got {rate}")
    if not (math.isfinite(duration_s) and duration_s >= 0):
        problems.append(f"duration must be >= 0 seconds, got {duration_s}")
    if problems:
        raise ValueError("; ".join(problems))


def _simulation(scenario: str, seed: int, start_ms: int, duration_s: float, rate: float,
                id_prefix: str) -> Simulation:
    _check(scenario, rate, duration_s)
    end_ms = start_ms + int(duration_s * 1000) if duration_s > 0 else None
    incident = Incident(*incident_window(start_ms, duration_s)) if scenario == "incident" else None
    return Simulation(seed=seed, start_ms=start_ms, end_ms=end_ms, rate=rate, incident=incident,
                      id_prefix=id_prefix)


def generate_events(scenario: str, seed: int, start_ms: int, duration_s: float,
                    rate: float) -> Iterator[dict[str, Any]]:
    """Simulated events whose event time lies in [start_ms, start_ms + duration_s).

    ``rate`` is the mean events/s over a day (diurnal curve x Poisson arrivals). Yields canonical
    events in JSON form (every TouchpointEvent v1 field; epoch-ms ints; each one passes
    ``validate_event`` unchanged) in non-decreasing ``received_at`` order; ``received_at`` is
    0.1-3 s after ``occurred_at``, or minutes to hours for ~1% late events (always before the run's
    end). ``event_id`` is ``sim-{seed}-{n}``: the same seed gives the same output.
    ``duration_s`` 0 yields nothing. Raises ValueError for an unknown scenario or a bad rate.
    """
    if duration_s == 0:
        _check(scenario, rate, duration_s)
        return iter(())
    return _simulation(scenario, seed, start_ms, duration_s, rate, f"sim-{seed}").events()


def run_simulation(options: SimulationOptions, bootstrap: str, topic_prefix: str,
                   registry_url: str, *, privacy_key: PrivacyKeyLike | PrivacyKey | None = None) -> int:
    """Run ``cxpulse simulate``; returns the exit code (0 on success, also after Ctrl-C).

    Into Kafka, customer ids are pseudonymised with ``privacy_key`` like any source's (required
    there: a keyless publisher dead-letters events that carry a customer id); files keep them raw.

    Raises ValueError (before connecting to anything) for a bad scenario, rate or duration, for
    file mode without a positive duration, and for Kafka mode without a key.
    """
    _check(options.scenario, options.rate, options.duration_s)
    if options.output is not None and options.duration_s <= 0:
        raise ValueError("simulate --output needs a --duration > 0 (simulated time has no Ctrl-C), "
                         "e.g. --duration 24h")
    seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
    _say(f"simulate: scenario {options.scenario}, seed {seed}, mean {options.rate:g} events/s")
    if options.output is None:
        if privacy_key is None:
            raise ValueError("simulate into Kafka needs the pseudonymisation key")
        return _run_kafka(options, seed, bootstrap, topic_prefix, registry_url, privacy_key)
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


def _run_kafka(options: SimulationOptions, seed: int, bootstrap: str, topic_prefix: str,
               registry_url: str, privacy_key: PrivacyKeyLike | PrivacyKey) -> int:
    # imported here so file mode and the pure generator need no Kafka client
    from connectors.sdk.publisher import EventPublisher
    from schemas.codec import AvroCodec
    from schemas.topics import Topics

    topics = Topics(topic_prefix)
    codec = AvroCodec(registry_url=registry_url, subject=f"{topics.touchpoints}-value")
    publisher = EventPublisher(bootstrap, topics, codec, source=SOURCE, privacy_key=privacy_key)
    start_ms = _now_ms()
    # the run's start is part of the ids: a real-time run is never a replay, even with a fixed seed
    simulation = _simulation(options.scenario, seed, start_ms, options.duration_s, options.rate,
                             f"sim-{seed}-{start_ms}")
    until = f"for {options.duration_s:g} s" if options.duration_s > 0 else "until Ctrl-C"
    _say(f"simulate: publishing to {topics.touchpoints} {until}")
    progress = _Progress(publisher, options.rate)
    with _sigterm_as_interrupt():
        try:
            for event in simulation.events():
                _sleep_until(event["received_at"])
                publisher.publish_object(event, orjson.dumps(event))
                progress.sent()
        except KeyboardInterrupt:
            _say("simulate: stopping; flushing what was sent")
    print(publisher.flush().line())
    return 0


class _Progress:
    """Flushes the producer about every second and reports the send rate every ~5 s on stderr."""

    def __init__(self, publisher: Any, mean_rate: float) -> None:
        self._publisher = publisher
        self._mean_rate = mean_rate
        self.count = 0
        self._flushed_at = self._reported_at = time.monotonic()
        self._reported_count = 0

    def sent(self) -> None:
        """Count one published event; flush and report when due."""
        self.count += 1
        now = time.monotonic()
        if now - self._flushed_at >= FLUSH_EVERY_S:
            # EventPublisher has no poll(): flush also serves delivery reports and surfaces failures
            self._publisher.flush()
            self._flushed_at = now
        if now - self._reported_at >= PROGRESS_EVERY_S:
            rate = (self.count - self._reported_count) / (now - self._reported_at)
            target = self._mean_rate * diurnal_factor(_now_ms())
            _say(f"simulate: {self.count} events sent, {rate:.1f} events/s now "
                 f"(diurnal target {target:.1f}/s)")
            self._reported_at, self._reported_count = now, self.count


def _sleep_until(t_ms: int) -> None:
    delay_s = (t_ms - _now_ms()) / 1000
    if delay_s > 0.002:  # below that, sleeping costs more than it paces
        time.sleep(delay_s)


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
