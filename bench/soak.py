"""`make bench-soak`: our worker for ``--minutes`` at half of its events/s, and whether its RSS is flat.

On a throwaway stack (broker and ClickHouse, free ports, a temporary run folder):

1. unless ``--rate`` is given, the worker's events/s: one worker draining a backlog of
   ``--calibrate-events`` simulator events (``bench.workers.drain``, as in ``make bench``);
2. one worker on a live topic, group and database of its own; the steady producer of
   ``bench.latency`` at half that rate for ``--minutes``;
3. every ``--sample-seconds``: the worker's VmRSS, the broker's RSS and the worker's cached FCR
   contacts (``cxpulse_fcr_cached_contacts``, bounded by ``CXPULSE_FCR_CACHE_CONTACTS``) and those it
   evicted (``cxpulse_fcr_evicted_contacts_total``); a line a minute;
4. latency p50/p99 (produce -> figures queryable in ClickHouse, measured as in ``make bench``) per
   slice of the run, on one event in ``SAMPLE_EVERY`` (by event id);
5. the verdict ``rss_verdict``: flat when the median RSS of the last fifth of the run is within
   ``FLAT_TOLERANCE`` (or ``FLAT_MIN_MB``) of the median of the fifth after the warm-up
   (``warm_up``: the first fifth, or longer until the FCR cache has turned over once, evicting as
   many contacts as it holds: it fills for minutes at half load and holds 500,000 contacts, a few
   hundred MB, and its table grows once more under eviction); and the same verdict on the RSS less
   the stored indexes, which grow with the stored rows by design.

Not a test: nothing asserts; the machine's load is printed with the figures.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType

from bench import workload as wl
from bench.harness import add_disk_flag, bench_settings, load_average, proc_status_mb, storage_note
from bench.latency import CheckpointWatch, SteadyProducer, stored_latencies, topic_ends
from bench.report import Latency, number, text_table
from bench.workers import INFRA, component_pid, drain, live_worker, worker_metric
from cxpulse import stack
from cxpulse.settings import Settings

SAMPLE_EVERY = 20
"""Latency is computed on one event in this many (by event id): a 30-minute run stores millions."""
FLAT_TOLERANCE = 0.05
FLAT_MIN_MB = 16.0
SLICES = 6


@dataclass(frozen=True)
class Sample:
    """One reading during the soak."""

    at_s: float
    worker_rss_mb: float
    broker_rss_mb: float
    fcr_cached: int
    fcr_evicted: int
    index_mb: float


def warm_up(fcr_evicted: list[int], cap: int) -> int:
    """How many of the samples are warm-up: the first fifth, or until the FCR cache turned over once.

    That is, until it had evicted ``cap`` contacts: a dict under churn takes its steady table size
    during its first turnover (an ``OrderedDict`` of 500,000 keys grows from 40 to 64 MB, then holds
    there however long the churn goes on). Raises ``ValueError`` when that leaves less than two
    fifths of the run to compare.
    """
    fifth = len(fcr_evicted) // 5
    turned = next((i for i, evicted in enumerate(fcr_evicted) if evicted >= cap), len(fcr_evicted))
    warm = max(fifth, turned)
    if len(fcr_evicted) - warm < 2 * max(fifth, 1):
        raise ValueError(f"the FCR cache turned over once (evicted {cap:,} contacts) at sample "
                         f"{turned} of {len(fcr_evicted)} (evicted {fcr_evicted[-1] if fcr_evicted else 0:,} "
                         "by the end): run longer")
    return warm


def rss_verdict(samples: list[tuple[float, float]], warm: int | None = None
                ) -> tuple[bool, float, float]:
    """(flat?, median MB after the warm-up, median MB of the last fifth) of (seconds, MB) samples.

    The early median is of the fifth of the run right after the ``warm`` first samples (default: the
    first fifth). Flat when the last fifth's median exceeds it by at most ``FLAT_TOLERANCE`` of it or
    ``FLAT_MIN_MB``, whichever is larger. Needs at least 5 samples.
    """
    if len(samples) < 5:
        raise ValueError("at least 5 samples are needed")
    fifth = len(samples) // 5
    warm = fifth if warm is None else warm
    early = statistics.median(mb for _at, mb in samples[warm:warm + fifth])
    late = statistics.median(mb for _at, mb in samples[-fifth:])
    return late - early <= max(early * FLAT_TOLERANCE, FLAT_MIN_MB), early, late


def fcr_cached(port: int) -> int:
    """The worker's ``cxpulse_fcr_cached_contacts`` gauge."""
    return int(worker_metric(port, "cxpulse_fcr_cached_contacts"))


def fcr_evicted(port: int) -> int:
    """The worker's ``cxpulse_fcr_evicted_contacts_total`` counter."""
    return int(worker_metric(port, "cxpulse_fcr_evicted_contacts_total"))


def index_mb(port: int) -> float:
    """The worker's stored indexes (``cxpulse_stored_index_bytes``, every table), in MB."""
    return sum(worker_metric(port, f'cxpulse_stored_index_bytes{{index="{index}"}}')
               for index in ("events", "fcr_keys")) / 1e6


