"""What every benchmark needs around a throwaway stack: free ports, its settings, /proc readings.

CPU and memory are read from ``/proc/<pid>/stat`` and ``/proc/<pid>/status`` (Linux): the CPU time
of a process is its user + system time, every thread included; the machine's busy share comes from
``/proc/stat`` (all processes, ours and anyone else's: the machine is shared).
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.peers.common import machine_ticks
from cxpulse import stack, wiring
from cxpulse.ports import free_port
from cxpulse.settings import STACK_PORTS, Settings
from sql.client import ServerDatabase

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


MEMORY_DIR = Path("/dev/shm")
"""Where a bench stack's ClickHouse keeps its data: a tmpfs (see ``memory_data_dir``)."""


def bench_settings(label: str, topic_prefix: str, on_disk: bool = False, **overrides: Any) -> Settings:
    """Settings of a throwaway stack: a temporary run folder ``cxpulse-<label>-*``, free ports.

    ClickHouse's data goes in memory (``memory_data_dir``), or in the run folder if ``on_disk``.
    """
    run_dir = Path(tempfile.mkdtemp(prefix=f"cxpulse-{label}-"))
    ports = {name: free_port() for name in STACK_PORTS}
    data = None if on_disk else memory_data_dir(label)
    return Settings(run_dir=run_dir, topic_prefix=topic_prefix, clickhouse_data_dir=data,
                    **{**ports, **overrides})


def memory_data_dir(label: str) -> Path | None:
    """A folder in the tmpfs ``MEMORY_DIR`` for one stack's ClickHouse data, removed when we exit.

    Why not the run folder: this machine's root is ext4 without a journal, where each file created
    is placed by scanning past the inodes deleted in the last minutes (``recently_deleted``, only
    checked without a journal). ClickHouse creates and deletes some 50 files per part, so with perf
    70% of its CPU in a drain was in ``ext4_create``, and more with every database dropped before:
    9.5-35 µs an event against 6-8 in tmpfs, on the same drains. A production ClickHouse's volume
    (a journaled ext4, XFS) does not do that; ``None`` (the run folder) where there is no tmpfs.
    """
    if not (MEMORY_DIR.is_dir() and os.access(MEMORY_DIR, os.W_OK)):
        return None
    path = Path(tempfile.mkdtemp(prefix=f"cxpulse-{label}-clickhouse-", dir=MEMORY_DIR))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def add_disk_flag(parser: argparse.ArgumentParser) -> None:
    """``--clickhouse-on-disk``: the stack's ClickHouse data in its run folder (``bench_settings``)."""
    parser.add_argument("--clickhouse-on-disk", action="store_true",
                        help="ClickHouse data in the run folder, not in memory (see bench/harness.py)")


def storage_note(settings: Settings) -> str:
    """Where the stack's ClickHouse keeps its data, for a report's header."""
    where = settings.clickhouse_data_path
    return (f"ClickHouse data in memory ({where}, tmpfs)" if where.is_relative_to(MEMORY_DIR)
            else f"ClickHouse data on disk ({where})")


@contextmanager
def clickhouse_alone(label: str) -> Iterator[ServerDatabase]:
    """A throwaway stack's migrated database (only the broker and ClickHouse run), removed after."""
    settings = bench_settings(label, f"bench_{label}")
    stack.up(settings, progress=lambda line: None, components=("broker", "clickhouse"))
    try:
        db = wiring.database(settings)
        try:
            yield db
        finally:
            db.close()
    finally:
        stack.down(settings, progress=lambda line: None)
        shutil.rmtree(settings.run_dir, ignore_errors=True)


def median_ms(run: Callable[[], int], expected: int, repeats: int, what: str) -> float:
    """Median wall time of ``run`` over ``repeats``, checking what it found (``expected``) each time."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        found = run()
        times.append(time.perf_counter() - started)
        if found != expected:
            raise SystemExit(f"{what} found {found}, {expected} expected")
    return statistics.median(times) * 1000


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (all its threads); 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime: fields 14, 15


def proc_status_mb(pid: int, field: str) -> float:
    """A memory line of /proc/<pid>/status (VmRSS, VmHWM, ...) in MB; 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


@dataclass(frozen=True)
class MachineTicks:
    """/proc/stat's first line: busy and total jiffies of all cores since boot."""

    busy: int
    total: int

    @staticmethod
    def now() -> MachineTicks:
        """Read them."""
        return MachineTicks(*machine_ticks())

    def busy_share(self, later: MachineTicks) -> float:
        """Share of all cores busy (0-1) between this reading and ``later``."""
        total = later.total - self.total
        return (later.busy - self.busy) / total if total else 0.0


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as /proc/loadavg says them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
