"""What every consumer of the side-by-side bench does, measures and reports.

Runs in the project's virtualenv (R) and in ``.venv-peers`` (Bytewax, Quix Streams): it imports only
the standard library, cavro and fastavro (through ``schemas.codec``) and nothing else of ours.

The work, the same for every consumer: decode each Kafka record with ``AvroCodec.decode_all`` (one
event, or every event of an envelope; with the ``--decoder`` the harness names), drop an event
whose ``event_id`` was seen before, count the others per ``cell_key`` (channel, touchpoint, minute
of event time). A consumer stops once it has consumed every partition up to the end offsets the
harness writes to ``--end-file`` (at once for a published backlog; after the producer stopped for a
latency run).

What it measures (``Meter``): from its first record to its last, wall time and its own CPU time
(``getrusage(RUSAGE_SELF)``: every thread of the process, user + system), so start-up, imports and
the consumer-group join are left out for every row alike; and the machine's busy share over the
same window (``/proc/stat``, all processes). With ``--latency-file``, each counted event's
``received_at`` (the producer stamps it when it makes the event) and its latency (the wall clock
when it is counted minus that stamp), written as an ``array('d')`` of pairs, in milliseconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import time
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.codec import DECODERS

RESULT_PREFIX = "BENCH-RESULT "
"""The consumer's last line of standard output: this prefix, then its result as JSON."""
END_FILE_POLL_S = 0.2
CONSUMER_SETTINGS: dict[str, Any] = {"fetch.wait.max.ms": 20, "session.timeout.ms": 6000,
                                     "auto.offset.reset": "earliest"}
"""librdkafka settings every consumer gets (as the worker: Tansu holds fetches for the full wait;
a short session timeout so a fresh group joins in about 3 s)."""


@dataclass(frozen=True)
class Job:
    """What the harness asks a consumer to do (its command line)."""

    name: str
    bootstrap: str
    topic: str
    group: str
    end_file: Path
    ready_file: Path
    latency_file: Path | None
    state_dir: Path
    decoder: str


def parse_job(argv: list[str] | None = None) -> Job:
    """The consumer's command line (the harness builds it: ``bench.consumers``)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--end-file", type=Path, required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--latency-file", type=Path)
    parser.add_argument("--state-dir", type=Path, default=Path("."))
    parser.add_argument("--decoder", choices=DECODERS, default="cavro")
    args = parser.parse_args(argv)
    return Job(args.name, args.bootstrap, args.topic, args.group, args.end_file, args.ready_file,
               args.latency_file, args.state_dir, args.decoder)


def cell_key(event: Mapping[str, Any]) -> str:
    """The count an event adds to: ``channel|touchpoint|minute`` (minute start, epoch s, event time)."""
    return f"{event['channel']}|{event['touchpoint']}|{event['occurred_at'] // 60_000 * 60}"


def digest(counts: Mapping[str, int]) -> str:
    """A short fingerprint of every (cell, count): equal fingerprints, equal counts."""
    text = "\n".join(f"{cell}={count}" for cell, count in sorted(counts.items()) if count)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Tally:
    """Dedupe by event_id and counts per cell in plain dicts: what R does, and Quix's in-memory row."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.counts: dict[str, int] = {}
        self.duplicates = 0

    def add(self, event: Mapping[str, Any]) -> bool:
        """Count ``event`` unless its event_id was counted before; returns whether it was counted."""
        event_id = event["event_id"]
        if event_id in self.seen:
            self.duplicates += 1
            return False
        self.seen.add(event_id)
        key = cell_key(event)
        self.counts[key] = self.counts.get(key, 0) + 1
        return True


class Meter:
    """Wall and CPU time from the first record to the end; latency samples in latency runs."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.records = 0
        self.events = 0
        self.started_wall = 0.0
        self.started_cpu = 0.0
        self.started_ticks = (0, 0)
        self.machine_busy = 0.0
        self.wall_s = 0.0
        self.cpu_s = 0.0
        self.process_started = time.perf_counter()
        self.latencies: array[float] | None = array("d") if job.latency_file else None

    @staticmethod
    def cpu() -> float:
        """CPU seconds (user + system) of this whole process, every thread."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def record(self, events: int) -> None:
        """One Kafka record with ``events`` events consumed; the first one starts the clocks."""
        if not self.records:
            self.started_wall, self.started_cpu = time.perf_counter(), self.cpu()
            self.started_ticks = machine_ticks()
        self.records += 1
        self.events += events

    def counted(self, received_at_ms: int, now_ms: float) -> None:
        """A latency sample (latency runs only): an event counted at ``now_ms``."""
        if self.latencies is not None:
            self.latencies.append(received_at_ms)
            self.latencies.append(now_ms - received_at_ms)

    def stop(self) -> None:
        """The last record is processed: stop the clocks, write the latency samples."""
        self.wall_s = time.perf_counter() - self.started_wall if self.records else 0.0
        self.cpu_s = self.cpu() - self.started_cpu if self.records else 0.0
        busy, total = machine_ticks()
        if self.records and total > self.started_ticks[1]:
            self.machine_busy = (busy - self.started_ticks[0]) / (total - self.started_ticks[1])
        if self.latencies is not None and self.job.latency_file is not None:
            with self.job.latency_file.open("wb") as out:
                self.latencies.tofile(out)

    def report(self, counts: Mapping[str, int], duplicates: int, **extra: Any) -> None:
        """Print the result line the harness reads."""
        result = {"name": self.job.name, "records": self.records, "events": self.events,
                  "distinct": sum(counts.values()), "duplicates": duplicates,
                  "cells": sum(1 for c in counts.values() if c), "digest": digest(counts),
                  "wall_s": self.wall_s, "cpu_s": self.cpu_s, "machine_busy": self.machine_busy,
                  "startup_s": self.started_wall - self.process_started if self.records else 0.0,
                  **extra}
        print(RESULT_PREFIX + json.dumps(result), flush=True)


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat (idle and iowait are not busy)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(values) - values[3] - values[4], sum(values)


def now_ms() -> float:
    """The wall clock in epoch milliseconds (the producer's stamps use the same clock)."""
    return time.time() * 1000


class EndOffsets:
    """When to stop: every partition consumed up to the end offsets of ``--end-file``.

    The file (JSON ``{"partition": end_offset}``) exists before the consumer starts on a published
    backlog, and is written once the producer stopped in a latency run; it is looked for at most
    every 0.2 s. Positions are next offsets to consume (last consumed offset + 1).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ends: dict[int, int] | None = None
        self._looked = 0.0

    def _load(self) -> dict[int, int] | None:
        if self.ends is None and time.monotonic() - self._looked >= END_FILE_POLL_S:
            self._looked = time.monotonic()
            if self.path.exists():
                self.ends = {int(p): int(o) for p, o in json.loads(self.path.read_text()).items()}
        return self.ends

    def partition_done(self, partition: int, position: int) -> bool:
        """Whether ``partition`` is consumed to its end (once the ends are known)."""
        ends = self._load()
        return ends is not None and position >= ends.get(partition, 0)

    def done(self, positions: Mapping[int, int]) -> bool:
        """Whether every partition is consumed to its end."""
        ends = self._load()
        return ends is not None and all(positions.get(p, 0) >= end for p, end in ends.items())


def mark_ready(job: Job) -> None:
    """Tell the harness the consumer has its partitions (it starts a latency producer after that)."""
    job.ready_file.touch()
