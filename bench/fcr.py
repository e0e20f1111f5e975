"""Benchmark: contacts/s through the FCR agent, and the worker's memory with N active FCR keys.

`make bench-fcr` runs it. It starts its own stack (free ports, a temporary run folder, a topic
prefix) without the worker, builds N contact events with a distinct customer each (so every contact
is a new (customer_id, contact_reason) key: a look-up of ``fcr_contacts`` and an entry in the
worker's bounded FCR cache) and publishes them; then it starts the worker and times the drain of
that backlog end to end (Kafka -> worker -> ClickHouse ``fcr_contacts``, worker start-up included).
It checks that ``fcr_contacts FINAL`` holds one row per contact and prints the figures, with the
worker's RSS (VmRSS, VmHWM) and how many contacts its FCR cache holds (``CXPULSE_FCR_CACHE_CONTACTS``
bounds it). Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any

import orjson

from bench.harness import bench_settings, cpu_seconds, proc_status_mb
from bench.workers import ReadyWatch, worker_metric, worker_pid
from cxpulse import stack, wiring
from cxpulse.settings import Settings
from schemas.event import DAY_MS, validate_event

PROGRESS_EVERY_S = 10.0
REASONS = ("billing", "delivery_late", "login", "refund", "damaged_item", "plan_change")
CHANNELS = ("call_center", "chat", "web", "email", "mobile_app")
TOUCHPOINTS = ("ivr_billing", "live_chat", "help_center", "support_mail", "in_app_help")
RESOLVED_SHARE = 0.7
OCCURRED_WITHIN_MS = 3 * DAY_MS


def contact_event(i: int, now_ms: int, rng: random.Random) -> dict[str, Any]:
    """Contact ``i`` in canonical JSON form: its own customer, so a new FCR key."""
    channel = rng.randrange(len(CHANNELS))
    return {
        "event_id": f"bench-fcr-{i:09d}",
        "occurred_at": now_ms - rng.randrange(OCCURRED_WITHIN_MS),
        "received_at": now_ms,
        "channel": CHANNELS[channel],
        "source": "bench-fcr",
        "kind": "contact",
        "touchpoint": TOUCHPOINTS[channel],
        "journey_stage": "support",
        "customer_id": f"c{i:09d}",
        "interaction_id": f"i{i:09d}",
        "contact_reason": REASONS[rng.randrange(len(REASONS))],
        "resolved": rng.random() < RESOLVED_SHARE,
        "agent_id": f"agent-{rng.randrange(200):03d}",
        "region": "eu-west",
    }


def build_payload(contacts: int, now_ms: int, seed: int = 1) -> bytes:
    """JSON lines of ``contacts`` contact events (~6 s for 1M).

    Each line is written to one buffer as soon as it is encoded: keeping a million small ``bytes``
    objects alive (a list, or ``bytes.join`` of a generator) makes orjson ~7x slower here.
    """
    rng = random.Random(seed)
    validate_event(contact_event(0, now_ms, random.Random(seed)))  # fail fast on a malformed event
    buffer = io.BytesIO()
    write, dumps, newline = buffer.write, orjson.dumps, orjson.OPT_APPEND_NEWLINE
    for i in range(contacts):
        write(dumps(contact_event(i, now_ms, rng), option=newline))
    return buffer.getvalue()


class ProgressReader(io.BytesIO):
    """An in-memory JSON-lines buffer that reports how far iteration got, every ~10 s."""

    def __init__(self, payload: bytes, total: int, label: str) -> None:
        super().__init__(payload)
        self.total, self.label = total, label
        self.lines = 0
        self.started = self.reported = time.monotonic()

    def __next__(self) -> bytes:
        """Next line; prints progress when ~10 s passed since the last report."""
        line = super().__next__()
        self.lines += 1
        if self.lines % 1024 == 0 and time.monotonic() - self.reported >= PROGRESS_EVERY_S:
            self.reported = time.monotonic()
            elapsed = self.reported - self.started
            print(f"  {self.label}: {self.lines:,}/{self.total:,} ({self.lines / elapsed:,.0f}/s)",
                  flush=True)
        return line


def publish(settings: Settings, payload: bytes, contacts: int) -> float:
    """Publish the payload (validate + Avro + Kafka, as `cxpulse publish` does); returns seconds."""
    started = time.perf_counter()
    summary = wiring.publish_lines(settings, ProgressReader(payload, contacts, "published"), "bench-fcr")
    seconds = time.perf_counter() - started
    if summary.rejected or summary.accepted != contacts:
        raise RuntimeError(f"publish: {summary.line()} (expected {contacts:,} accepted)")
    return seconds


def timed_drain(settings: Settings, contacts: int, pid: int) -> tuple[float, int, float]:
    """Wait until the worker stored the backlog: (seconds, records left, peak sampled RSS in MB)."""
    started = time.perf_counter()
    reported = started
    peak = proc_status_mb(pid, "VmRSS")

    def progress(left: int) -> None:
        nonlocal reported, peak
        rss = proc_status_mb(pid, "VmRSS")
        peak = max(peak, rss)
        if time.perf_counter() - reported >= PROGRESS_EVERY_S:
            reported = time.perf_counter()
            print(f"  draining: {left:,} Kafka records left after {reported - started:.0f} s, "
                  f"worker RSS {rss:,.0f} MB", flush=True)

    lag = wiring.drain(settings, timeout=max(3600.0, contacts / 100), progress=progress)
    return time.perf_counter() - started, sum(lag.values()), max(peak, proc_status_mb(pid, "VmRSS"))


def stored_contacts(settings: Settings) -> int:
    """Rows of ``fcr_contacts FINAL`` (one per contact: every key here has a single contact)."""
    db = wiring.database(settings)
    try:
        return int(db.execute("SELECT count() FROM fcr_contacts FINAL")[0][0])
    finally:
        db.close()


@dataclass
class Figures:
    """What one run measured."""

    contacts: int
    stored: int
    published_s: float
    drained_s: float
    """From the worker's start (its start-up included) to lag 0."""
    ready_s: float
    """From the worker's ``Ready`` to lag 0: the rate a running worker drains at."""
    cpu_s: float
    left: int
    rss_start_mb: float
    rss_end_mb: float
    hwm_mb: float
    sampled_peak_mb: float
    cached_contacts: int
    restarted: bool

    @property
    def ok(self) -> bool:
        """Every contact stored, nothing left in Kafka."""
        return self.stored == self.contacts and self.left == 0

    def print(self) -> None:
        """The report lines."""
        check = "" if self.stored == self.contacts else " -- MISMATCH"
        print(f"contacts                  {self.contacts:>12,}  (distinct keys; {self.stored:,} rows "
              f"in fcr_contacts FINAL{check})")
        print(f"publish                   {self.contacts / self.published_s:>12,.0f} contacts/s")
        print(f"worker -> ClickHouse      {self.contacts / self.ready_s:>12,.0f} contacts/s "
              f"({self.ready_s:.1f} s from worker ready to lag 0; {self.drained_s:.1f} s from its "
              f"start; records left {self.left})")
        print(f"worker CPU                {self.cpu_s * 1e6 / self.contacts:>12,.1f} µs/contact "
              f"(start-up included)")
        print(f"worker RSS at start       {self.rss_start_mb:>12,.0f} MB")
        print(f"worker RSS at end         {self.rss_end_mb:>12,.0f} MB")
        print(f"worker peak RSS (VmHWM)   {self.hwm_mb:>12,.0f} MB "
              f"(highest sampled during drain: {self.sampled_peak_mb:,.0f} MB)")
        print(f"FCR contacts cached       {self.cached_contacts:>12,}  (the rest stays in ClickHouse)")
        if self.restarted:
            print("WARNING: the worker restarted during the run: RSS figures are the new process's")


