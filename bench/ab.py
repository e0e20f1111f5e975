"""A/B of a worker change on one stack: drains of one backlog, alternating with and without a patch.

    python -m bench.ab --patch change.diff --pairs 4 [--events 100000] [--workers 1]

The patch is applied to the working tree before each B drain and reverted after it (``git apply``),
so the worker process of each drain runs the code it was started with. The machine is shared and
noisy (a pure-Python loop varies by a tenth), hence the interleaving and the medians; each drain's
counts digest is checked against the first so a faster B that counts differently is reported.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
from pathlib import Path

from bench import workers, workload
from bench.harness import bench_settings
from cxpulse import stack
from cxpulse.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
_runs = itertools.count()


def _git_apply(patch: Path, reverse: bool) -> None:
    subprocess.run(["git", "apply", *(["-R"] if reverse else []), str(patch)], cwd=ROOT, check=True)


def _drain(settings: Settings, count: int, events: int) -> workers.DrainRun:
    return workers.drain(settings, count, events, name=f"ab{next(_runs)}")


def main() -> None:
    """Run the pairs and print each drain and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patch", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    patch = args.patch.resolve()
    subprocess.run(["git", "apply", "--check", str(patch)], cwd=ROOT, check=True)
    settings = bench_settings("ab", "ab.")
    stack.up(settings, progress=lambda line: None, components=workers.INFRA)
    try:
        load = workload.build(args.events, 24, 1)
        workload.publish(settings, load)
        _drain(settings, args.workers, load.events)  # warm-up: page cache, ClickHouse, the broker
        results: dict[str, list[workers.DrainRun]] = {"A": [], "B": []}
        digest = ""
        for pair in range(args.pairs):
            for label in ("A", "B") if pair % 2 == 0 else ("B", "A"):
                if label == "B":
                    _git_apply(patch, reverse=False)
                try:
                    run = _drain(settings, args.workers, load.events)
                finally:
                    if label == "B":
                        _git_apply(patch, reverse=True)
                digest = digest or run.digest
                same = "" if run.digest == digest else "  COUNTS DIFFER"
                print(f"pair {pair} {label}: {run.events_per_s:8.0f} events/s  "
                      f"{run.cpu_us_per_event:5.1f} us/event  ClickHouse {run.clickhouse_cpu_s:4.2f} s  "
                      f"busy {run.machine_busy:.2f}{same}",
                      flush=True)
                results[label].append(run)
        for label, runs in results.items():
            print(f"{label} median: {statistics.median(r.events_per_s for r in runs):8.0f} events/s  "
                  f"{statistics.median(r.cpu_us_per_event for r in runs):5.1f} us/event")
    finally:
        stack.down(settings, progress=lambda line: None)


if __name__ == "__main__":
    main()
