"""Kafka records -> validated events, or rejects with their dead-letter reason. No other I/O.

Every record is decoded and validated again in the worker (producers other than ours may write the
topic), with the same rules as the edge. A transient failure (the schema registry unreachable) is not
a property of the record: it is retried, never dead-lettered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from schemas.codec import AvroCodec, RegistryUnavailable, UndecodableMessage
from schemas.event import InvalidEvent, TouchpointEvent, validate_decoded

log = logging.getLogger(__name__)
MAX_RETRY_DELAY_S = 30.0


@dataclass(frozen=True, slots=True)
class Record:
    """What the pipeline needs from one Kafka record of ``cx.touchpoints``."""

    partition: int
    offset: int
    value: bytes


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record for the dead-letter topic, with its reason."""

    position: int
    reason: str
    detail: str


@dataclass
class Intake:
    """A batch after decoding: valid events by batch position, and rejects."""

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
    for position, record in enumerate(records):
        delay = 0.5
        while True:
            try:
                intake.events[position] = validate_decoded(codec.decode(record.value))
            except (UndecodableMessage, InvalidEvent) as exc:
                reason = exc.reason
                intake.rejected[position] = Rejected(position, reason, str(exc))
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
                intake.rejected[position] = Rejected(position, "processing_error", repr(exc)[:500])
            break
    return intake
