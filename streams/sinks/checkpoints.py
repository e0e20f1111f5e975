"""The minute ledger: minute count deltas and Kafka checkpoints, written together in one part.

This is what makes the worker's figures exact under crashes: a batch's minute counts and the
checkpoints saying which Kafka records they include are one insert into ``minute_counts``, an
unpartitioned table, so ClickHouse commits them whole or not at all. Everything else the batch writes
before it (events, FCR rows, follow-ups) can be written again without changing a figure. A record
below its partition's checkpoint is therefore done, and is skipped when read again (a restart, a
rebalance, a redelivery); a record at or above it is applied exactly once by the next commit.

Checkpoints are keyed by the topic's id, not its name: a topic deleted and created again (the local
broker keeps topics in memory only) starts from offset 0 with a new id, and a fresh checkpoint.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Mapping, Sequence
from typing import Any

from schemas.event import TouchpointEvent
from sql.client import ServerDatabase
from streams.satisfaction.contributions import (
    COUNT_COLUMNS,
    MINUTE_DIMENSIONS,
    Cell,
    event_sums,
)

MINUTE_TABLE = "minute_counts"
LEDGER_COLUMNS = ("minute", *MINUTE_DIMENSIONS, "checkpoint", *COUNT_COLUMNS, "applied_offset")
CHECKPOINT_MINUTE_S = 0
"""Checkpoint rows sit at 1970-01-01 00:00:00, before any storable event time."""
NO_TOPIC_ID = "AAAAAAAAAAAAAAAAAAAAAA"
"""The all-zero id of brokers that do not assign topic ids (Kafka before 2.8)."""
_ZERO_COUNTS = (0,) * len(COUNT_COLUMNS)
_NO_DIMENSIONS = ("",) * len(MINUTE_DIMENSIONS)


class MinuteDeltas:
    """Signed minute count deltas of one batch, per cell (counts, not ratios)."""

    def __init__(self, sums: dict[Cell, tuple[int, ...]] | None = None) -> None:
        """Start from ``sums`` (each cell's counts, e.g. ``minute_sums``: kept, not copied)."""
        self._sums: dict[Cell, tuple[int, ...]] = {} if sums is None else sums

    def add(self, cell: Cell, counts: tuple[int, ...], sign: int = 1) -> None:
        """Add (sign 1) or take out (sign -1) one event's contribution."""
        if sign < 0:
            counts = tuple(-v for v in counts)
        known = self._sums.get(cell)
        # most cells of a batch get one event: its counts are the sum, nothing is added up
        self._sums[cell] = counts if known is None else tuple(map(operator.add, known, counts))

    @property
    def cells(self) -> Mapping[Cell, tuple[int, ...]]:
        """Each cell's summed deltas (COUNT_COLUMNS order)."""
        return self._sums


class Checkpoints:
    """Per partition of one topic: the next offset whose effects are not yet applied."""

    def __init__(self, topic_id: str) -> None:
        self.topic_id = topic_id
        self._prefix = f"{topic_id}/"

    def name(self, partition: int) -> str:
        """The ``checkpoint`` column value of a partition."""
        return f"{self._prefix}{partition}"

    def read(self, db: ServerDatabase) -> dict[int, int]:
        """The committed checkpoints of this topic (a partition never written is absent: 0)."""
        rows = db.execute(
            "SELECT checkpoint, sum(applied_offset) FROM minute_counts "
            "WHERE minute = toDateTime(%(minute)s) AND startsWith(checkpoint, %(prefix)s) "
            "GROUP BY checkpoint",
            {"minute": CHECKPOINT_MINUTE_S, "prefix": self._prefix},
        )
        return {int(name[len(self._prefix):]): int(offset) for name, offset in rows}

    def ledger_rows(self, deltas: MinuteDeltas, current: Mapping[int, int],
                    advanced: Mapping[int, int]) -> list[tuple[Any, ...]]:
        """Rows of the one commit insert: the count deltas, then each checkpoint's advance.

        ``advanced`` maps a partition to its new checkpoint; the row holds the difference, so the
        table's sum is the checkpoint.
        """
        rows = count_rows(deltas)
        for partition, offset in sorted(advanced.items()):
            step = offset - current.get(partition, 0)
            if step:
                rows.append((CHECKPOINT_MINUTE_S, *_NO_DIMENSIONS, self.name(partition),
                             *_ZERO_COUNTS, step))
        return rows


def count_rows(deltas: MinuteDeltas) -> list[tuple[Any, ...]]:
    """``minute_counts`` rows (LEDGER_COLUMNS) of the non-zero deltas."""
    return [(*cell, "", *counts, 0) for cell, counts in deltas.cells.items() if any(counts)]


def minute_rows(events: Sequence[TouchpointEvent]) -> list[tuple[Any, ...]]:
    """The ``minute_counts`` rows of these (distinct) events, as the worker would add them."""
    return count_rows(MinuteDeltas(event_sums(events)))


def topic_id(bootstrap: str, topic: str, timeout: float = 60.0) -> str:
    """The broker's id of ``topic`` (its name where the broker has no topic ids); waits for it to exist."""
    from confluent_kafka import TopicCollection
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = admin.describe_topics(TopicCollection([topic]), request_timeout=10)[topic].result()
            uuid = str(found.topic_id or "")
            return topic if not uuid or uuid == NO_TOPIC_ID else uuid
        except Exception as exc:  # not created yet, broker starting: wait, up to the deadline
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {topic} not found on {bootstrap}: {exc}") from exc
            time.sleep(1.0)
