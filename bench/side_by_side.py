"""`make bench`: one workload on one broker, our worker side by side with R and the peers.

On a throwaway stack (broker and ClickHouse, free ports, a temporary run folder):

1. **workload**: ``--events`` simulator events over ``--span-hours`` of event time, published once
   through the jsonl connector exactly as ``cxpulse publish`` does (envelopes of up to
   ``CXPULSE_PUBLISH_BATCH_EVENTS`` events per partition).
2. **throughput** on that backlog, each from the beginning with a fresh consumer group: R (the
   ceiling), Bytewax, Quix Streams in memory and with its State; then our worker with 1 worker and
   with 2 in one group (each run with a database of its own). Every one of them is the best of
   ``--runs``: one run of each is at the mercy of this shared machine's noise (±20%).
   Events/s over each one's window (first record -> last, or worker ready -> lag 0), CPU µs per
   event of its own process(es), ratio to R; counts checked against R's.
3. **latency** at half of one worker's events/s (``bench.latency``): our worker (produce -> figures
   queryable in ClickHouse), then R and the peers (produce -> counted).
4. the tables, printed and written as markdown to ``<run folder>/bench.md``.

Not a test: nothing here asserts a speed. The machine's load is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import FrameType
from typing import Protocol, TypeVar

from bench import latency as lat
from bench import workload as wl
from bench.consumers import (
    PEERS,
    PEERS_VENV,
    RAW,
    RAW_CAVRO,
    ConsumerResult,
    measure_backlog,
    peer_versions,
)
from bench.harness import MachineTicks, add_disk_flag, bench_settings, load_average, storage_note
from bench.report import markdown_table, number, ratio, text_table
from bench.workers import INFRA, DrainRun, drain
from cxpulse import stack, wiring
from cxpulse.settings import Settings


@dataclass
class Results:
    """Everything one run measured, and what it ran on."""

    workload: wl.Workload
    records: int
    published_s: float
    labels: dict[str, str]
    consumers: dict[str, ConsumerResult] = field(default_factory=dict)
    drains: list[DrainRun] = field(default_factory=list)
    latencies: list[lat.LatencyRun] = field(default_factory=list)
    load: list[str] = field(default_factory=list)
    busy: float = 0.0
    storage: str = ""
    """Where ClickHouse kept its data (``bench.harness.storage_note``)."""

    @property
    def ceiling(self) -> ConsumerResult:
        """R."""
        return self.consumers[RAW.name]


class Run(Protocol):
    """One throughput run of a row: a consumer's (``ConsumerResult``) or our workers' (``DrainRun``)."""

    @property
    def events_per_s(self) -> float: ...

    @property
    def cpu_us_per_event(self) -> float: ...


AnyRun = TypeVar("AnyRun", bound=Run)


def best_of(label: str, runs: Sequence[Callable[[], AnyRun]]) -> AnyRun:
    """The result with the most events/s of these runs of one row, each said as it ends."""
    results = []
    for i, run in enumerate(runs):
        results.append(result := run())
        say(f"{label}, run {i + 1}: {result.events_per_s:,.0f} events/s, "
            f"{result.cpu_us_per_event:.1f} µs/event")
    return max(results, key=lambda r: r.events_per_s)


def counts_check(digest: str, distinct: int, ceiling: ConsumerResult) -> str:
    """``= R`` when the counts per cell are R's, else what differs."""
    if digest == ceiling.digest and distinct == ceiling.distinct:
        return "= R"
    return f"DIFFER ({distinct:,} distinct)"


def throughput_rows(results: Results) -> list[list[str]]:
    """One row per consumer and per worker count."""
    r = results.ceiling
    r_cavro = results.consumers.get(RAW_CAVRO.name)

    def row(label: str, per_s: float, wall_s: float, us: float, busy: float, digest: str,
            distinct: int) -> list[str]:
        return [label, number(per_s), number(wall_s, 2), number(us, 1), ratio(per_s, r.events_per_s),
                ratio(per_s, r_cavro.events_per_s) if r_cavro else "-", f"{busy:.0%}",
                counts_check(digest, distinct, r)]

    rows = [row(results.labels[name], c.events_per_s, c.wall_s, c.cpu_us_per_event, c.machine_busy,
                c.digest, c.distinct) for name, c in results.consumers.items()]
    rows += [row(f"cxpulse worker x{d.workers} (end to end, ClickHouse)", d.events_per_s, d.wall_s,
                 d.cpu_us_per_event, d.machine_busy, d.digest, d.stored) for d in results.drains]
    return rows


THROUGHPUT = ("consumer", "events/s", "window s", "CPU µs/event", "x R", "x R'", "machine busy", "counts")
SCALE = ("workers", "events/s", "x 1 worker", "worker CPU s", "broker CPU s (of 2 cores)",
         "ClickHouse CPU s (of 2 cores)", "machine busy", "records per worker", "last ready after s")
LATENCY = ("consumer", "rate events/s", "events", "p50 ms", "p99 ms", "max ms", "missing", "measured")


def scale_rows(results: Results) -> list[list[str]]:
    """1 vs N workers, with what the broker and ClickHouse took."""
    one = results.drains[0].events_per_s if results.drains else 0.0
    return [[str(run.workers), number(run.events_per_s), ratio(run.events_per_s, one),
             number(run.worker_cpu_s, 1),
             f"{run.broker_cpu_s:,.1f} ({run.core_share(run.broker_cpu_s):.0%})",
             f"{run.clickhouse_cpu_s:,.1f} ({run.core_share(run.clickhouse_cpu_s):.0%})",
             f"{run.machine_busy:.0%}", " / ".join(f"{n:,}" for n in run.records_by_worker),
             f"{run.last_ready_s:.2f}"]
            for run in results.drains]


