"""Kafka delivery for the ingest service: one shared producer, acknowledgements awaited per request.

The service answers 2xx only after Kafka acknowledged every record of the request (its events and its
dead letters). ``RequestPublisher`` is the SDK's ``BasePublisher`` (privacy, validation, redacted dead
letters) over the shared producer, for one request: it records a per-item outcome, and its ``flush`` waits
for this request's deliveries only — other requests in flight are not waited for.

Duplicates: an event id already acknowledged recently (``RecentIds``, bounded, in memory) is answered
``duplicate`` and not produced again. The worker deduplicates exactly anyway; this only spares Kafka
and tells the client its retry was not needed.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka import Producer

from connectors.sdk.privacy import PrivacyKey, redact
from connectors.sdk.publisher import BasePublisher, DeliveryFailed, PublishSummary
from schemas.codec import AvroCodec
from schemas.event import TouchpointEvent
from schemas.kafka import produce, producer_config
from schemas.topics import Topics

Status = Literal["accepted", "duplicate", "rejected"]


@dataclass
class ItemOutcome:
    """What happened to one posted item."""

    index: int
    status: Status = "accepted"
    event_id: str | None = None
    reason: str | None = None
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The item's entry in the response body (no empty fields)."""
        out: dict[str, Any] = {"index": self.index, "status": self.status}
        for name in ("event_id", "reason", "detail"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


class RecentIds:
    """The last ``capacity`` acknowledged event ids (LRU), shared by all requests; thread-safe.

    Ids are kept as 16-byte digests, so memory stays near 100 MB at the default capacity whatever
    the ids' length (up to 256 characters each).
    """

    def __init__(self, capacity: int = 1_000_000) -> None:
        self._ids: OrderedDict[bytes, None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    @staticmethod
    def _digest(event_id: str) -> bytes:
        return hashlib.blake2b(event_id.encode(), digest_size=16).digest()

    def __contains__(self, event_id: object) -> bool:
        if not isinstance(event_id, str):
            return False
        digest = self._digest(event_id)
        with self._lock:
            return digest in self._ids

    def add_all(self, event_ids: Iterable[str]) -> None:
        """Remember ids Kafka acknowledged, evicting the oldest beyond capacity."""
        digests = [self._digest(e) for e in event_ids]
        with self._lock:
            for digest in digests:
                self._ids[digest] = None
                self._ids.move_to_end(digest)
            while len(self._ids) > self._capacity:
                self._ids.popitem(last=False)


class SharedProducer:
    """The service's idempotent producer, polled by a daemon thread so callbacks run promptly."""

    def __init__(self, bootstrap: str) -> None:
        self.producer = Producer({**producer_config(bootstrap), "linger.ms": 5})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="kafka-poll", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.05)

    def produce(self, topic: str, value: bytes, key: bytes | None,
                headers: list[tuple[str, bytes]] | None, on_delivery: Any,
                deadline: float | None = None) -> None:
        """Produce, waiting for local queue space until ``deadline`` (``time.monotonic()``).

        Raises ``DeliveryFailed`` if the queue is still full then (Kafka is not keeping up).
        """
        try:
            produce(self.producer, topic, value, key, headers, on_delivery, deadline)
        except BufferError:
            raise DeliveryFailed("the producer's queue stayed full") from None

    def close(self, timeout: float = 30.0) -> int:
        """Stop polling and flush; returns the records still undelivered."""
        self._stop.set()
        self._thread.join()
        return int(self.producer.flush(timeout))


class _Acks:
    """Outstanding deliveries of one request."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.pending = 0
        self.failed: list[str] = []

    def expect(self) -> None:
        with self._cond:
            self.pending += 1

    def forget_one(self) -> None:
        """A record that was expected but never handed to the producer."""
        with self._cond:
            self.pending -= 1
            self._cond.notify_all()

    def __call__(self, err: Any, _msg: Any) -> None:
        with self._cond:
            self.pending -= 1
            if err is not None:
                self.failed.append(str(err))
            self._cond.notify_all()

    def wait(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.pending == 0, timeout)


class RequestPublisher(BasePublisher):
    """The SDK publisher for one request over the shared producer; ``begin(i)`` before each item.

    Privacy, validation and dead-letter redaction are the SDK publisher's own; this adds the per-item
    outcome, the duplicate answer and a ``flush`` that waits for this request's records only.
    """

    def __init__(self, shared: SharedProducer, topics: Topics, codec: AvroCodec, source: str,
                 recent: RecentIds, *, privacy_key: PrivacyKey,
                 raw_id_fields: Iterable[str] = (), deadline: float | None = None) -> None:
        super().__init__(topics, codec, source, privacy_key=privacy_key, raw_id_fields=raw_id_fields)
        self._shared, self._recent, self._deadline = shared, recent, deadline
        self._acks = _Acks()
        # insertion-ordered set: O(1) lookups for the in-request duplicate check
        self._accepted_ids: dict[str, None] = {}
        self.outcomes: list[ItemOutcome] = []

    def begin(self, index: int) -> None:
        """The next calls concern posted item ``index``."""
        self.outcomes.append(ItemOutcome(index))

    def publish_event(self, event: TouchpointEvent) -> None:
        """Produce the item's event, unless it is a duplicate: then only the outcome says so.

        A duplicate's id was acknowledged recently (``RecentIds``) or posted earlier in this request.
        """
        outcome = self.outcomes[-1]
        outcome.event_id = event["event_id"]
        if event["event_id"] in self._recent or event["event_id"] in self._accepted_ids:
            outcome.status = "duplicate"
            return
        super().publish_event(event)
        self._accepted_ids[event["event_id"]] = None

    def _send(self, topic: str, value: bytes, key: bytes | None,
              headers: list[tuple[str, bytes]] | None) -> None:
        self._acks.expect()
        try:
            self._shared.produce(topic, value, key, headers, self._acks, self._deadline)
        except DeliveryFailed:
            self._acks.forget_one()
            raise

    def dead_letter(self, raw: bytes, reason: str, detail: str) -> None:
        """The item goes to the dead-letter topic (PII removed); its outcome is ``rejected``."""
        outcome = self.outcomes[-1]
        outcome.status, outcome.reason = "rejected", reason
        outcome.detail = redact(detail[:500])
        super().dead_letter(raw, reason, detail)

    def flush(self, timeout: float = 30.0) -> PublishSummary:
        """Wait for this request's acknowledgements; raise ``DeliveryFailed`` unless all arrived."""
        if not self._acks.wait(timeout) or self._acks.failed:
            raise DeliveryFailed(f"{self._acks.pending} record(s) unacknowledged, "
                                 f"{len(self._acks.failed)} failed: {self._acks.failed[:3]}")
        self._recent.add_all(list(self._accepted_ids))
        return self.summary
