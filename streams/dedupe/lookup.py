"""The stored copies of a batch's events: one narrow look-up in ``touchpoint_events`` per batch.

The look-up reads only where each stored copy came from and its version, which is all ``resolve``
needs; the whole stored row is read only for the copies a batch replaces (a newer version arrived),
which are few. Reading every column of every matching granule cost the server more than the insert.
"""

from __future__ import annotations

from typing import Any

from schemas.event import TouchpointEvent
from sql.client import ServerDatabase
from streams.dedupe.copies import Copy
from streams.satisfaction.contributions import EVENT_COLUMNS, event_from_row

_COLUMNS = ", ".join(EVENT_COLUMNS)


def _ids_table(event_ids: set[str]) -> list[dict[str, Any]]:
    return [{"name": "batch_ids", "structure": [("event_id", "String")],
             "data": [{"event_id": e} for e in event_ids]}]


def stored_copies(db: ServerDatabase, event_ids: list[str]) -> dict[str, list[Copy[None]]]:
    """Every stored copy of these event_ids (all versions), without its row.

    The ids travel as an external table, so a batch of any size is one query.
    """
    if not event_ids:
        return {}
    rows = db.client.execute(
        # GLOBAL: over a cluster's Distributed table the ids go to every shard (one server: IN)
        "SELECT event_id, version, kafka_partition, kafka_offset, kafka_index FROM touchpoint_events "
        "WHERE event_id GLOBAL IN batch_ids",
        external_tables=_ids_table(set(event_ids)),
    )
    found: dict[str, list[Copy[None]]] = {}
    for event_id, version, partition, offset, index in rows:
        found.setdefault(event_id, []).append(
            Copy(event_id, int(version), int(partition), int(offset), None, int(index)))
    return found


def replaced_events(db: ServerDatabase, copies: list[Copy[Any]]) -> dict[str, TouchpointEvent]:
    """The stored events of these copies (each the counted version of its event_id), by event_id."""
    if not copies:
        return {}
    wanted = {(c.event_id, c.version, c.partition, c.offset, c.place) for c in copies}
    rows = db.client.execute(
        f"SELECT {_COLUMNS} FROM touchpoint_events WHERE event_id GLOBAL IN batch_ids",  # noqa: S608
        external_tables=_ids_table({c.event_id for c in copies}),
    )
    found: dict[str, TouchpointEvent] = {}
    for values in rows:
        row = dict(zip(EVENT_COLUMNS, values, strict=True))
        if (row["event_id"], int(row["version"]), int(row["kafka_partition"]),
                int(row["kafka_offset"]), int(row["kafka_index"])) in wanted:
            found[row["event_id"]] = event_from_row(row)
    missing = {c.event_id for c in copies} - set(found)
    if missing:  # written and committed, so present: its absence means the table lost rows
        raise LookupError(f"{len(missing)} counted events not found in touchpoint_events, "
                          f"e.g. {sorted(missing)[0]}")
    return found
