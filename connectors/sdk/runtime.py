"""The runtime every connector runs in: records -> events -> publisher, never losing one.

Guarantees, per raw record:

- it is counted (``cxpulse_connector_records_in_total``);
- each of its events is prepared by the publisher (``Publisher.prepare``: privacy applied with the
  publisher's key, then validated — the runtime does neither itself) and, if valid, produced
  (``Publisher.publish_event``); an event the publisher refuses is dead-lettered with the exact reason
  it gave (a validation reason, or ``unprotected_customer_id`` from a keyless publisher);
- a record the connector rejects (``InvalidRecord``) is dead-lettered with the connector's reason, and any
  other exception from ``to_events`` is dead-lettered as ``connector_error``: one bad record never stops
  or loses the good ones;
- ``RetriableError`` is retried with exponential backoff, then re-raised (never turned into data loss);
  ``FatalError`` stops the run.

``process_record`` returns what became of one record (``RecordResult``: events accepted, and every
rejection with its dead-letter reason and detail), for callers that report per record — the file
connectors' summaries and the retail-partner rejection report.

Pull sources (``run_pull``) save their cursor only after the publisher flushed, so a restart resumes
exactly after the last record that reached Kafka (at-least-once; event ids make replays duplicates).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from connectors.sdk.atomic import write_atomic
from connectors.sdk.base import Connector, FatalError, InvalidRecord, RetriableError
from connectors.sdk.metrics import (
    CONNECTOR_EVENTS_OUT,
    CONNECTOR_RECORDS_IN,
    CONNECTOR_REJECTED,
    CONNECTOR_RETRIES,
)
from schemas.event import InvalidEvent, TouchpointEvent

log = logging.getLogger(__name__)
T = TypeVar("T")
CONNECTOR_ERROR = "connector_error"
INVALID_EVENT = "invalid_event"
"""The counted reason of any rejected event (its dead letter carries the publisher's exact reason)."""


class Publisher(Protocol):
    """What the runtime needs of a ``BasePublisher`` (``EventPublisher``, the kit's ``FakePublisher``)."""

    def prepare(self, obj: object, received_at: int | None = None) -> TouchpointEvent:
        """One event protected (publisher's key) and validated; ``InvalidEvent`` with the reason if not."""

    def publish_event(self, event: TouchpointEvent) -> None:
        """Produce one event returned by ``prepare``; acknowledged by ``flush``."""

    def dead_letter(self, raw: bytes, reason: str, detail: str) -> None:
        """Send one rejected record (PII removed) to the dead-letter topic."""

    def flush(self, timeout: float = 120.0) -> Any:
        """Return once Kafka acknowledged everything; raise otherwise."""


class CursorStore(Protocol):
    """Where pull sources keep the cursor of the last record that reached Kafka."""

    def load(self, name: str) -> str | None:
        """The saved cursor of connector ``name``, or None to start from the beginning."""

    def save(self, name: str, cursor: str) -> None:
        """Durably replace the cursor of connector ``name``."""


class InMemoryCursorStore:
    """Cursors kept in this process only: for runs that are not resumed (a live simulation)."""

    def __init__(self) -> None:
        self.cursors: dict[str, str] = {}

    def load(self, name: str) -> str | None:
        """The saved cursor or None."""
        return self.cursors.get(name)

    def save(self, name: str, cursor: str) -> None:
        """Keep the cursor."""
        self.cursors[name] = cursor


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


class FileCursorStore:
    """One small file per connector under ``folder``; saves are atomic (write, fsync, rename)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, name: str) -> Path:
        if not _SAFE_NAME.match(name):
            raise ValueError(f"invalid cursor name {name!r}")
        return self.folder / f"{name}.cursor"

    def load(self, name: str) -> str | None:
        """The saved cursor, or None when there is none yet."""
        path = self._path(name)
        return path.read_text(encoding="utf-8") if path.exists() else None

    def save(self, name: str, cursor: str) -> None:
        """Replace the cursor atomically: a crash leaves the old or the new one, never half."""
        write_atomic(self._path(name), cursor.encode())


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: ``base_delay * 2**n`` seconds, capped at ``max_delay``."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delays(self) -> Iterator[float]:
        """The waits between attempts (``max_attempts - 1`` of them), in seconds."""
        for n in range(self.max_attempts - 1):
            yield min(self.base_delay * 2**n, self.max_delay)


@dataclass(frozen=True)
class Rejection:
    """One dead letter of a record: its reason and detail exactly as on the dead-letter topic.

    ``event`` is True when an event the connector produced was refused by ``Publisher.prepare``
    (``reason`` is the publisher's), False when the record itself was (``InvalidRecord``,
    ``connector_error``, unparsable).
    """

    reason: str
    detail: str
    event: bool = False

    @property
    def counted_as(self) -> str:
        """The reason in the runtime's counters: ``invalid_event`` for any event, else ``reason``."""
        return INVALID_EVENT if self.event else self.reason


@dataclass
class RecordResult:
    """What became of one raw record: events Kafka will get, and every rejection (in order)."""

    accepted: int = 0
    rejections: list[Rejection] = field(default_factory=list)


@dataclass
class RunSummary:
    """Counts of one run (a file, a poll, a bridge session): records in, events accepted, rejected.

    ``rejected_by_reason`` counts dead letters by the runtime's reason (``Rejection.counted_as``:
    ``invalid_event`` for any event the publisher refused), unless a caller counts exact reasons.
    """

    records: int = 0
    accepted: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        """Total rejected (records and events)."""
        return sum(self.rejected_by_reason.values())

    def reject(self, reason: str) -> None:
        """Count one rejection."""
        self.rejected_by_reason[reason] = self.rejected_by_reason.get(reason, 0) + 1

    def line(self) -> str:
        """``records 7, accepted 5, rejected 2 (invalid_json=1, ...)``."""
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.rejected_by_reason.items()))
        return (f"records {self.records}, accepted {self.accepted}, rejected {self.rejected}"
                + (f" ({reasons})" if reasons else ""))


