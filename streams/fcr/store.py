"""What FCR reads from ClickHouse: the stored rows of some keys' contacts since a time."""

from __future__ import annotations

from typing import Any

from sql.client import ServerDatabase
from streams.fcr.processor import FCR_COLUMNS, KEY_SEPARATOR, state_key
from streams.sinks.clickhouse import in_operator
from streams.stored_index import StoredIndex, index_word_sql, load_index

_STORED = tuple(c for c in FCR_COLUMNS if c != "version")
SINCE_SLACK_S = 32 * 86_400
"""How far before ``from_ms`` the FCR read starts: to before the start of ``from_ms``'s month in any
server time zone, so a month partition the read touches is read whole. Rows of earlier months all
occurred before ``from_ms`` and are dropped anyway; within a month partition a condition on
``occurred_at`` could keep an older version of a row whose newest version (moved earlier) it left
out, and a month start is where ``toYYYYMM(occurred_at)`` partitions, in the server's zone."""
_SELECT = ", ".join(f"toUInt32({c}) AS {c}" if c in ("occurred_at", "decides_at") else c for c in _STORED)


def load_key_index(db: ServerDatabase) -> StoredIndex:
    """The index of every stored row of ``fcr_contacts``: its key (``state_key``), with its event day."""
    word = index_word_sql("halfMD5(concat(customer_id, %(separator)s, contact_reason))", "occurred_at")
    return load_index(db, "fcr key index", f"SELECT {word} FROM fcr_contacts",  # noqa: S608
                      {"separator": KEY_SEPARATOR})


def keys_stored_since(index: StoredIndex, keys: list[str], from_ms: int) -> tuple[list[str], list[str]]:
    """(the keys that may have a row at or after ``from_ms``, the keys with no stored row at all).

    Every other key has rows, all older than ``from_ms`` (``StoredIndex``: it holds every stored row).
    """
    second = max(from_ms, 0) // 1000
    held = index.seconds_of(keys)
    return ([key for key, (_first, last) in held.items() if last >= second],
            [key for key in dict.fromkeys(keys) if key not in held])


def stored_contacts(db: ServerDatabase, keys: list[str], from_ms: int, cluster: bool = False
                    ) -> dict[str, list[dict[str, Any]]]:
    """Per key, the latest row (FCR_COLUMNS but version) of every contact event since ``from_ms``.

    ``fcr_contacts`` keeps every version of a row until merges remove old ones: the highest version
    of a row wins, as ``FINAL`` would pick it (within one month partition), but picked here: ``FINAL``
    merged the matching parts on one thread, five times slower, and random keys match every part.
    Rows of events no longer of their key (``removed`` 1) are left out: they are history, not state.
    The keys travel as external tables, matched against the table's sort key; only the sort key is
    filtered before the latest version is picked, as a condition on another column could keep an old
    version of a row whose newest version it would drop. The customers are sent apart as well:
    18.16 uses the primary key for ``customer_id IN <table>`` but not for a tuple ``IN``, which read
    the whole table (``in_operator``: not for ``GLOBAL IN`` either, so that is for a cluster only).

    Months of history wholly before ``from_ms`` are not read (``SINCE_SLACK_S``): without it every
    read went through every month partition's granules of the keys, a cost growing with all history.
    """
    if not keys:
        return {}
    pairs = [key.split(KEY_SEPARATOR, 1) for key in keys]
    in_ = in_operator(cluster)
    rows = db.client.execute(
        f"SELECT {_SELECT}, toYYYYMM(toDateTime(occurred_at)) AS month, version "  # noqa: S608
        f"FROM fcr_contacts WHERE customer_id {in_} fcr_customers "
        f"AND (customer_id, contact_reason) {in_} fcr_keys AND occurred_at >= toDateTime(%(since)s)",
        {"since": max(0, from_ms // 1000 - SINCE_SLACK_S)},
        external_tables=[{"name": "fcr_keys",
                          "structure": [("customer_id", "String"), ("contact_reason", "String")],
                          "data": [{"customer_id": c, "contact_reason": r} for c, r in pairs]},
                         {"name": "fcr_customers", "structure": [("customer_id", "String")],
                          "data": [{"customer_id": c} for c in dict.fromkeys(c for c, _r in pairs)]}],
    )
    latest: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for values in rows:
        row_key = (*values[:3], values[-2])  # the sort key, in its partition
        known = latest.get(row_key)
        if known is None or values[-1] > known[-1]:
            latest[row_key] = values
    found: dict[str, list[dict[str, Any]]] = {}
    for values in latest.values():
        row = dict(zip(_STORED, values[:-2], strict=True))
        if row["occurred_at_ms"] >= from_ms and row["removed"] != 1:
            found.setdefault(state_key(row["customer_id"], row["contact_reason"]), []).append(row)
    return found
