"""The ClickHouse writer of the worker: any concern's rows, each failure classified.

- *Retriable* (server down, timeout, too many parts, a missing table while an operator migrates):
  raised as ``Retriable``; the pipeline backs off and tries the whole batch again.
- *Unstorable* (ClickHouse, or the driver before sending, refuses a value): the rows are split until
  the refused ones are found, and ``Unstorable`` names the batch records they came from, so those
  go to the dead-letter topic and the rest of the batch is written. Only for idempotent tables: a
  half written by the split is written again, harmlessly, on the next attempt.
- An *atomic* write (the minute ledger, ``streams.sinks.checkpoints``) is never split: it is one
  part or nothing; a refusal there is a bug, reported as ``Retriable`` so nothing is lost.

What each table's rows are, and why writing them again is harmless, is said where they are made.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from clickhouse_driver import errors

from sql.client import SentInsert, ServerDatabase
from streams.metrics import SINK_FAILURES, SINK_LATENCY

log = logging.getLogger(__name__)

Row = tuple[Any, ...]

# Server error codes that reject the data itself: sending it again can never succeed.
DATA_ERROR_CODES = frozenset({
    6,    # CANNOT_PARSE_TEXT
    26,   # CANNOT_PARSE_QUOTED_STRING
    27,   # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    38,   # CANNOT_PARSE_DATE
    41,   # CANNOT_PARSE_DATETIME
    53,   # TYPE_MISMATCH
    69,   # ARGUMENT_OUT_OF_BOUND
    70,   # CANNOT_CONVERT_TYPE
    72,   # CANNOT_PARSE_NUMBER
    131,  # TOO_LARGE_STRING_SIZE
    321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
})
CLIENT_DATA_ERRORS: tuple[type[BaseException], ...] = (
    TypeError, ValueError, OverflowError, struct.error, UnicodeError, errors.TypeMismatchError,
)
"""What clickhouse-driver raises while serialising a value it cannot send (nothing was sent)."""
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    errors.NetworkError, errors.SocketTimeoutError, errors.UnexpectedPacketFromServerError,
    EOFError, ConnectionError, socket.timeout, OSError,
)


def cluster_settings(quorum: int) -> dict[str, Any]:
    """Session settings of the worker's connection to a ClickHouse cluster (checked on 18.16).

    - ``insert_distributed_sync``: an insert through a Distributed table returns once every shard
      stored its rows; asynchronous, the next batch's dedupe look-up or FCR read could miss them.
    - ``insert_deduplicate`` off for the session, so the ledger's atomic inserts are never dropped:
      a replicated table drops a block identical to a recent one, and two ledger inserts may well
      be identical (same deltas, same checkpoint steps). The sink turns it on for every other
      insert (``ClickHouseSink.insert``): a quorum write that timed out is not undone, its part
      waits on the replica that took it, invisible to the retry's sequentially consistent dedupe
      look-up until the quorum is reached; the retry then sends that shard the same block (its rows
      are made the same way, ``inserted_at`` included), and only the block check keeps it once.
    - ``insert_quorum`` / ``select_sequential_consistency``: with a quorum, the reads that decide
      the next writes see every acknowledged write whichever replica answers; a write then waits
      (and the batch retries) while too few replicas are up. Without one, reads may hit a lagging
      replica: use it only with one replica per shard.
    """
    settings: dict[str, Any] = {"insert_distributed_sync": 1, "insert_deduplicate": 0}
    if quorum > 1:
        settings |= {"insert_quorum": quorum, "select_sequential_consistency": 1}
    return settings


def in_operator(cluster: bool) -> str:
    """``IN`` for an external table, or ``GLOBAL IN`` over a cluster's Distributed tables.

    GLOBAL sends the external table on to every shard. On one server 18.16 then no longer uses the
    primary key for it: ``GLOBAL IN`` read all 6M rows of ``fcr_contacts`` (62 ms) where ``IN`` read
    the 0.4M rows of the granules holding 200 customers (10 ms).
    """
    return "GLOBAL IN" if cluster else "IN"


class Retriable(Exception):
    """The write did not happen (or may not have): back off and try the batch again."""


class Unstorable(Exception):
    """ClickHouse can never hold these rows; ``sources`` are the batch positions they came from."""

    def __init__(self, table: str, sources: frozenset[int], detail: str) -> None:
        super().__init__(f"{table}: {detail}")
        self.table = table
        self.sources = sources
        self.detail = detail


@dataclass(frozen=True)
class TableRows:
    """Rows for one table, with the batch positions each row was made from (for dead-lettering)."""

    table: str
    columns: Sequence[str]
    rows: Sequence[Row]
    sources: list[frozenset[int]] = field(default_factory=list)
    atomic: bool = False
    """Written as one part or not at all: never split."""


def _is_data_error(exc: BaseException) -> bool:
    if isinstance(exc, errors.ServerException):
        return exc.code in DATA_ERROR_CODES
    return isinstance(exc, CLIENT_DATA_ERRORS) and not isinstance(exc, TRANSPORT_ERRORS)


class PendingInsert:
    """An insert of the sink whose rows are sent (``ClickHouseSink.send``)."""

    def __init__(self, sink: ClickHouseSink, batch: TableRows, sent: SentInsert | None,
                 started: float = 0.0) -> None:
        self._sink = sink
        self._batch = batch
        self._sent = sent
        self._started = started

    def wait(self) -> None:
        """Every row is stored, or ``Retriable`` / ``Unstorable`` is raised (as ``insert`` does)."""
        sent, self._sent = self._sent, None
        if sent is None:
            return
        try:
            sent.wait()
        except Exception as exc:
            self._sink._refused(self._batch, exc)
            return
        SINK_LATENCY.labels(self._batch.table).observe(time.monotonic() - self._started)

    def abandon(self) -> None:
        """Not waiting for it after all (the batch failed elsewhere): free its connection."""
        sent, self._sent = self._sent, None
        if sent is not None:
            sent.abandon()


class ClickHouseSink:
    """Inserts ``TableRows`` over one (re)connecting client; knows nothing of what the rows mean."""

    def __init__(self, connect: Callable[[], ServerDatabase], cluster: bool = False) -> None:
        """Write through ``connect``'s client.

        ``cluster``: an atomic write goes into the connected node's ``<table>_local``, one part on
        one shard (a Distributed table splits an insert across shards); reads sum all shards.
        """
        self._connect = connect
        self._cluster = cluster
        self._db: ServerDatabase | None = None
        self.failing = False
        """True while the last attempt failed (reported by /health)."""

    @property
    def cluster(self) -> bool:
        """Whether it writes to a cluster (its reads then need ``GLOBAL IN``)."""
        return self._cluster

    def database(self) -> ServerDatabase:
        """The connected client (connecting on first use and after a failure)."""
        if self._db is None:
            self._db = self._connect()
        return self._db

    def run(self, what: str, call: Callable[[ServerDatabase], Any]) -> Any:
        """Run a read (dedupe look-up, checkpoints, FCR history); any failure is ``Retriable``."""
        try:
            result = call(self.database())
        except Exception as exc:
            self._failed(what, exc)
            raise Retriable(f"{what}: {exc}") from exc
        return result

    def insert(self, batch: TableRows) -> None:
        """Insert every row, or raise ``Retriable`` / ``Unstorable`` (see the module docstring)."""
        if not batch.rows:
            return
        started = time.monotonic()
        try:
            self.database().insert(self._target(batch), batch.columns, batch.rows, self._settings(batch))
        except Exception as exc:
            self._refused(batch, exc)
        SINK_LATENCY.labels(batch.table).observe(time.monotonic() - started)

    def send(self, batch: TableRows) -> PendingInsert:
        """``insert``, returning once the rows are sent; ``PendingInsert.wait`` raises its errors.

        The caller works on while ClickHouse writes the part (on the other core, here). One insert
        per table may be pending at a time; every pending one is waited for or abandoned before the
        connection is used for that table again.
        """
        if not batch.rows:
            return PendingInsert(self, batch, None)
        started = time.monotonic()
        try:
            sent = self.database().send_insert(self._target(batch), batch.columns, batch.rows,
                                               self._settings(batch))
        except Exception as exc:
            self._refused(batch, exc)  # written by isolation if it returns
            return PendingInsert(self, batch, None)
        return PendingInsert(self, batch, sent, started)

    def _target(self, batch: TableRows) -> str:
        return f"{batch.table}_local" if batch.atomic and self._cluster else batch.table

    def _settings(self, batch: TableRows) -> dict[str, Any] | None:
        return {"insert_deduplicate": 1} if self._cluster and not batch.atomic else None

    def _refused(self, batch: TableRows, exc: BaseException) -> None:
        if batch.atomic or not _is_data_error(exc):
            self._failed(f"insert into {batch.table}", exc)
            raise Retriable(f"insert into {batch.table}: {exc}") from exc
        self._isolate(batch, exc)

    def _isolate(self, batch: TableRows, exc: BaseException) -> None:
        """Split a refused insert until the refused rows are alone; raise ``Unstorable`` for them."""
        if len(batch.rows) == 1:
            sources = batch.sources[0] if batch.sources else frozenset()
            log.warning("clickhouse refuses a row of %s (records %s): %s", batch.table,
                        sorted(sources), exc)
            raise Unstorable(batch.table, sources, f"{type(exc).__name__}: {exc}"[:500])
        middle = len(batch.rows) // 2
        refused: set[int] = set()
        detail = ""
        for part in (slice(None, middle), slice(middle, None)):
            half = TableRows(batch.table, batch.columns, batch.rows[part], batch.sources[part])
            try:
                self.insert(half)
            except Unstorable as bad:
                refused |= bad.sources
                detail = detail or bad.detail
        if refused:
            raise Unstorable(batch.table, frozenset(refused), detail)

    def _failed(self, what: str, exc: BaseException) -> None:
        self.failing = True
        SINK_FAILURES.inc()
        log.warning("clickhouse %s failed: %s", what, exc)
        self.close()

    def succeeded(self) -> None:
        """A whole batch was written: healthy again."""
        self.failing = False

    def close(self) -> None:
        """Drop the connection (the next call reconnects)."""
        if self._db is not None:
            try:
                self._db.close()
            except Exception:  # closing a broken connection may fail too; it is dropped either way
                log.debug("closing a failed clickhouse connection", exc_info=True)
            finally:
                self._db = None
