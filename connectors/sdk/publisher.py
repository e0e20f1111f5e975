"""Validated events -> ``cx.touchpoints``; anything invalid -> ``cx.dlq`` with its reason.

The publisher is the last stop before Kafka for every source (connector runtimes, ``cxpulse publish``,
the simulator), and the one place privacy and validation happen: it enforces them itself rather than
trusting callers, and callers do not repeat them.

- every event it accepts is protected (``privacy.protect_event``: customer id pseudonymised unless it
  already is a pseudonym, comment and attribute values redacted) before validation and encoding;
- every dead letter keeps the raw payload *with PII removed* (``privacy.redact_dead_letter``: emails,
  phones and cards redacted, customer-id values pseudonymised with the same key) and carries
  ``cx.redacted: 1``. The raw bytes as received are never written to Kafka.

``publish_object`` does it all for one record. The connector runtime, which reports the exact
reason of every rejection, calls its two halves: ``prepare`` (protect + validate, or ``InvalidEvent``
with the reason) and ``publish_event`` (encode + produce).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Producer

from connectors.sdk.metrics import EVENTS_DEAD_LETTERED, EVENTS_PUBLISHED
from connectors.sdk.privacy import (
    PrivacyKey,
    PrivacyKeyLike,
    is_pseudonym,
    protect_event,
    redact_dead_letter,
    redact_event,
)
from schemas.codec import AvroCodec
from schemas.event import InvalidEvent, TouchpointEvent, validate_event
from schemas.kafka import DeliveryTracker, dead_letter_headers, partition_for, produce, producer_config
from schemas.topics import Topics


def partition_key(event: TouchpointEvent) -> bytes:
    """Key by customer when there is one, else by event id.

    Every copy and every version of an event gets the same key (a contact reason set by a later
    version does not move it), so the worker owning the partition decides alone which copy counts;
    and every contact of one (customer, reason) arrives on one partition, where its FCR is decided.
    """
    customer = event.get("customer_id")
    return str(customer or event["event_id"]).encode()


@dataclass
class PublishSummary:
    """What happened to every record handed to the publisher."""

    accepted: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        """The one-line summary users see."""
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.rejected_by_reason.items()))
        return f"accepted {self.accepted}, rejected {self.rejected}" + (
            f" ({reasons})" if reasons else ""
        )


UNPROTECTED_CUSTOMER_ID = "unprotected_customer_id"
"""Dead-letter reason: a raw customer id reached a publisher that has no key to pseudonymise it."""


class DeliveryFailed(RuntimeError):
    """Kafka did not acknowledge some records; nothing is reported as accepted that was not."""


class BasePublisher(ABC):
    """Everything a publisher does before Kafka: protect, validate, encode, dead-letter with PII removed.

    ``privacy_key`` pseudonymises customer ids (in events and in dead letters); pass the one key of
    the deployment (``cxpulse.cli.privacy_key``). Without one, events are still redacted, but an
    event carrying a customer id that is not already a pseudonym is refused as
    ``unprotected_customer_id`` instead of published — only sources without customer ids (kiosk
    presses) should run keyless. ``raw_id_fields`` names extra fields of the source's raw records that
    hold customer ids (``Connector.raw_id_fields()``), pseudonymised in dead letters.

    Subclasses say where records go (``_send``) and how their acknowledgements are awaited
    (``flush``): ``EventPublisher`` (its own producer), the ingest service's ``RequestPublisher``
    (a shared producer), the contract kit's ``FakePublisher`` (a list).
    """

    def __init__(self, topics: Topics, codec: AvroCodec, source: str, *,
                 privacy_key: PrivacyKeyLike | PrivacyKey | None = None,
                 raw_id_fields: Iterable[str] = ()) -> None:
        self._topics = topics
        self._codec = codec
        self._source = source
        self._key = privacy_key if privacy_key is None or isinstance(privacy_key, PrivacyKey) \
            else PrivacyKey(privacy_key)
        self._raw_id_fields = frozenset(raw_id_fields)
        self.summary = PublishSummary()
        self._published = EVENTS_PUBLISHED.labels(source)  # looked up once: it is per event

    def publish_json(self, raw: bytes, received_at: int | None = None) -> bool:
        """One JSON-encoded record; returns whether it was accepted (else dead-lettered)."""
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self.dead_letter(raw, "invalid_json", str(exc))
            return False
        return self.publish_object(obj, raw, received_at)

    def publish_object(self, obj: object, raw: bytes, received_at: int | None = None) -> bool:
        """One record already parsed from JSON: ``prepare`` then ``publish_event``, or dead-letter it.

        Returns whether it was accepted; a refused record is dead-lettered with the reason
        ``prepare`` gave, ``raw`` (redacted) as its value. What is produced is the protected event,
        never ``obj`` as given.
        """
        try:
            event = self.prepare(obj, received_at)
        except InvalidEvent as exc:
            self.dead_letter(raw, exc.reason, exc.detail)
            return False
        self.publish_event(event)
        return True

    def prepare(self, obj: object, received_at: int | None = None) -> TouchpointEvent:
        """One event (JSON form) as it would be produced: protected, then validated; nothing is sent.

        A missing ``source`` becomes the publisher's, a missing ``received_at`` the argument (epoch
        ms, UTC) or else now. Protection is ``privacy.protect_event`` (customer id pseudonymised,
        comment and attribute values redacted, NFC). Raises ``InvalidEvent`` with the exact
        dead-letter reason: the validation's, or ``unprotected_customer_id`` when the publisher has no
        key and the event holds a customer id that is not a pseudonym (checked first). ``obj`` is
        not modified.
        """
        if isinstance(obj, dict):
            obj = self._protect(obj)
            if obj.get("source") is None:  # the protected copy is ours to complete
                obj["source"] = self._source
        return validate_event(obj, default_received_at=received_at or int(time.time() * 1000))

    def publish_event(self, event: TouchpointEvent) -> None:
        """Produce one event returned by ``prepare`` (subclasses may answer duplicates instead).

        Keyed by ``partition_key``; acknowledged by ``flush``.
        """
        self._send(self._topics.touchpoints, self._codec.encode(event), partition_key(event), None)
        self.summary.accepted += 1
        self._published.inc()

    def _protect(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A protected copy of ``obj``; ``InvalidEvent`` if it holds a raw customer id and there is no key."""
        if self._key is not None:
            return protect_event(obj, self._key)
        safe = redact_event(obj)
        customer = safe.get("customer_id")
        if isinstance(customer, str) and customer.strip() and not is_pseudonym(customer):
            raise InvalidEvent(UNPROTECTED_CUSTOMER_ID,
                               "customer_id is not pseudonymised and the publisher has no privacy key")
        return safe

    def dead_letter(self, raw: bytes, reason: str, detail: str) -> None:
        """Send a rejected record to the dead-letter topic with its reason, PII removed.

        The value is ``raw`` through ``privacy.redact_dead_letter`` (the detail too), with header
        ``cx.redacted: 1``.
        """
        safe_raw, safe_detail = redact_dead_letter(raw, detail, self._key, self._raw_id_fields)
        self._send(self._topics.dlq, safe_raw, None,
                   dead_letter_headers(reason, safe_detail, self._source, redacted=True))
        self.summary.rejected += 1
        self.summary.rejected_by_reason[reason] = self.summary.rejected_by_reason.get(reason, 0) + 1
        EVENTS_DEAD_LETTERED.labels(self._source, reason).inc()

    @abstractmethod
    def _send(self, topic: str, value: bytes, key: bytes | None,
              headers: list[tuple[str, bytes]] | None) -> None:
        """Hand one record to Kafka; its acknowledgement is awaited by ``flush``."""

    @abstractmethod
    def flush(self, timeout: float = 120.0) -> PublishSummary:
        """Wait until Kafka acknowledged everything sent; raise ``DeliveryFailed`` otherwise."""


