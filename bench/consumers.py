"""R and the peers as processes: start one on a topic, tell it where the end is, read its result.

R runs in the project's virtualenv; Bytewax and Quix Streams in ``.venv-peers`` (``make
peers-venv``, pinned by ``bench/peers/requirements.txt``), never in the project's dependencies. Each
gets the repository on ``PYTHONPATH`` (for ``schemas.codec`` and ``bench.peers.common``), a fresh
consumer group, and a folder of its own under the run folder (log, end file, ready marker, latency
samples, Quix's state).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from array import array
from dataclasses import dataclass
from pathlib import Path

from bench.peers.common import RESULT_PREFIX

REPO = Path(__file__).resolve().parent.parent
PEERS_VENV = REPO / ".venv-peers"
PEER_PACKAGES = ("bytewax", "quixstreams")


@dataclass(frozen=True)
class ConsumerSpec:
    """One row of the side-by-side table that is a consumer process."""

    name: str
    label: str
    module: str
    peer: bool
    decoder: str = "cavro"
    """How it decodes our records (``AvroCodec(decoder=...)``): the worker's cavro unless said."""

    @property
    def python(self) -> str:
        """The interpreter it runs with."""
        return str(PEERS_VENV / "bin" / "python") if self.peer else sys.executable


RAW = ConsumerSpec("R", "R: confluent-kafka + fastavro + dict", "bench.peers.raw", False, "fastavro")
"""The ceiling the issue set the worker's targets against: fastavro decoding, as when it was set."""
RAW_CAVRO = ConsumerSpec("R-cavro", "R': confluent-kafka + cavro + dict", "bench.peers.raw", False)
"""The same with the worker's decoder: the ceiling of what the worker's own work can reach."""
PEERS = (
    ConsumerSpec("bytewax", "Bytewax {bytewax} (keyed state, in memory)", "bench.peers.bytewax_flow", True),
    ConsumerSpec("quix", "Quix Streams {quixstreams} (dict, in memory)", "bench.peers.quix_app", True),
    ConsumerSpec("quix-state", "Quix Streams {quixstreams} (State: RocksDB + changelog)",
                 "bench.peers.quix_app", True),
)
"""Each decoding with cavro, as the worker does: the rows then differ by framework only."""


def peer_versions() -> dict[str, str]:
    """The installed version of each peer package in ``.venv-peers``."""
    code = ("import importlib.metadata as m, json; "
            f"print(json.dumps({{p: m.version(p) for p in {PEER_PACKAGES!r}}}))")
    done = subprocess.run([str(PEERS_VENV / "bin" / "python"), "-c", code], capture_output=True,
                          text=True, check=True)
    versions: dict[str, str] = json.loads(done.stdout)
    return versions


@dataclass(frozen=True)
class ConsumerResult:
    """What a consumer printed: counts and its window (first record to last, its own CPU)."""

    name: str
    records: int
    events: int
    distinct: int
    duplicates: int
    cells: int
    digest: str
    wall_s: float
    cpu_s: float
    machine_busy: float
    startup_s: float

    @property
    def events_per_s(self) -> float:
        """Events decoded per second of its window."""
        return self.events / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_us_per_event(self) -> float:
        """CPU microseconds per event (its process, every thread)."""
        return self.cpu_s / self.events * 1e6 if self.events else 0.0


class ConsumerRun:
    """A consumer process started on ``topic``; ``ends`` given now (a backlog) or later (``set_end``)."""

    def __init__(self, spec: ConsumerSpec, bootstrap: str, topic: str, folder: Path, *,
                 ends: dict[int, int] | None = None, latency: bool = False) -> None:
        self.spec = spec
        self.folder = folder / spec.name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.end_file, self.ready_file = self.folder / "end.json", self.folder / "ready"
        self.latency_file = self.folder / "latency.f64" if latency else None
        self.log = self.folder / "consumer.log"
        for stale in (self.end_file, self.ready_file):
            stale.unlink(missing_ok=True)
        if ends is not None:
            self.set_end(ends)
        command = [spec.python, "-m", spec.module, "--name", spec.name, "--bootstrap", bootstrap,
                   "--topic", topic, "--group", f"bench-{spec.name}-{uuid.uuid4().hex[:8]}",
                   "--end-file", str(self.end_file), "--ready-file", str(self.ready_file),
                   "--state-dir", str(self.folder / "state"), "--decoder", spec.decoder]
        if self.latency_file is not None:
            command += ["--latency-file", str(self.latency_file)]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                            env={**os.environ, "PYTHONPATH": str(REPO)})

    def set_end(self, ends: dict[int, int]) -> None:
        """Where to stop: next offset per partition (written whole: the consumer may read it any time)."""
        partial = self.end_file.with_suffix(".tmp")
        partial.write_text(json.dumps({str(p): o for p, o in ends.items()}))
        partial.replace(self.end_file)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the consumer has its partitions."""
        deadline = time.monotonic() + timeout
        while not self.ready_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.spec.name} did not get its partitions: {self.tail()}")
            time.sleep(0.05)

    def finish(self, timeout: float) -> ConsumerResult:
        """Wait for the consumer to exit; its result line."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"{self.spec.name} did not finish in {timeout:.0f} s: {self.tail()}"
                               ) from None
        lines = [line for line in self.log.read_text(errors="replace").splitlines()
                 if line.startswith(RESULT_PREFIX)]
        if code != 0 or not lines:
            raise RuntimeError(f"{self.spec.name} exited {code}: {self.tail()}")
        fields = json.loads(lines[-1].removeprefix(RESULT_PREFIX))
        return ConsumerResult(**{k: fields[k] for k in ConsumerResult.__dataclass_fields__})

    def latency_pairs(self) -> list[tuple[float, float]]:
        """(received_at, latency) of every counted event, in ms (latency runs)."""
        if self.latency_file is None or not self.latency_file.exists():
            return []
        values = array("d")
        values.frombytes(self.latency_file.read_bytes())
        return list(zip(values[::2], values[1::2], strict=True))

    def kill(self) -> None:
        """Stop the process (ours, by its pid) if it still runs."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def tail(self, lines: int = 15) -> str:
        """The last lines of its log."""
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return f"(log {self.log})\n    " + "\n    ".join(text[-lines:])


def measure_backlog(spec: ConsumerSpec, bootstrap: str, topic: str, ends: dict[int, int], folder: Path,
                    timeout: float = 600.0) -> ConsumerResult:
    """One consumer over a published backlog, from the beginning, to ``ends``."""
    return ConsumerRun(spec, bootstrap, topic, folder, ends=ends).finish(timeout)