def calibrate(settings: Settings, events: int, seed: int) -> float:
    """One worker's events/s on a backlog of ``events`` simulator events."""
    workload = wl.build(events, 24.0, seed)
    wl.publish(settings, workload)
    return drain(settings, 1, workload.events).events_per_s


def soak(settings: Settings, rate: float, minutes: float,
         every_s: float) -> tuple[list[Sample], list[list[str]]]:
    """The soak itself: samples, and one latency line per slice."""
    with live_worker(settings, "soak") as run:
        checkpoints = CheckpointWatch(run)
        producer = SteadyProducer(run, rate, minutes * 60)
        sending = threading.Thread(target=producer.run, daemon=True)
        sending.start()
        started, pid = time.monotonic(), component_pid(run, "worker")
        samples: list[Sample] = []
        broker = component_pid(run, "broker")
        while sending.is_alive():
            at = time.monotonic() - started
            samples.append(Sample(at, proc_status_mb(pid, "VmRSS"), proc_status_mb(broker, "VmRSS"),
                                  fcr_cached(run.worker_port), fcr_evicted(run.worker_port),
                                  index_mb(run.worker_port)))
            if len(samples) % max(1, round(60 / every_s)) == 0:
                s = samples[-1]
                print(f"  {at / 60:5.1f} min: worker RSS {s.worker_rss_mb:,.0f} MB, broker RSS "
                      f"{s.broker_rss_mb:,.0f} MB, FCR contacts cached {s.fcr_cached:,} "
                      f"(evicted {s.fcr_evicted:,}), stored indexes "
                      f"{s.index_mb:,.0f} MB", flush=True)
            sending.join(every_s)
        if component_pid(run, "worker") != pid:
            print("WARNING: the worker restarted during the soak: RSS samples after it are the new one's")
        checkpoints.wait_for(topic_ends(run), 300)
        lines = []
        slice_ms = minutes * 60_000 / SLICES
        for i in range(SLICES):
            since = producer.started_ms + i * slice_ms
            pairs, missing = stored_latencies(run, checkpoints, since, since + slice_ms, SAMPLE_EVERY)
            figures = Latency.of([latency for _stamp, latency in pairs])
            lines.append([f"{round(i * minutes / SLICES, 1):g}-{round((i + 1) * minutes / SLICES, 1):g} min",
                          number(figures.samples), number(figures.p50_ms), number(figures.p99_ms),
                          number(figures.max_ms), str(missing)])
    return samples, lines


def report_rss(samples: list[Sample], cap: int) -> None:
    """The RSS verdicts: the whole worker, and the worker less its stored indexes."""
    try:
        warm = warm_up([s.fcr_evicted for s in samples], cap)
    except ValueError as exc:
        print(f"\nworker RSS not judged: {exc}")
        return
    after = f"the fifth after the warm-up (from {samples[warm].at_s / 60:.1f} min)"
    flat, early, late = rss_verdict([(s.at_s, s.worker_rss_mb) for s in samples], warm)
    print(f"\nworker RSS: {'FLAT' if flat else 'GROWING'} (median {early:,.0f} MB in {after}, "
          f"{late:,.0f} MB in the last fifth; peak {max(s.worker_rss_mb for s in samples):,.0f} MB; "
          f"FCR contacts cached at the end {samples[-1].fcr_cached:,})")
    _, index_early, index_late = rss_verdict([(s.at_s, s.index_mb) for s in samples], warm)
    print(f"of that growth, the stored indexes (8 bytes a stored row, by design): "
          f"{index_late - index_early:,.0f} MB")
    rest, early, late = rss_verdict([(s.at_s, s.worker_rss_mb - s.index_mb) for s in samples], warm)
    print(f"worker RSS less the stored indexes: {'FLAT' if rest else 'GROWING'} "
          f"(median {early:,.0f} MB after the warm-up, {late:,.0f} MB in the last fifth)")


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    sys.exit(143)


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=0.0, help="events/s (default: half the measured)")
    parser.add_argument("--calibrate-events", type=int, default=50_000)
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    add_disk_flag(parser)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    settings = bench_settings("soak", "soak.", on_disk=args.clickhouse_on_disk)
    print(f"starting a stack in {settings.run_path}; {storage_note(settings)}; "
          f"load average {load_average()}", flush=True)
    try:
        stack.up(settings, progress=lambda line: None, components=INFRA)
        rate = args.rate or calibrate(settings, args.calibrate_events, args.seed) / 2
        print(f"soak: {args.minutes:g} min at {rate:,.0f} events/s", flush=True)
        samples, lines = soak(settings, rate, args.minutes, args.sample_seconds)
    finally:
        stack.down(settings, progress=lambda line: None)
    report_rss(samples, settings.fcr_cache_contacts)
    print(f"broker RSS at the end {samples[-1].broker_rss_mb:,.0f} MB; load average {load_average()}")
    print(f"\nlatency, produce -> figures queryable in ClickHouse (1 event in {SAMPLE_EVERY}):")
    print(text_table(("slice", "events", "p50 ms", "p99 ms", "max ms", "missing"), lines,
                     (False, True, True, True, True, True)))
    print(f"logs under {settings.run_path}")


if __name__ == "__main__":
    main()
