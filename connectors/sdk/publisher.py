"""Validated events -> ``cx.touchpoints``; anything invalid -> ``cx.dlq`` with its reason."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import orjson
from confluent_kafka import Producer

from connectors.sdk.kafka import DeliveryTracker, dead_letter_headers, produce, producer_config
from connectors.sdk.metrics import EVENTS_DEAD_LETTERED, EVENTS_PUBLISHED
from schemas.codec import AvroCodec
from schemas.event import InvalidEvent, TouchpointEvent, validate_event
from schemas.topics import Topics


def partition_key(event: TouchpointEvent) -> bytes:
    """Key by the state the worker needs: (customer_id, contact_reason) when both are set, else id.

    Every copy of an event gets the same key, so duplicates always meet in one partition.
    """
    customer, reason = event.get("customer_id"), event.get("contact_reason")
    if customer and reason:
        return f"{customer}\x1f{reason}".encode()
    return str(event["event_id"]).encode()


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


class DeliveryFailed(RuntimeError):
    """Kafka did not acknowledge some records; nothing is reported as accepted that was not."""


class EventPublisher:
    """The runtime every connector publishes through: validate, encode, produce, dead-letter."""

    def __init__(self, bootstrap: str, topics: Topics, codec: AvroCodec, source: str) -> None:
        self._producer = Producer(producer_config(bootstrap))
        self._topics = topics
        self._codec = codec
        self._source = source
        self._tracker = DeliveryTracker()
        self.summary = PublishSummary()

    def publish_json(self, raw: bytes, received_at: int | None = None) -> bool:
        """One JSON-encoded record; returns whether it was accepted (else dead-lettered)."""
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self.dead_letter(raw, "invalid_json", str(exc))
            return False
        return self.publish_object(obj, raw, received_at)

    def publish_object(self, obj: object, raw: bytes, received_at: int | None = None) -> bool:
        """One record already parsed from JSON; ``raw`` is kept for the dead-letter topic."""
        if isinstance(obj, dict) and obj.get("source") is None:
            obj = {**obj, "source": self._source}
        try:
            event = validate_event(
                obj, default_received_at=received_at or int(time.time() * 1000)
            )
        except InvalidEvent as exc:
            self.dead_letter(raw, exc.reason, exc.detail)
            return False
        produce(self._producer, self._topics.touchpoints, self._codec.encode(event),
                partition_key(event), None, self._tracker)
        self.summary.accepted += 1
        EVENTS_PUBLISHED.labels(self._source).inc()
        return True

    def dead_letter(self, raw: bytes, reason: str, detail: str) -> None:
        """Send a rejected record, untouched, to the dead-letter topic with its reason."""
        produce(self._producer, self._topics.dlq, raw, None,
                dead_letter_headers(reason, detail, self._source), self._tracker)
        self.summary.rejected += 1
        self.summary.rejected_by_reason[reason] = self.summary.rejected_by_reason.get(reason, 0) + 1
        EVENTS_DEAD_LETTERED.labels(self._source, reason).inc()

    def flush(self, timeout: float = 120.0) -> PublishSummary:
        """Wait until Kafka acknowledged everything; raise if any record was not delivered."""
        remaining = self._producer.flush(timeout)
        if remaining or self._tracker.failed:
            raise DeliveryFailed(
                f"{remaining} record(s) still queued, {len(self._tracker.failed)} failed: "
                + "; ".join(self._tracker.failed[:3])
            )
        return self.summary
