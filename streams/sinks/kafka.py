"""What the worker sends to Kafka: dead letters, follow-ups, alerts; each ``Outbox`` from one thread.

The pipeline's thread sends dead letters and follow-ups, the detector's thread alerts, each through
an ``Outbox`` of its own, so a ``flush`` answers for that thread's sends alone.

Every send of a batch is acknowledged (``flush``) before the batch commits, so a crash can only lead
to a send being repeated (at least once; consumers keep one message per key), never lost.
"""

from __future__ import annotations

from confluent_kafka import Producer

from schemas.kafka import DeliveryTracker, dead_letter_headers, produce, producer_config
from schemas.topics import Topics
from streams.intake import Entry
from streams.metrics import DEAD_LETTERED
from streams.sinks.clickhouse import Retriable

WORKER_SOURCE = "worker"


class Outbox:
    """An idempotent producer for the worker's own messages."""

    def __init__(self, bootstrap: str, topics: Topics, producer: Producer | None = None) -> None:
        self.topics = topics
        self._producer = producer or Producer(producer_config(bootstrap))
        self._tracker = DeliveryTracker()

    def dead_letter(self, entry: Entry, reason: str, detail: str) -> None:
        """The entry as it was read, with its reason, and where it came from.

        ``cx.origin`` is topic/partition/offset, and /index for a later event of an envelope.
        """
        headers = dead_letter_headers(reason, detail, WORKER_SOURCE)
        origin = f"{self.topics.touchpoints}/{entry.partition}/{entry.offset}"
        if entry.place:
            origin += f"/{entry.place}"
        headers.append(("cx.origin", origin.encode()))
        produce(self._producer, self.topics.dlq, entry.value, None, headers, self._tracker)
        DEAD_LETTERED.labels(reason).inc()

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        """One message; acknowledged by ``flush``."""
        produce(self._producer, topic, value, key, None, self._tracker)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait for every acknowledgement; ``Retriable`` if Kafka did not acknowledge them all."""
        remaining = self._producer.flush(timeout)
        failed, self._tracker.failed = self._tracker.failed, []
        if remaining or failed:
            raise Retriable(f"kafka: {remaining} message(s) unacknowledged, {len(failed)} failed: "
                            + "; ".join(failed[:3]))
