"""What the worker knows is stored in a table, without asking ClickHouse: an exact multiset of hashes.

ClickHouse 18.16 answers ``x IN <set>`` over a table sorted by ``x`` by reading every granule one of
the set's values could be in, and a batch's ids are random: a look-up of a few thousand ids read the
whole column, 25 ms at 1M rows and 160 ms at 8M, so a worker slowed down as history grew. The worker
instead holds, for every stored row, one 64-bit word: the top 48 bits of a hash of the row's key and,
in the low 16 bits, the day of its event time. That is 8 bytes a row (a 64-bit hash beside a 32-bit
second took 12); it asks ClickHouse only about the keys it holds, restricted to those rows' days
(which prunes the table's time partitions).

Exact, not probabilistic: a key the index does not hold has no stored row, because every row comes
from this worker (it adds a row before writing it, so a failed write leaves a harmless extra entry) or
was stored before the index was loaded (the worker loads it when it starts and whenever partitions
move, when another worker may have written). Two keys with one 48-bit hash (about one new key in
30 million at 10M stored rows) only cost a look-up that finds nothing.

Rows are kept in sorted runs of words, merged like a binary counter, so a batch adds its rows in
O(batch) and a look-up costs two binary searches per run (about log2(rows / batch) runs).
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
Words = npt.NDArray[np.uint64]
DAY_S = 86_400
DAY_BITS = 16
"""Days since 1970 of a ``DateTime`` (a uint32 of seconds) are below 49,711: 16 bits hold them."""
_DAYS = np.uint64((1 << DAY_BITS) - 1)
_HASH = ~_DAYS
LOAD_BLOCK_ROWS = 1 << 18
"""Rows turned into arrays at once while loading: bounds what the Python rows take meanwhile (~20 MB)."""
LOAD_PROGRESS_ROWS = 1 << 22


def key_hashes(keys: Sequence[str]) -> Words:
    """The 64-bit hash of each key: ClickHouse's ``halfMD5(key)`` (MD5's first 8 bytes, big-endian).

    One join of the digests, then one array: a third of the time of an ``int`` per key.
    """
    digests = b"".join([hashlib.md5(k.encode(), usedforsecurity=False).digest() for k in keys])
    return np.frombuffer(digests, ">u8")[::2].astype(np.uint64)


def index_word_sql(key_hash: str, event_time: str) -> str:
    """The ClickHouse expression of a row's index word, as ``StoredIndex.add`` makes it.

    ``key_hash`` is the ``halfMD5`` of the key, ``event_time`` a ``DateTime`` column.
    """
    return (f"bitOr(bitShiftLeft(bitShiftRight({key_hash}, {DAY_BITS}), {DAY_BITS}), "
            f"intDiv(toUInt32({event_time}), {DAY_S}))")


def event_second(ms: int) -> int:
    """A time in ms as its stored ``DateTime`` (``toUInt32`` of it): whole seconds, modulo 2**32."""
    return (ms // 1000) & 0xFFFFFFFF


def _words(hashes: Words, seconds: Sequence[int]) -> Words:
    days = np.asarray(seconds, np.uint64) // np.uint64(DAY_S)
    return (hashes & _HASH) | days


def _merged(a: Words, b: Words) -> Words:
    """One sorted run of two, in linear time (a sort of both took more time and memory)."""
    at = np.searchsorted(a, b, "right") + np.arange(len(b))
    from_a = np.ones(len(a) + len(b), dtype=bool)
    from_a[at] = False
    merged = np.empty(len(from_a), np.uint64)
    merged[at], merged[from_a] = b, a
    return merged


class StoredIndex:
    """Every stored row of a table as (hash of its key, day of its event time); exact (see the module)."""

    def __init__(self) -> None:
        self._runs: list[Words] = []

    def __len__(self) -> int:
        return sum(len(run) for run in self._runs)

    @property
    def nbytes(self) -> int:
        """Memory the index holds, in bytes."""
        return sum(run.nbytes for run in self._runs)

    def add(self, keys: Sequence[str], seconds: Sequence[int], hashes: Words | None = None) -> None:
        """Rows about to be stored: ``keys[i]`` with event time ``seconds[i]`` (``event_second``).

        ``hashes``: ``key_hashes(keys)``, when the caller has them already.
        """
        if keys:
            self._add_words(_words(key_hashes(keys) if hashes is None else hashes, seconds))

    def _add_words(self, words: Words) -> None:
        self._runs.append(np.sort(words))
        while len(self._runs) > 1 and len(self._runs[-2]) <= 2 * len(self._runs[-1]):
            last = self._runs.pop()
            self._runs[-1] = _merged(self._runs[-1], last)

    def seconds_of(self, keys: Sequence[str], hashes: Words | None = None) -> dict[str, tuple[int, int]]:
        """For each of ``keys`` the index holds: (first, last) second of the days of its stored rows.

        Every stored row of the key has its event time in that span; keys not held have no row.
        ``hashes``: ``key_hashes(keys)``, when the caller has them already (a key may then repeat).
        """
        if not keys or not self._runs:
            return {}
        if hashes is None:
            keys = list(dict.fromkeys(keys))
            hashes = key_hashes(keys)
        wanted = hashes & _HASH
        order = np.argsort(wanted)
        low = wanted[order]  # sorted needles: the binary searches walk the runs in order
        high = low | _DAYS
        days: dict[int, tuple[int, int]] = {}
        for run in self._runs:
            lo = np.searchsorted(run, low)
            hi = np.searchsorted(run, high, "right")
            for i in np.flatnonzero(hi > lo).tolist():  # few: re-deliveries and newer versions
                first, last = int(run[lo[i]] & _DAYS), int(run[hi[i] - 1] & _DAYS)
                if i in days:
                    first, last = min(first, days[i][0]), max(last, days[i][1])
                days[i] = (first, last)
        return {keys[order[i]]: (first * DAY_S, last * DAY_S + DAY_S - 1)
                for i, (first, last) in days.items()}

    def load(self, blocks: Iterable[Sequence[tuple[int]]]) -> None:
        """Add stored rows, as blocks of 1-tuples of index words from ClickHouse (``index_word_sql``)."""
        words = [np.array(block, dtype=np.uint64).reshape(-1) for block in blocks if len(block)]
        if words:
            self._add_words(np.concatenate(words))


def load_index(db: ServerDatabase, name: str, query: str,
               params: dict[str, Any] | None = None) -> StoredIndex:
    """A ``StoredIndex`` of every index word ``query`` returns, logging progress on long loads.

    The rows are streamed in server blocks, never held whole as Python tuples.
    """
    started = time.monotonic()
    index = StoredIndex()
    rows = db.client.execute_iter(query, params, settings={"max_block_size": 65536})
    index.load(_blocks(name, rows, started))
    log.info("%s: %d stored rows indexed in %.1fs (%.1f MB)", name, len(index),
             time.monotonic() - started, index.nbytes / 1e6)
    return index


def _blocks(name: str, rows: Iterator[tuple[int]], started: float) -> Iterator[list[tuple[int]]]:
    block: list[tuple[int]] = []
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
