"""The ClickHouse sink: writes each new event exactly once, so replays and redeliveries change nothing.

Idempotence comes from the write itself, not from Kafka transactions: before inserting a batch the sink
asks ClickHouse which of its event_ids are already stored and inserts only the others, in one INSERT
(the minute materialized view adds them to their minutes in the same statement). Offsets are committed
only after that INSERT returned, so a crash at any point leads to a re-read that inserts nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from sql.client import ServerDatabase
from streams.dedupe.batch import not_yet_stored
from streams.fcr.processor import FCR_COLUMNS
from streams.followups.processor import FOLLOWUP_COLUMNS
from streams.metrics import SINK_BATCH_SIZE, SINK_FAILURES, SINK_LATENCY
from streams.satisfaction.contributions import EVENT_COLUMNS

log = logging.getLogger(__name__)

Row = tuple[Any, ...]
"""A touchpoint_events row; its first column is the event_id."""

MAX_BACKOFF_S = 30.0


def _event_id(row: Row) -> str:
    return str(row[0])


class ClickHouseSink:
    """Stores rows of ``touchpoint_events``; each event_id at most once, whatever is re-sent."""

    def __init__(self, connect: Callable[[], ServerDatabase]) -> None:
        self._connect = connect
        self._db: ServerDatabase | None = None
        self.failing = False
        """True while the last write attempt failed (reported by /health)."""

    def _database(self) -> ServerDatabase:
        if self._db is None:
            self._db = self._connect()
        return self._db

    def stored_ids(self, event_ids: Sequence[str]) -> set[str]:
        """Which of these event_ids are already stored (an external table: no query-size limit)."""
        if not event_ids:
            return set()
        rows = self._database().client.execute(
            "SELECT event_id FROM touchpoint_events WHERE event_id IN batch_ids",
            external_tables=[{
                "name": "batch_ids",
                "structure": [("event_id", "String")],
                "data": [{"event_id": e} for e in event_ids],
            }],
        )
        return {r[0] for r in rows}

    def write(self, rows: list[Row], fcr_rows: list[Row] | None = None,
              followup_rows: list[Row] | None = None) -> int:
        """Insert the new event rows and every FCR outcome row; return how many events were new.

        Event rows must have distinct event_ids; an FCR row replaces older versions of itself.
        """
        started = time.monotonic()
        fresh = not_yet_stored(rows, _event_id, self.stored_ids([_event_id(r) for r in rows]))
        # Follow-ups of new events only (a later copy must not replace the first copy's), and
        # before the events: a crash in between leaves the events unstored, so the replay redoes both.
        fresh_ids = {_event_id(r) for r in fresh}
        new_followups = [r for r in followup_rows or () if r[0] in fresh_ids]
        if new_followups:
            self._database().insert("followups", FOLLOWUP_COLUMNS, new_followups)
        if fresh:
            self._database().insert("touchpoint_events", EVENT_COLUMNS, fresh)
        if fcr_rows:
            self._database().insert("fcr_contacts", FCR_COLUMNS, fcr_rows)
        SINK_BATCH_SIZE.observe(len(fresh))
        SINK_LATENCY.observe(time.monotonic() - started)
        return len(fresh)

    def write_until_done(self, rows: list[Row], fcr_rows: list[Row], followup_rows: list[Row],
                         stopping: Callable[[], bool]) -> int | None:
        """``write`` with retries and backoff: a ClickHouse outage delays the batch, never drops it.

        Returns None only if the worker is stopping; the batch is then not acknowledged.
        """
        delay = 0.5
        while True:
            try:
                written = self.write(rows, fcr_rows, followup_rows)
                self.failing = False
                return written
            except Exception as exc:  # any failure: reconnect, back off, try the same batch again
                self.failing = True
                SINK_FAILURES.inc()
                log.warning("clickhouse write of %d rows failed (%s); retrying in %.1fs",
                            len(rows), exc, delay)
                self.close()
                if stopping():
                    return None
                time.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)

    def close(self) -> None:
        """Drop the connection (the next write reconnects)."""
        if self._db is not None:
            try:
                self._db.close()
            finally:
                self._db = None
