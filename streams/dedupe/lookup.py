"""The stored copies of a batch's events: asked of ClickHouse only for the ids the worker's index holds.

A new event (most of a batch) is known new from the worker's ``StoredIndex`` of ``touchpoint_events``
alone. For the ids it holds (a re-delivery, a newer version), one narrow look-up reads where each
stored copy came from and its version, which is all ``resolve`` needs; it is restricted to the stored
copies' span of event times, so ClickHouse reads only those days' partitions. The whole stored row is read
only for the copies a batch replaces or undoes, which are few.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from schemas.event import TouchpointEvent
from sql.client import ServerDatabase
from streams.dedupe.copies import Copy
from streams.satisfaction.contributions import EVENT_COLUMNS, event_from_row
from streams.sinks.clickhouse import in_operator
from streams.stored_index import StoredIndex, Words, index_word_sql, load_index

_COLUMNS = ", ".join(EVENT_COLUMNS)
_COPY = "event_id, version, kafka_partition, kafka_offset, kafka_index, toUInt32(occurred_at)"
# The event-time range prunes the table's week partitions (a re-delivery is recent); an IN set of the
# times pruned no better and cost more to test.
_WHERE = ("WHERE occurred_at BETWEEN toDateTime(%(first)s) AND toDateTime(%(last)s) "
          "AND event_id {in_} batch_ids")


def load_event_index(db: ServerDatabase) -> StoredIndex:
    """The index of every stored row of ``touchpoint_events``: its event_id, with its event day."""
    word = index_word_sql("halfMD5(event_id)", "occurred_at")
    return load_index(db, "event index", f"SELECT {word} FROM touchpoint_events")  # noqa: S608


def _ids(event_ids: Iterable[str]) -> list[dict[str, Any]]:
    return [{"name": "batch_ids", "structure": [("event_id", "String")],
             "data": [{"event_id": e} for e in set(event_ids)]}]


def _span(spans: Iterable[tuple[int, int]]) -> dict[str, int]:
    firsts, lasts = zip(*spans, strict=True)
    return {"first": min(firsts), "last": max(lasts)}


def stored_copies(db: ServerDatabase, index: StoredIndex, event_ids: list[str], cluster: bool = False,
                  hashes: Words | None = None) -> dict[str, list[Copy[int]]]:
    """Every stored copy of these event_ids (all versions), its payload its event second.

    ``index`` holds every stored row (``StoredIndex``): ids it does not hold have no stored copy.
    ``hashes``: ``key_hashes(event_ids)``, when the caller has them already.
    """
    known = index.seconds_of(event_ids, hashes)
    if not known:
        return {}
    rows = db.client.execute(
        f"SELECT {_COPY} FROM touchpoint_events {_WHERE.format(in_=in_operator(cluster))}",  # noqa: S608
        _span(known.values()), external_tables=_ids(known))
    found: dict[str, list[Copy[int]]] = {}
    for event_id, version, partition, offset, place, second in rows:
        found.setdefault(event_id, []).append(
            Copy(event_id, int(version), int(partition), int(offset), int(second), int(place)))
    return found


CopyPlace = tuple[str, int, int, int, int]
"""(event_id, version, partition, offset, place): one stored copy."""


def place_of(copy: Copy[Any]) -> CopyPlace:
    """Where a stored copy came from: what tells it apart from the event's other stored copies."""
    return copy.event_id, copy.version, copy.partition, copy.offset, copy.place


def stored_events(db: ServerDatabase, copies: list[Copy[int]], cluster: bool = False
                  ) -> dict[CopyPlace, TouchpointEvent]:
    """The stored events of these copies (``stored_copies``' payloads: event seconds), by ``place_of``."""
    if not copies:
        return {}
    wanted = {place_of(c) for c in copies}
    rows = db.client.execute(
        f"SELECT {_COLUMNS} FROM touchpoint_events {_WHERE.format(in_=in_operator(cluster))}",  # noqa: S608
        _span((c.payload, c.payload) for c in copies), external_tables=_ids(c.event_id for c in copies))
    found: dict[CopyPlace, TouchpointEvent] = {}
    for values in rows:
        row = dict(zip(EVENT_COLUMNS, values, strict=True))
        place = (row["event_id"], int(row["version"]), int(row["kafka_partition"]),
                 int(row["kafka_offset"]), int(row["kafka_index"]))
        if place in wanted:
            found[place] = event_from_row(row)
    missing = wanted - set(found)
    if missing:  # written, and found by the look-up a moment ago: its absence means rows were lost
        raise LookupError(f"{len(missing)} stored events not found in touchpoint_events, "
                          f"e.g. {sorted(missing)[0][0]}")
    return found
