"""What the worker knows is stored in a table, without asking ClickHouse: an exact multiset of hashes.

ClickHouse 18.16 answers ``x IN <set>`` over a table sorted by ``x`` by reading every granule one of
the set's values could be in, and a batch's ids are random: a look-up of a few thousand ids read the
whole column, 25 ms at 1M rows and 160 ms at 8M, so a worker slowed down as history grew. The worker
instead holds one 64-bit hash of every stored row's key, with a small value (its event time, in
seconds), 12 bytes a row, and asks ClickHouse only about the keys it holds, restricted to those keys'
event times (which prunes the table's time partitions).

Exact, not probabilistic: a key the index does not hold has no stored row, because every row comes
from this worker (it adds a row before writing it, so a failed write leaves a harmless extra entry) or
was stored before the index was loaded (the worker loads it when it starts and whenever partitions
move, when another worker may have written). Two keys with one hash only cost a look-up that finds
nothing.

Rows are kept in sorted runs of (hash, value), merged like a binary counter, so a batch adds its rows
in O(batch) and a look-up costs one binary search per run (about log2(rows / batch) runs).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from sql.client import ServerDatabase

log = logging.getLogger(__name__)
Hashes = npt.NDArray[np.uint64]
Values = npt.NDArray[np.uint32]
LOAD_BLOCK_ROWS = 1 << 18
"""Rows turned into arrays at once while loading: bounds what the Python rows take meanwhile (~30 MB)."""
LOAD_PROGRESS_ROWS = 1 << 22


def key_hashes(keys: Sequence[str]) -> Hashes:
    """The 64-bit hash of each key: ClickHouse's ``halfMD5(key)`` (MD5's first 8 bytes, big-endian).

    One join of the digests, then one array: a third of the time of an ``int`` per key.
    """
    digests = b"".join([hashlib.md5(k.encode(), usedforsecurity=False).digest() for k in keys])
    return np.frombuffer(digests, ">u8")[::2].astype(np.uint64)


def event_second(ms: int) -> int:
    """A time in ms as its stored ``DateTime`` (``toUInt32`` of it): whole seconds, modulo 2**32."""
    return (ms // 1000) & 0xFFFFFFFF


class _Run:
    __slots__ = ("hashes", "values")

    def __init__(self, hashes: Hashes, values: Values) -> None:
        """A run of these rows, sorted by hash (``hashes`` must be sorted already)."""
        self.hashes = hashes
        self.values = values

    @staticmethod
    def of(hashes: Hashes, values: Values) -> _Run:
        """A run of rows in any order."""
        order = np.argsort(hashes, kind="stable")
        return _Run(hashes[order], values[order])

    def __len__(self) -> int:
        return len(self.hashes)


def _merged(a: _Run, b: _Run) -> _Run:
    """One run of two, in linear time and about 25 bytes a row at the peak (a sort took 44)."""
    at = np.searchsorted(a.hashes, b.hashes, "right") + np.arange(len(b))
    from_a = np.ones(len(a) + len(b), dtype=bool)
    from_a[at] = False
    hashes = np.empty(len(from_a), np.uint64)
    hashes[at], hashes[from_a] = b.hashes, a.hashes
    values = np.empty(len(from_a), np.uint32)
    values[at], values[from_a] = b.values, a.values
    return _Run(hashes, values)


class StoredIndex:
    """Every stored row of a table as (hash of its key, a uint32 value); exact (see the module)."""

    def __init__(self) -> None:
        self._runs: list[_Run] = []

    def __len__(self) -> int:
        return sum(len(run) for run in self._runs)

    @property
    def nbytes(self) -> int:
        """Memory the index holds, in bytes."""
        return sum(run.hashes.nbytes + run.values.nbytes for run in self._runs)

    def add(self, keys: Sequence[str], values: Sequence[int]) -> None:
        """Rows about to be stored: ``keys[i]`` with ``values[i]``."""
        if keys:
            self._add_hashes(key_hashes(keys), np.asarray(values, np.uint32))

    def _add_hashes(self, hashes: Hashes, values: Values) -> None:
        self._runs.append(_Run.of(hashes, values))
        while len(self._runs) > 1 and len(self._runs[-2]) <= 2 * len(self._runs[-1]):
            last = self._runs.pop()
            self._runs[-1] = _merged(self._runs[-1], last)

    def values_of(self, keys: Sequence[str]) -> dict[str, list[int]]:
        """For each of ``keys`` the index holds, the values of its stored rows (keys held only)."""
        if not keys or not self._runs:
            return {}
        keys = list(dict.fromkeys(keys))
        wanted = key_hashes(keys)
        order = np.argsort(wanted)
        sorted_wanted = wanted[order]  # sorted needles: the binary searches walk the runs in order
        found: dict[str, list[int]] = {}
        for run in self._runs:
            lo = np.searchsorted(run.hashes, sorted_wanted)
            held = np.flatnonzero(run.hashes[np.minimum(lo, len(run) - 1)] == sorted_wanted)
            if len(held):  # few: re-deliveries and newer versions
                hi = np.searchsorted(run.hashes, sorted_wanted[held], "right")
                for i, end in zip(held.tolist(), hi.tolist(), strict=True):
                    found.setdefault(keys[order[i]], []).extend(run.values[lo[i]:end].tolist())
        return found

    def load(self, blocks: Iterable[Sequence[tuple[int, int]]]) -> None:
        """Add stored rows, as blocks of (hash, value) rows from ClickHouse."""
        hashes: list[Hashes] = []
        values: list[Values] = []
        for block in blocks:
            if len(block):
                pairs = np.array(block, dtype=np.uint64).reshape(-1, 2)
                hashes.append(np.ascontiguousarray(pairs[:, 0]))
                values.append(pairs[:, 1].astype(np.uint32))
        if hashes:
            self._add_hashes(np.concatenate(hashes), np.concatenate(values))


def load_index(db: ServerDatabase, name: str, query: str,
               params: dict[str, Any] | None = None) -> StoredIndex:
    """A ``StoredIndex`` of every (hash, value) row ``query`` returns, logging progress on long loads.

    The rows are streamed in server blocks, never held whole as Python tuples.
    """
    started = time.monotonic()
    index = StoredIndex()
    rows = db.client.execute_iter(query, params, settings={"max_block_size": 65536})
    index.load(_blocks(name, rows, started))
    log.info("%s: %d stored rows indexed in %.1fs (%.1f MB)", name, len(index),
             time.monotonic() - started, index.nbytes / 1e6)
    return index


def _blocks(name: str, rows: Iterator[tuple[int, int]], started: float
            ) -> Iterator[list[tuple[int, int]]]:
    block: list[tuple[int, int]] = []
    done = 0
    for row in rows:
        block.append(row)
        if len(block) >= LOAD_BLOCK_ROWS:
            done += len(block)
            if done % LOAD_PROGRESS_ROWS == 0:
                log.info("%s: %d stored rows read (%.0fs)", name, done, time.monotonic() - started)
            yield block
            block = []
    yield block
