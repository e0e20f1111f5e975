"""The real local stack for the fault matrix: broker, ClickHouse and worker(s), and the faults.

One stack for the whole matrix (started through the same code as ``cxpulse stack up``, on free
ports); each row gets its own topic prefix and database, so rows cannot see each other's data. The
figures are read with ``cxpulse metrics`` and ``cxpulse impact`` and compared with
``tests.integration.reference`` and ``tests.integration.cx.reference``, independent recomputations
from the raw events by METRICS.md's rules.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cxpulse import stack
from cxpulse.settings import Settings
from schemas.event import OPTIONAL_DEFAULTS
from sql.client import ServerDatabase
from tests.conftest import free_port, stack_ports, unique_name
from tests.integration.cx import reference as cx_reference
from tests.integration.reference import (
    COUNTS,
    FCR,
    OPEN_FOLLOWUPS,
    expected_counts,
    expected_fcr,
    fcr_roles,
    first_copies,
    followups_mismatch,
)

COMPONENTS = ("broker", "clickhouse", "worker")
DAY_MS = 86_400_000


PAIN_POINT_COUNTS = ("customers_seen", "customers_with_problem", "complainants", "recovered_complainants",
                     "unrecovered_customers", "positive_customers", "complaints")


@dataclass
class Check:
    """Counts by channel, touchpoint and agent, FCR roles, open follow-ups and pain points vs the
    recomputation."""

    compared: int = 0
    mismatches: list[str] = field(default_factory=list)


class ChaosStack:
    """The stack, one row at a time (``row`` switches prefix and database and restarts the worker)."""

    def __init__(self, run_dir: Path, **overrides: Any) -> None:
        self.run_dir = run_dir
        self.base: dict[str, Any] = dict(
            run_dir=run_dir, **stack_ports(), sink_batch_seconds=0.5, touchpoint_partitions=4,
            worker_failpoint_file=str(run_dir / "failpoint"), **overrides)
        self.settings = Settings(**self.base, topic_prefix="boot.", clickhouse_database="boot")
        self.env: dict[str, str] = {}
        self._extra_workers: list[_Respawning] = []

    # --- life cycle -----------------------------------------------------------------------------------

    def row(self, name: str, **overrides: Any) -> None:
        """Fresh topics and database for a row; the worker restarted on them."""
        self.stop_extra_workers()
        self.settings = Settings(**{**self.base, **overrides}, topic_prefix=unique_name(name) + ".",
                                 clickhouse_database=unique_name("chaos"))
        self.env = {**os.environ, **stack.worker_environment(self.settings)}
        stack.up(self.settings, progress=lambda line: None, components=COMPONENTS)

    def down(self) -> None:
        """Stop everything."""
        self.stop_extra_workers()
        stack.down(self.settings, progress=lambda line: None)

    # --- the console, as a user runs it ---------------------------------------------------------------

    def cxpulse(self, *args: str, timeout: float = 900, stdin: bytes | None = None) -> str:
        """Run ``cxpulse`` with this row's settings; raise with its stderr on failure."""
        done = subprocess.run([sys.executable, "-m", "cxpulse", *args], env=self.env, input=stdin,
                              capture_output=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"cxpulse {' '.join(args)} failed: {done.stderr.decode()[-2000:]}")
        return done.stdout.decode()

    def publish(self, events: list[dict[str, Any]], name: str = "input") -> int:
        """Publish events as JSON lines through ``cxpulse publish``; returns how many were accepted."""
        path = self.run_dir / f"{name}.jsonl"
        path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
        out = self.cxpulse("publish", str(path))
        return int(out.split("accepted ", 1)[1].split(",", 1)[0])

    def drain(self, timeout: float = 600) -> float:
        """Wait until everything is stored; returns how long it took."""
        started = time.monotonic()
        self.cxpulse("drain", "--timeout", str(int(timeout)), timeout=timeout + 60)
        return time.monotonic() - started

    def check(self, events: list[dict[str, Any]], start_ms: int, end_ms: int) -> Check:
        """``cxpulse metrics`` by channel, touchpoint and agent, ``fcr_contacts`` and ``followups``."""
        counted = first_copies(events)
        as_of = int(time.time())  # one clock for every query and the recomputation
        now_ms = as_of * 1000
        result = Check()
        for by in ("channel", "touchpoint", "agent_id"):
            out = self.cxpulse("metrics", "--by", by, "--from", str(start_ms // 1000), "--to",
                               str(end_ms // 1000), "--as-of", str(as_of), "--format", "json")
            got = {row[by]: row for row in json.loads(out)}
            want = expected_counts(counted, by, start_ms, end_ms)
            want_fcr = expected_fcr(counted, by, start_ms, end_ms, now_ms)
            for group in set(got) | set(want) | set(want_fcr):
                for name in (*COUNTS, *FCR):
                    expected = (want_fcr if name in FCR else want).get(group, {}).get(name, 0)
                    actual = got.get(group, {}).get(name, 0)
                    result.compared += 1
                    if actual != expected:
                        result.mismatches.append(f"{by}={group} {name}: {actual} != {expected}")
        roles = fcr_roles(counted, now_ms)
        with self.database() as db:
            stored = {r["event_id"]: r for r in db.query(
                "SELECT event_id, is_first, failed, toUInt32(decides_at) AS decides_at, removed "
                "FROM fcr_contacts FINAL") if r["removed"] == 0}
        for event_id, role in roles.items():
            row = stored.get(event_id)
            got = "missing" if row is None else "repeat" if not row["is_first"] else (
                "failure" if row["failed"] else "success" if row["decides_at"] * 1000 <= now_ms
                else "pending")
            result.compared += 1
            if got != role:
                result.mismatches.append(f"contact {event_id}: {got} != {role}")
        result.compared += 1
        if len(stored) != len(roles):
            result.mismatches.append(f"fcr_contacts holds {len(stored)} contacts, {len(roles)} eligible")
        with self.database() as db:
            open_ = {r[0] for r in db.execute(OPEN_FOLLOWUPS)}
        result.compared += 1
        if (followups := followups_mismatch(open_, counted)):
            result.mismatches.append(followups)
        self._check_pain_points(counted, roles, start_ms, end_ms, result)
        return result

    def _check_pain_points(self, counted: list[dict[str, Any]], roles: dict[str, str], start_ms: int,
                           end_ms: int, result: Check) -> None:
        """``cxpulse impact --by touchpoint``: every scope's customer counts and revenue at risk.

        A failed first contact is a problem experience, so this also reads the FCR roles, through
        the CX layer's own SQL (latest versions, ``fcr_contacts``), not the minute counts. Only
        failures make problems, and a failure does not wait for the clock: ``impact`` needs no
        ``--as-of``.
        """
        start_s, end_s = start_ms // 1000, -(-end_ms // 1000)
        out = self.cxpulse("impact", "--by", "touchpoint", "--from", str(start_s), "--to", str(end_s),
                           "--format", "json")
        got = json.loads(out)
        mine = [{**OPTIONAL_DEFAULTS, **e, "attributes": e.get("attributes") or {}}
                for e in counted if start_s * 1000 <= e["occurred_at"] < end_s * 1000]
        want = cx_reference.scopes(mine, roles, ("touchpoint",))
        [want_total] = cx_reference.scopes(mine, roles, ()).values()
        rows = {(r["touchpoint"],): r for r in got["scopes"]}
        for scope, expected in [*want.items(), ((), want_total)]:
            row = got["total"] if scope == () else rows.get(scope, {})
            for name in (*PAIN_POINT_COUNTS, "revenue_at_risk"):
                actual, wanted = row.get(name, 0), expected[name]
                result.compared += 1
                if abs(actual - wanted) > (0.0051 if name == "revenue_at_risk" else 0):
                    result.mismatches.append(f"pain points {scope or 'total'} {name}: {actual} != {wanted}")
        result.compared += 1
        if set(rows) != set(want):
            result.mismatches.append(f"pain points: scopes {sorted(set(rows) ^ set(want))[:3]} differ")

    def stored_events(self) -> tuple[int, int]:
        """(rows stored more than once, distinct event ids) in touchpoint_events.

        A row is one stored version of an event: the same (event_id, version) twice is a duplicate.
        """
        with self.database() as db:
            [(rows, versions, distinct)] = db.execute(
                "SELECT count(), uniqExact(event_id, version), uniqExact(event_id) FROM touchpoint_events")
        return int(rows) - int(versions), int(distinct)

    @contextmanager
    def database(self) -> Iterator[ServerDatabase]:
        """This row's database on the stack's ClickHouse."""
        db = ServerDatabase(self.settings.clickhouse_host, self.settings.clickhouse_port,
                            self.settings.clickhouse_database)
        try:
            yield db
        finally:
            db.close()

    # --- faults ---------------------------------------------------------------------------------------

    def pid(self, component: str) -> int:
        """The supervised component's pid (0 when not running)."""
        return int(stack.supervisor(self.settings).getProcessInfo(component)["pid"])

    def kill(self, component: str) -> None:
        """kill -9 the component; supervisord starts it again."""
        pid = self.pid(component)
        if pid:
            os.killpg(os.getpgid(pid), signal.SIGKILL) if component == "worker" else os.kill(
                pid, signal.SIGKILL)

    def wait_running(self, component: str, timeout: float = 90) -> None:
        """Until supervisord reports the component RUNNING again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if stack.supervisor(self.settings).getProcessInfo(component)["statename"] == "RUNNING":
                return
            time.sleep(0.2)
        raise TimeoutError(f"{component} did not come back")

    def stop(self, component: str) -> None:
        """Stop a component until ``start``."""
        stack.stop_component(self.settings, component)

    def start(self, component: str) -> None:
        """Start a stopped component and wait until it is healthy."""
        stack.start_component(self.settings, component)

    def arm_failpoint(self, point: str, nth: int) -> None:
        """The worker dies the ``nth`` time it reaches ``point`` (``streams.failpoints``)."""
        Path(self.settings.worker_failpoint_file).write_text(f"{point} {nth}")

    def failpoint_fired(self) -> bool:
        """The armed failpoint was reached (the worker removed the file as it died)."""
        return not Path(self.settings.worker_failpoint_file).exists()

    def add_worker(self) -> int:
        """One more worker in the same consumer group, restarted whenever it exits; its web port."""
        port = free_port()
        env = {**self.env, "CXPULSE_WORKER_PORT": str(port)}
        log = self.run_dir / f"worker-extra-{len(self._extra_workers)}.log"
        self._extra_workers.append(_Respawning([sys.executable, "-m", "cxpulse", "worker"], env, log))
        return port

    def worker_ports(self) -> list[int]:
        """The web port of every worker: the supervised one first, then the added ones."""
        return [self.settings.worker_port, *(w.port for w in self._extra_workers)]

    def health(self, port: int) -> dict[str, Any] | None:
        """A worker's /health, or None while it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as page:
                answer: dict[str, Any] = json.load(page)
                return answer
        except (OSError, ValueError):
            return None

    def kill_worker_on(self, port: int) -> None:
        """kill -9 the worker serving on ``port`` (it is started again)."""
        if port == self.settings.worker_port:
            self.kill("worker")
            return
        for worker in self._extra_workers:
            if worker.port == port:
                worker.kill()

    def stop_extra_workers(self) -> None:
        """Stop the workers ``add_worker`` started."""
        for worker in self._extra_workers:
            worker.stop()
        self._extra_workers = []

    def extra_worker_exits(self) -> int:
        """How often the extra workers exited (and were started again)."""
        return sum(w.exits for w in self._extra_workers)


class _Respawning:
    """A process kept running like supervisord would: started again when it exits."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.command, self.env, self.log = command, env, log
        self.port = int(env["CXPULSE_WORKER_PORT"])
        self.exits = 0
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with self.log.open("ab") as out:
            while not self._stopping.is_set():
                self._process = subprocess.Popen(self.command, env=self.env, stdout=out,
                                                 stderr=subprocess.STDOUT, start_new_session=True)
                self._process.wait()
                if not self._stopping.is_set():
                    self.exits += 1
                    time.sleep(1)

    def kill(self) -> None:
        """kill -9 the running process; it is started again."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)

    def stop(self) -> None:
        self._stopping.set()
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
        self._thread.join(35)