def measure(settings: Settings, contacts: int, seed: int) -> Figures:
    """Build, publish, start the worker, drain, and read every figure."""
    started = time.perf_counter()
    payload = build_payload(contacts, int(time.time() * 1000), seed)
    print(f"built {contacts:,} contact events ({len(payload) / contacts:.0f} B each) "
          f"in {time.perf_counter() - started:.1f} s", flush=True)
    published_s = publish(settings, payload, contacts)
    print(f"published {contacts:,} in {published_s:.1f} s", flush=True)
    del payload
    watch = ReadyWatch([settings.run_path / "logs" / "worker.log"])
    stack.start_component(settings, "worker")
    pid = worker_pid(settings)
    rss_start = proc_status_mb(pid, "VmRSS")
    drained_s, left, sampled_peak = timed_drain(settings, contacts, pid)
    drained_at, cpu_s = time.time(), cpu_seconds(pid)
    end_pid = worker_pid(settings)
    ready_at = watch.ready_at()
    return Figures(contacts, stored_contacts(settings), published_s, drained_s,
                   drained_at - ready_at if ready_at else drained_s, cpu_s, left, rss_start,
                   proc_status_mb(end_pid, "VmRSS"), proc_status_mb(end_pid, "VmHWM"), sampled_peak,
                   cached_contacts(settings), end_pid != pid)


def cached_contacts(settings: Settings) -> int:
    """The worker's ``cxpulse_fcr_cached_contacts`` gauge."""
    return int(worker_metric(settings.worker_port, "cxpulse_fcr_cached_contacts"))


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    sys.exit(143)  # unwinds through run()'s finally, which stops the stack


def run(contacts: int, seed: int, keep: bool = False) -> bool:
    """Start a stack, measure, and stop the stack whatever happens (error, Ctrl-C, SIGTERM).

    Returns whether every contact was stored. The run folder is removed after a successful run
    unless ``keep``; after a failure it is kept (logs under <run folder>/logs).
    """
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # every key cached: the RSS figures are what N active keys cost in memory
    settings = bench_settings("bench-fcr", "benchfcr.", fcr_cache_contacts=max(contacts, 1))
    print(f"starting a stack in {settings.run_path} (worker log: logs/worker.log)", flush=True)
    figures = None
    try:
        # Everything but the worker: it starts once the backlog is published, so it is timed on it.
        stack.up(settings, progress=lambda line: None,
                 components=tuple(c for c in stack.COMPONENTS if c != "worker"))
        figures = measure(settings, contacts, seed)
    finally:
        print("stopping the stack", flush=True)
        stack.down(settings, progress=lambda line: None)
    figures.print()
    if figures.ok and not keep:
        shutil.rmtree(settings.run_path, ignore_errors=True)
    return figures.ok


def main() -> None:
    """Command line: --contacts N (default 1,000,000) --seed S --keep."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the run folder (logs, data)")
    args = parser.parse_args()
    sys.exit(0 if run(args.contacts, args.seed, args.keep) else 1)


if __name__ == "__main__":
    main()
