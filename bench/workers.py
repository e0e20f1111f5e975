"""Our worker on the bench stack: one or more ``cxpulse worker`` processes in one consumer group.

Each drain gets a fresh consumer group and database (so nothing is "already applied"), on the same
topic. The supervised worker is the stack's; more are started as processes of ours (another web
port, the same settings), like ``tests/chaos/harness.py`` does. The window of a drain: from the first
worker's Faust ``Worker: Ready`` log line (partitions assigned; its timestamp) to consumer lag 0 —
when ``cxpulse drain`` would pass. CPU is read from /proc for the workers, the broker and ClickHouse
at both ends of that window.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.harness import MachineTicks, cpu_seconds
from bench.peers.common import digest
from cxpulse import stack, wiring
from cxpulse.ports import free_port
from cxpulse.settings import Settings
from schemas.kafka import consumer_lag

INFRA = ("broker", "clickhouse")
READY_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\] .*\[\^Worker\]: Ready")
"""Faust's line once the worker has its partitions (and recovered its tables): the start of a drain."""
POLL_S = 0.05
LAG_POLL_S = 0.1


@dataclass(frozen=True)
class DrainRun:
    """One backlog drained by ``workers`` workers."""

    workers: int
    events: int
    wall_s: float
    worker_cpu_s: float
    broker_cpu_s: float
    clickhouse_cpu_s: float
    machine_busy: float
    records_by_worker: tuple[int, ...]
    last_ready_s: float
    """From the first worker's Ready to the last one's: how long the first ran alone (group sync)."""
    stored: int
    cells: int
    digest: str

    @property
    def events_per_s(self) -> float:
        """Events stored per second of the window."""
        return self.events / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_us_per_event(self) -> float:
        """Worker CPU (every worker) per event."""
        return self.worker_cpu_s / self.events * 1e6 if self.events else 0.0

    def core_share(self, cpu_s: float) -> float:
        """``cpu_s`` as a share of the machine's cores over the window (0-1)."""
        return cpu_s / (self.wall_s * (os.cpu_count() or 1)) if self.wall_s else 0.0


def fresh_run(settings: Settings, name: str) -> Settings:
    """``settings`` with a consumer group and a database of their own (created and migrated)."""
    run = settings.model_copy(update={"worker_id": f"cxpulse-{name}", "clickhouse_database": f"bench_{name}"})
    stack.up(run, progress=lambda line: None, components=INFRA)
    return run


def component_pid(settings: Settings, name: str) -> int:
    """A supervised component's pid (0 when it is not running)."""
    return int(stack.supervisor(settings).getProcessInfo(name)["pid"])


def worker_pid(settings: Settings) -> int:
    """The supervised worker's pid (0 when it is not running)."""
    return component_pid(settings, "worker")


def worker_metric(port: int, name: str) -> float:
    """One series of the worker serving /metrics on ``port``; 0 if absent or it is gone.

    ``name`` has the series' labels if it has any: ``x{a="b"}``.
    """
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
            for line in page.read().decode().splitlines():
                if line.startswith(f"{name} "):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def worker_records(port: int) -> int:
    """Records the worker on ``port`` has taken (``cxpulse_worker_events_in_total``)."""
    return int(worker_metric(port, "cxpulse_worker_events_in_total"))


class ReadyWatch:
    """The ``Worker: Ready`` lines written to the logs after the watch started."""

    def __init__(self, logs: list[Path]) -> None:
        self.offsets = {log: log.stat().st_size if log.exists() else 0 for log in logs}

    def ready_times(self) -> dict[Path, float]:
        """Epoch seconds of each log's first Ready line so far (logs without one are left out)."""
        found: dict[Path, float] = {}
        for log, offset in self.offsets.items():
            if not log.exists():
                continue
            with log.open("rb") as text:
                text.seek(offset)
                for line in text.read().decode(errors="replace").splitlines():
                    match = READY_LINE.match(line)
                    if match:
                        found[log] = (time.mktime(time.strptime(match[1], "%Y-%m-%d %H:%M:%S"))
                                      + int(match[2]) / 1000)
                        break
        return found

    def ready_at(self) -> float | None:
        """Epoch seconds of the earliest Ready line so far, or None."""
        return min(self.ready_times().values(), default=None)


