"""Kafka records -> validated events, or rejects with their dead-letter reason. No other I/O.

A record holds one event, or an envelope of many (a producer's batch for one partition); each event
is an *entry* of the batch, identified by its record and its place in it. Every event is decoded and
validated again in the worker (producers other than ours may write the topic), with the same rules
as the edge. A transient failure (the schema registry unreachable) is not a property of the record:
it is retried, never dead-lettered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from schemas.codec import AvroCodec, RegistryUnavailable, UndecodableMessage
from schemas.event import InvalidEvent, TouchpointEvent, all_valid_decoded, validate_decoded

log = logging.getLogger(__name__)
MAX_RETRY_DELAY_S = 30.0


@dataclass(frozen=True, slots=True)
class Record:
    """What the pipeline needs from one Kafka record of ``cx.touchpoints``."""

    partition: int
    offset: int
    value: bytes | None
    """None for a record without a value (a Kafka tombstone)."""


class Entry(NamedTuple):
    """One event's place in the batch: its record, its index in the record, its bytes on its own.

    ``value`` is what a dead letter of this entry holds: the record as read (a single event, or an
    envelope that cannot be read), or the event alone re-encoded (an invalid event of an envelope).
    """

    partition: int
    offset: int
    place: int
    """Its index in its record (0 for a single event)."""
    value: bytes


@dataclass(frozen=True, slots=True)
class Rejected:
    """An entry for the dead-letter topic, with its reason."""

    position: int
    reason: str
    detail: str


@dataclass
class Intake:
    """A batch after decoding: its entries, valid events by entry position, and rejects."""

    entries: list[Entry] = field(default_factory=list)
    events: dict[int, TouchpointEvent] = field(default_factory=dict)
    rejected: dict[int, Rejected] = field(default_factory=dict)

    def reject(self, positions: frozenset[int], reason: str, detail: str) -> None:
        """Turn accepted records into rejects (the store refused them)."""
        for position in positions:
            if self.events.pop(position, None) is not None:
                self.rejected[position] = Rejected(position, reason, detail)


class Interrupted(Exception):
    """The worker is stopping, or lost its partitions, before the batch was written."""


def decode_batch(records: list[Record], codec: AvroCodec,
                 may_continue: Callable[[], bool]) -> Intake:
    """Decode and validate every record; wait out a registry outage (``Interrupted`` if told to stop)."""
    intake = Intake()
    for record in records:
        _add(record, codec, may_continue, intake)
    return intake


def decode_chunks(records: list[Record], codec: AvroCodec, max_entries: int,
                  may_continue: Callable[[], bool]) -> Iterator[tuple[list[Record], Intake]]:
    """``decode_batch`` cut at record boundaries into chunks of about ``max_entries`` events.

    A chunk ends at the first record that brings it to ``max_entries`` (an envelope is never split),
    so a take of many envelopes is written in bounded pieces, each decoded only when it is next.
    """
    chunk: list[Record] = []
    intake = Intake()
    for record in records:
        chunk.append(record)
        _add(record, codec, may_continue, intake)
        if len(intake.entries) >= max_entries:
            yield chunk, intake
            chunk, intake = [], Intake()
    if chunk:
        yield chunk, intake


def _add(record: Record, codec: AvroCodec, may_continue: Callable[[], bool], intake: Intake) -> None:
    events = _decoded(record, codec, may_continue, intake)
    if len(events) > 1 and all_valid_decoded(events):  # an envelope, valid as a whole: most of them
        start = len(intake.entries)
        intake.events.update(zip(range(start, start + len(events)), events, strict=True))
        intake.entries += [Entry(record.partition, record.offset, index, b"") for index in range(len(events))]
        return
    for index, event in enumerate(events):
        position = len(intake.entries)
        value = (record.value or b"") if len(events) == 1 else b""  # an envelope's event: kept apart
        try:
            intake.events[position] = validate_decoded(event)
        except InvalidEvent as exc:
            intake.rejected[position] = Rejected(position, exc.reason, str(exc))
            value = value or codec.encode(event)
        intake.entries.append(Entry(record.partition, record.offset, index, value))


def _decoded(record: Record, codec: AvroCodec, may_continue: Callable[[], bool],
             intake: Intake) -> list[TouchpointEvent]:
    """The events of one record; an undecodable record becomes one rejected entry."""
    delay = 0.5
    while True:
        try:
            if record.value is None:
                raise UndecodableMessage("a record without a value (a Kafka tombstone)")
            return codec.decode_all(record.value)
        except UndecodableMessage as exc:
            reason, detail = exc.reason, str(exc)
        except RegistryUnavailable as exc:
            log.warning("record %d/%d: %s; retrying in %.1fs", record.partition, record.offset,
                        exc, delay)
            if not may_continue():
                raise Interrupted(str(exc)) from exc
            time.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY_S)
            continue
        except Exception as exc:  # a decoder bug for this record: dead-letter it, never stop
            log.exception("record %d/%d failed to decode", record.partition, record.offset)
            reason, detail = "processing_error", repr(exc)[:500]
        position = len(intake.entries)
        intake.rejected[position] = Rejected(position, reason, detail)
        intake.entries.append(Entry(record.partition, record.offset, 0, record.value or b""))
        return []