class ConnectorRuntime:
    """Runs one connector instance against a publisher, which applies privacy to every event.

    The publisher holds the privacy key: build it with the deployment's key (``cxpulse.wiring``).
    """

    def __init__(self, connector: Connector[Any], publisher: Publisher, *,
                 retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.connector = connector
        self.publisher = publisher
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self.summary = RunSummary()
        # The per-record counters, looked up once: a labels() call costs ~5 µs, per record.
        self._records_in = CONNECTOR_RECORDS_IN.labels(connector.name)
        self._events_out = CONNECTOR_EVENTS_OUT.labels(connector.name)

    @property
    def name(self) -> str:
        """The connector's registry name (the metrics label)."""
        return self.connector.name

    def with_retries(self, action: Callable[[], T]) -> T:
        """Run ``action``, retrying ``RetriableError`` with backoff; re-raise after the last attempt."""
        for delay in self._retry.delays():
            try:
                return action()
            except RetriableError as exc:
                CONNECTOR_RETRIES.labels(self.name).inc()
                log.warning("%s: transient error, retrying in %.1fs: %s", self.name, delay, exc)
                self._sleep(delay)
        return action()

    def _dead_letter(self, raw: bytes, rejection: Rejection, result: RecordResult) -> None:
        self.with_retries(lambda: self.publisher.dead_letter(raw, rejection.reason, rejection.detail))
        self._count_rejected(rejection, result)

    def _count_rejected(self, rejection: Rejection, result: RecordResult) -> None:
        CONNECTOR_REJECTED.labels(self.name, rejection.counted_as).inc()
        self.summary.reject(rejection.counted_as)
        result.rejections.append(rejection)

    def _events_of(self, raw: Any, raw_bytes: bytes,
                   result: RecordResult) -> list[dict[str, Any]] | None:
        """The connector's events for ``raw``, or None once the record was dead-lettered."""
        try:
            events = self.with_retries(lambda: list(self.connector.to_events(raw)))
            if not all(isinstance(e, dict) for e in events):
                raise TypeError("to_events must return a list of dicts")
            return events
        except InvalidRecord as exc:
            self._dead_letter(raw_bytes, Rejection(exc.reason, exc.detail), result)
        except (RetriableError, FatalError, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # a connector bug must not lose the record: dead-letter it
            log.exception("%s: to_events failed; record dead-lettered", self.name)
            detail = f"{type(exc).__name__}: {exc}"[:500]
            self._dead_letter(raw_bytes, Rejection(CONNECTOR_ERROR, detail), result)
        return None

    def _publish(self, event: dict[str, Any], raw_bytes: bytes, result: RecordResult) -> None:
        """One event to the publisher; dead-lettered (reason recorded in ``result``) if it refuses it."""
        try:
            prepared = self.publisher.prepare(event)
        except InvalidEvent as exc:
            self._dead_letter(raw_bytes, Rejection(exc.reason, exc.detail, event=True), result)
            return
        self.with_retries(partial(self.publisher.publish_event, prepared))
        result.accepted += 1
        self._events_out.inc()

    def process_record(self, raw: Any, raw_bytes: bytes | None = None) -> RecordResult:
        """One raw record -> its events published, or dead-lettered; what became of each of them.

        ``raw_bytes`` is the record as kept on the dead-letter topic (default
        ``connector.raw_bytes(raw)``): file connectors pass the bytes as read from the file. Every
        rejection in the result was dead-lettered with exactly that reason and detail.
        """
        self._records_in.inc()
        self.summary.records += 1
        raw_bytes = self.connector.raw_bytes(raw) if raw_bytes is None else raw_bytes
        result = RecordResult()
        for event in self._events_of(raw, raw_bytes, result) or []:
            self._publish(event, raw_bytes, result)
        self.summary.accepted += result.accepted
        return result

    def process(self, raw: Any) -> int:
        """One raw record -> its events published (or the record dead-lettered); events accepted."""
        return self.process_record(raw).accepted

    def reject(self, raw_bytes: bytes, reason: str, detail: str) -> RecordResult:
        """A record the source could not even parse (e.g. ``invalid_json``): counted and dead-lettered."""
        self._records_in.inc()
        self.summary.records += 1
        result = RecordResult()
        self._dead_letter(raw_bytes, Rejection(reason, detail), result)
        return result

    def run(self, records: Iterable[Any]) -> RunSummary:
        """Push sources: process every record, then flush (raises if Kafka did not acknowledge)."""
        for raw in records:
            self.process(raw)
        self.publisher.flush()
        return self.summary

    def run_pull(self, store: CursorStore, *, batch_size: int = 500, max_batch_seconds: float = 5.0,
                 on_record: Callable[[], None] | None = None) -> RunSummary:
        """Pull sources: poll after the saved cursor until the source is exhausted.

        Every ``batch_size`` records (or ``max_batch_seconds``) the publisher is flushed and only
        then the cursor saved. A ``RetriableError`` from ``poll`` re-polls after the last processed
        record, with backoff; after ``max_attempts`` failures in a row it is re-raised.
        ``on_record`` is called after each record (progress).
        """
        batch = _PullBatch(self, store, batch_size, max_batch_seconds)
        failures = 0
        while True:
            try:
                for raw, cursor in self.connector.poll(batch.position):
                    self.process(raw)
                    batch.advance(cursor)
                    failures = 0
                    if on_record is not None:
                        on_record()
                batch.commit()
                return self.summary
            except RetriableError as exc:
                failures += 1
                if failures >= self._retry.max_attempts:
                    raise
                delay = min(self._retry.base_delay * 2 ** (failures - 1), self._retry.max_delay)
                CONNECTOR_RETRIES.labels(self.name).inc()
                log.warning("%s: poll failed, re-polling in %.1fs: %s", self.name, delay, exc)
                self._sleep(delay)


class _PullBatch:
    """The cursor bookkeeping of ``run_pull``: processed position vs. saved (flushed) position."""

    def __init__(self, runtime: ConnectorRuntime, store: CursorStore, size: int, seconds: float) -> None:
        self._runtime, self._store, self._size, self._seconds = runtime, store, size, seconds
        self.saved = store.load(runtime.name)
        self.position = self.saved
        self._pending = 0
        self._started = time.monotonic()

    def advance(self, cursor: str) -> None:
        """One more record processed; commit when the batch is full or old enough."""
        self.position = cursor
        self._pending += 1
        if self._pending >= self._size or time.monotonic() - self._started >= self._seconds:
            self.commit()

    def commit(self) -> None:
        """Flush the publisher, then (only then) save the cursor."""
        self._runtime.publisher.flush()
        if self.position is not None and self.position != self.saved:
            self._store.save(self._runtime.name, self.position)
            self.saved = self.position
        self._pending = 0
        self._started = time.monotonic()