def latency_rows(results: Results) -> list[list[str]]:
    """One row per latency run."""
    return [[results.labels.get(run.name, run.name), number(run.rate), number(run.latency.samples),
             number(run.latency.p50_ms), number(run.latency.p99_ms), number(run.latency.max_ms),
             str(run.missing),
             "produce -> figures queryable in ClickHouse" if run.name == "worker" else "produce -> counted"]
            for run in results.latencies]


def header(results: Results) -> list[str]:
    """What was measured on what."""
    w = results.workload
    return [f"workload: {w.events:,} simulator events (seed {w.seed}, {w.span_h:.1f} h of event time, "
            f"{results.ceiling.cells:,} channel x touchpoint x minute cells, ~{w.bytes_per_event:.0f} B "
            f"of JSON each), published once as {results.records:,} Kafka records in "
            f"{results.published_s:.1f} s",
            f"machine: {os.cpu_count()} cores, shared; load average {' -> '.join(results.load)}; "
            f"all cores {results.busy:.0%} busy over the run (every process, ours and others'); "
            f"{results.storage}"]


def render(results: Results, markdown: bool) -> str:
    """The three tables with their titles."""
    table = markdown_table if markdown else text_table
    rate = results.latencies[0].rate if results.latencies else 0.0
    parts = [*header(results), "",
             "Throughput on the backlog (each from the beginning, fresh consumer group):",
             table(THROUGHPUT, throughput_rows(results), (False, *[True] * 6, False)), "",
             "Scale-out: the same backlog, 1 vs 2 workers in one consumer group:",
             table(SCALE, scale_rows(results), (True,) * len(SCALE)), "",
             f"Latency at {rate:,.0f} events/s (half of one worker's events/s), after a warm-up:",
             table(LATENCY, latency_rows(results), (False, True, True, True, True, True, True, False))]
    return "\n".join(parts) + "\n"


def measure(settings: Settings, args: argparse.Namespace) -> Results:
    """Every step; progress lines on the way."""
    ticks = MachineTicks.now()
    load = [load_average()]
    versions = peer_versions() if not args.no_peers else {}
    labels = {RAW.name: RAW.label, RAW_CAVRO.name: RAW_CAVRO.label, "worker": "cxpulse worker x1",
              **({p.name: p.label.format(**versions) for p in PEERS} if versions else {})}
    say(f"building {args.events:,} events over {args.span_hours:g} h of event time")
    workload = wl.build(args.events, args.span_hours, args.seed)
    published_s = wl.publish(settings, workload)
    ends = lat.topic_ends(settings)
    results = Results(workload, sum(ends.values()), published_s, labels)
    say(f"published in {published_s:.1f} s: {results.records:,} records")
    folder = settings.run_path / "consumers"
    topic = wiring.topics(settings).touchpoints
    for spec in (RAW, RAW_CAVRO, *(() if args.no_peers else PEERS)):
        results.consumers[spec.name] = best_of(spec.name, [
            partial(measure_backlog, spec, settings.bootstrap, topic, ends, folder / f"run{i}")
            for i in range(args.runs)])
    for count in (1, 2):
        results.drains.append(best_of(f"{count} worker(s)", [
            partial(drain, settings, count, workload.events, name=f"w{count}r{i}")
            for i in range(args.runs)]))
    rate = results.drains[0].events_per_s / 2
    results.latencies.append(lat.worker_latency(settings, rate, args.latency_seconds, args.warmup))
    say(f"worker latency: p99 {results.latencies[-1].latency.p99_ms:,.0f} ms")
    for spec in (RAW, *(() if args.no_peers else PEERS)):
        results.latencies.append(lat.consumer_latency(spec, settings, rate, args.peer_latency_seconds,
                                                      args.warmup, settings.run_path / "latency"))
        say(f"{spec.name} latency: p99 {results.latencies[-1].latency.p99_ms:,.0f} ms")
    results.load = [*load, load_average()]
    results.busy = ticks.busy_share(MachineTicks.now())
    return results


def say(line: str) -> None:
    """A progress line (stderr, so stdout holds the report)."""
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    sys.exit(143)  # unwinds through run()'s finally, which stops the stack


def run(args: argparse.Namespace) -> None:
    """Start the stack, measure, stop the stack whatever happens; print and write the report."""
    if not args.no_peers and not (PEERS_VENV / "bin" / "python").exists():
        sys.exit(f"{PEERS_VENV} is missing: `make peers-venv` builds it (or pass --no-peers)")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    settings = bench_settings("bench", "bench.", on_disk=args.clickhouse_on_disk)
    storage = storage_note(settings)
    say(f"starting a stack in {settings.run_path}; {storage}")
    try:
        stack.up(settings, progress=lambda line: None, components=INFRA)
        results = measure(settings, args)
        results.storage = storage
    finally:
        say("stopping the stack")
        stack.down(settings, progress=lambda line: None)
    print(render(results, markdown=False))
    report = settings.run_path / "bench.md"
    report.write_text("# cxpulse bench\n\n" + render(results, markdown=True))
    print(f"report: {report} (logs under {settings.run_path})")


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--span-hours", type=float, default=24.0, help="event time the workload spans")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=2,
                        help="runs of R, of each peer, of 1 and of 2 workers (best kept)")
    parser.add_argument("--latency-seconds", type=float, default=60.0, help="our worker's latency run")
    parser.add_argument("--peer-latency-seconds", type=float, default=20.0, help="R's and each peer's")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of each latency run left out")
    parser.add_argument("--no-peers", action="store_true", help="R and our worker only")
    add_disk_flag(parser)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