class EventPublisher(BasePublisher):
    """``BasePublisher`` over a producer of its own for ``bootstrap`` (or ``producer``, if given).

    With ``batch_events`` > 1 (and no schema registry), events are sent in envelopes: up to that
    many events of one partition in one Kafka record, each envelope in the partition its events'
    key would pick (``schemas.kafka.partition_for``), so the worker sees them exactly where single
    records would be. The worker pays its per-record cost once per envelope. Envelopes leave when
    full and at every ``flush``.
    """

    def __init__(self, bootstrap: str, topics: Topics, codec: AvroCodec, source: str, *,
                 privacy_key: PrivacyKeyLike | PrivacyKey | None = None,
                 raw_id_fields: Iterable[str] = (), producer: Producer | None = None,
                 batch_events: int = 0) -> None:
        super().__init__(topics, codec, source, privacy_key=privacy_key, raw_id_fields=raw_id_fields)
        self._producer = producer or Producer(producer_config(bootstrap))
        self._tracker = DeliveryTracker()
        self._batch_events = batch_events if codec.sends_envelopes else 0
        self._partitions = 0
        self._envelopes: dict[int, list[TouchpointEvent]] = {}

    def publish_event(self, event: TouchpointEvent) -> None:
        """Produce one event returned by ``prepare``: in its partition's envelope when batching."""
        if self._batch_events <= 1 or not self._partition_count():
            super().publish_event(event)
            return
        partition = partition_for(partition_key(event), self._partitions)
        envelope = self._envelopes.setdefault(partition, [])
        envelope.append(event)
        self.summary.accepted += 1
        self._published.inc()
        if len(envelope) >= self._batch_events:
            self._send_envelope(partition)

    def _partition_count(self) -> int:
        if not self._partitions:
            topic = self._topics.touchpoints
            found = self._producer.list_topics(topic, timeout=10).topics.get(topic)
            if found is not None and found.error is None and found.partitions:
                self._partitions = len(found.partitions)
        return self._partitions

    def _send_envelope(self, partition: int) -> None:
        events = self._envelopes.pop(partition, [])
        if events:
            produce(self._producer, self._topics.touchpoints, self._codec.encode_batch(events), None,
                    None, self._tracker, partition=partition)

    def _send(self, topic: str, value: bytes, key: bytes | None,
              headers: list[tuple[str, bytes]] | None) -> None:
        """Hand one record to the producer; its acknowledgement is awaited by ``flush``."""
        produce(self._producer, topic, value, key, headers, self._tracker)

    def flush(self, timeout: float = 120.0) -> PublishSummary:
        """Send the open envelopes, wait until Kafka acknowledged everything; raise if any was not."""
        for partition in list(self._envelopes):
            self._send_envelope(partition)
        remaining = self._producer.flush(timeout)
        if remaining or self._tracker.failed:
            raise DeliveryFailed(
                f"{remaining} record(s) still queued, {len(self._tracker.failed)} failed: "
                + "; ".join(self._tracker.failed[:3])
            )
        return self.summary
