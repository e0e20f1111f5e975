"""The stored copies of a batch's events: one look-up in ``touchpoint_events`` per batch."""

from __future__ import annotations

from typing import Any

from sql.client import ServerDatabase
from streams.dedupe.copies import Copy
from streams.satisfaction.contributions import EVENT_COLUMNS

_COLUMNS = ", ".join(EVENT_COLUMNS)


def stored_copies(db: ServerDatabase, event_ids: list[str]) -> dict[str, list[Copy[dict[str, Any]]]]:
    """Every stored row of these event_ids (all versions and copies), as ``Copy`` of the row.

    The ids travel as an external table, so a batch of any size is one query.
    """
    if not event_ids:
        return {}
    rows = db.client.execute(
        # GLOBAL: over a cluster's Distributed table the ids go to every shard (one server: IN)
        f"SELECT {_COLUMNS} FROM touchpoint_events WHERE event_id GLOBAL IN batch_ids",  # noqa: S608
        external_tables=[{"name": "batch_ids", "structure": [("event_id", "String")],
                          "data": [{"event_id": e} for e in set(event_ids)]}],
    )
    found: dict[str, list[Copy[dict[str, Any]]]] = {}
    for values in rows:
        row = dict(zip(EVENT_COLUMNS, values, strict=True))
        found.setdefault(row["event_id"], []).append(
            Copy(row["event_id"], int(row["version"]), int(row["kafka_partition"]),
                 int(row["kafka_offset"]), row, int(row["kafka_index"])))
    return found