class ExtraWorker:
    """A ``cxpulse worker`` process of ours in the supervised worker's group, on its own web port."""

    def __init__(self, settings: Settings, index: int) -> None:
        self.port = free_port()
        self.log = settings.run_path / "logs" / f"worker-extra-{index}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CXPULSE_")}
        env.update(stack.worker_environment(settings), CXPULSE_WORKER_PORT=str(self.port))
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "cxpulse", "worker"], env=env,
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        """SIGTERM its process group (it started it), SIGKILL after 30 s."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@contextmanager
def workers(settings: Settings, count: int) -> Iterator[list[tuple[int, int, Path]]]:
    """``count`` workers started together; yields (pid, web port, log) of each; stops them after."""
    logs = settings.run_path / "logs"
    extra = [ExtraWorker(settings, i) for i in range(count - 1)]
    try:
        stack.supervisor(settings).startProcess("worker", False)  # not waiting: the drain is timed
        yield [(worker_pid(settings), settings.worker_port, logs / "worker.log"),
               *((w.process.pid, w.port, w.log) for w in extra)]
    finally:
        for worker in extra:
            worker.stop()
        stack.stop_component(settings, "worker")


def drain(settings: Settings, count: int, events: int, timeout: float = 1800.0,
          name: str = "") -> DrainRun:
    """Start ``count`` workers on the backlog, time the drain, then read what ClickHouse holds.

    ``name``: of the drain's group and database (default ``w<count>``, used again by each drain).
    """
    run = fresh_run(settings, name or f"w{count}")
    topic = wiring.topics(run).touchpoints
    watch = ReadyWatch([run.run_path / "logs" / "worker.log",
                        *(run.run_path / "logs" / f"worker-extra-{i}.log" for i in range(count - 1))])
    deadline = time.monotonic() + timeout
    infra = {name: component_pid(run, name) for name in INFRA}
    with workers(run, count) as started:
        pids = [pid for pid, _port, _log in started]
        while (ready := watch.ready_at()) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no worker became ready (logs in {run.run_path / 'logs'})")
            time.sleep(POLL_S)
        cpu = [cpu_seconds(p) for p in [*pids, *infra.values()]]
        ticks = MachineTicks.now()
        while any(consumer_lag(run.bootstrap, run.worker_group, topic).values()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"backlog not drained in {timeout:.0f} s")
            time.sleep(LAG_POLL_S)
        drained = time.time()
        spent = [cpu_seconds(p) - before for p, before in zip([*pids, *infra.values()], cpu, strict=True)]
        busy = ticks.busy_share(MachineTicks.now())
        records = tuple(worker_records(port) for _pid, port, _log in started)
        last_ready = max(watch.ready_times().values(), default=ready)
    stored, counts = stored_counts(run)
    return DrainRun(count, events, drained - ready, sum(spent[:count]), spent[count], spent[count + 1],
                    busy, records, last_ready - ready, stored, sum(1 for c in counts.values() if c),
                    digest(counts))


@contextmanager
def live_worker(settings: Settings, name: str, timeout: float = 300.0) -> Iterator[Settings]:
    """One worker on a topic, group and database of their own (``<prefix><name>.``), stopped after.

    Yields the run's settings once the worker has its partitions.
    """
    run = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}{name}.",
                                      "clickhouse_database": f"bench_{name}", "worker_id": f"cxpulse-{name}"})
    stack.up(run, progress=lambda line: None, components=INFRA)
    watch = ReadyWatch([run.run_path / "logs" / "worker.log"])
    stack.supervisor(run).startProcess("worker", False)
    try:
        deadline = time.monotonic() + timeout
        while watch.ready_at() is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not get ready (log {run.run_path}/logs/worker.log)")
            time.sleep(POLL_S)
        yield run
    finally:
        stack.stop_component(run, "worker")


def stored_counts(settings: Settings) -> tuple[int, dict[str, int]]:
    """Distinct events in ``touchpoint_events`` and events per (channel, touchpoint, minute) counted."""
    db = wiring.database(settings)
    try:
        stored = int(db.execute("SELECT uniqExact(event_id) FROM touchpoint_events")[0][0])
        rows = db.execute("SELECT channel, touchpoint, toUInt32(minute) AS m, sum(events) "
                          "FROM minute_counts WHERE minute > toDateTime(0) "
                          "GROUP BY channel, touchpoint, m")
    finally:
        db.close()
    return stored, {f"{channel}|{touchpoint}|{minute}": int(n) for channel, touchpoint, minute, n in rows}
