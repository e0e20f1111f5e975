"""FCR rows as the worker writes them, without a server: ``fcr_contacts FINAL`` kept in a dict.

For tests of the planning logic (every arrival order, cache sizes, restarts) and for tests that need
realistic ``fcr_contacts`` rows in a database of their own; the worker's real read of the table is
tested end to end on the stack.
"""

from __future__ import annotations

from typing import Any

from streams.fcr.outcomes import contact_from_event, is_eligible
from streams.fcr.processor import FCR_COLUMNS, FcrPlan, FcrProcessor, state_key


class FcrTable:
    """What ``fcr_contacts FINAL`` answers: per contact, the row of the highest version."""

    def __init__(self) -> None:
        self.latest: dict[tuple[str, str, str], dict[str, Any]] = {}
        """By the table's sort key (customer_id, contact_reason, event_id)."""

    @property
    def rows(self) -> dict[str, dict[str, Any]]:
        """Per event id, its rows' latest (a contact event has one key at a time)."""
        return {r["event_id"]: r for r in sorted(self.latest.values(), key=lambda r: r["removed"] != 1)}

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        for row in rows:
            named = dict(zip(FCR_COLUMNS, row, strict=True))
            key = (named["customer_id"], named["contact_reason"], named["event_id"])
            old = self.latest.get(key)
            if old is None or named["version"] >= old["version"]:
                self.latest[key] = named

    def fetch(self, keys: list[str], from_ms: int) -> dict[str, list[dict[str, Any]] | None]:
        """As the worker's fetch answers: ``None`` for a key with no row at all."""
        rows: dict[str, list[dict[str, Any]]] = {}
        stored: set[str] = set()
        for r in self.latest.values():
            key = state_key(r["customer_id"], r["contact_reason"])
            stored.add(key)
            if key in keys and r["occurred_at_ms"] >= from_ms and r["removed"] != 1:
                rows.setdefault(key, []).append({k: v for k, v in r.items() if k != "version"})
        return {**{key: None for key in keys if key not in stored}, **rows}

    def counted(self) -> dict[str, dict[str, Any]]:
        """The rows that count (``removed`` 0): one per contact, on its first leg."""
        return {r["event_id"]: r for r in self.latest.values() if r["removed"] == 0}


def plan(processor: FcrProcessor, table: FcrTable, batch: list[dict[str, Any]]) -> FcrPlan:
    contacts = [(i, state_key(e["customer_id"], e["contact_reason"]), contact_from_event(e))
                for i, e in enumerate(batch) if is_eligible(e)]
    return processor.plan(contacts, [], table.fetch)


def worker_batches(batches: list[list[dict[str, Any]]]) -> list[list[tuple[Any, ...]]]:
    """The ``fcr_contacts`` rows one worker writes for these batches of distinct events, in order."""
    processor, table, written = FcrProcessor(), FcrTable(), []
    for batch in batches:
        planned = plan(processor, table, batch)
        table.write(planned.rows)
        processor.commit(planned)
        written.append(planned.rows)
    return written
