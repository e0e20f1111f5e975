"""Pure batch preparation: Kafka records -> validated, in-batch-deduplicated ``touchpoint_events`` rows.

No I/O here: the agent does Kafka and ClickHouse, this decides what each record becomes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from schemas.codec import AvroCodec, UndecodableMessage
from schemas.event import InvalidEvent, TouchpointEvent, validate_event
from streams.dedupe.batch import first_copies
from streams.satisfaction.contributions import event_row
from streams.sinks.clickhouse import Row

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    """What the agent needs from one Kafka record."""

    partition: int
    offset: int
    value: bytes
    carrier: Any = None
    """The framework's own record (the Faust event), for code that needs its context."""


@dataclass(frozen=True)
class Rejected:
    """A record for the dead-letter topic, with its reason."""

    record: Record
    reason: str
    detail: str


@dataclass
class PreparedBatch:
    """Rows to store (distinct event_ids, first copy wins), rejects, and duplicates dropped."""

    rows: list[Row] = field(default_factory=list)
    events: list[TouchpointEvent] = field(default_factory=list)
    """The validated events behind ``rows``, in the same order."""
    sources: list[Record] = field(default_factory=list)
    """The record each of ``events`` came from."""
    rejected: list[Rejected] = field(default_factory=list)
    duplicates: int = 0


def prepare_batch(records: list[Record], codec: AvroCodec) -> PreparedBatch:
    """Decode and re-validate every record (producers other than ours may write the topic)."""
    batch = PreparedBatch()
    pairs: list[tuple[TouchpointEvent, Row, Record]] = []
    for record in records:
        try:
            event = validate_event(codec.decode(record.value))
        except (UndecodableMessage, InvalidEvent) as exc:
            batch.rejected.append(Rejected(record, exc.reason, str(exc)))
            continue
        except Exception as exc:  # e.g. registry unreachable: dead-letter (replayable), never ack silently
            log.exception("record %s/%s failed to decode", record.partition, record.offset)
            batch.rejected.append(Rejected(record, "processing_error", repr(exc)))
            continue
        pairs.append((event, event_row(event, record.partition, record.offset), record))
    kept, batch.duplicates = first_copies(pairs, lambda pair: str(pair[1][0]))
    batch.events = [event for event, _, _ in kept]
    batch.rows = [row for _, row, _ in kept]
    batch.sources = [record for _, _, record in kept]
    return batch
