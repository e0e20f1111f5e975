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
        self.rows: dict[str, dict[str, Any]] = {}

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        for row in rows:
            named = dict(zip(FCR_COLUMNS, row, strict=True))
            old = self.rows.get(named["event_id"])
            if old is None or named["version"] >= old["version"]:
                self.rows[named["event_id"]] = named

    def fetch(self, keys: list[str], from_ms: int) -> dict[str, list[tuple[Any, bool, bool]]]:
        found: dict[str, list[tuple[Any, bool, bool]]] = {}
        for r in self.rows.values():
            key = state_key(r["customer_id"], r["contact_reason"])
            if key in keys and r["occurred_at_ms"] >= from_ms:
                contact = (r["occurred_at_ms"], r["event_id"], bool(r["resolved"]), r["channel"],
                           r["touchpoint"], r["journey_stage"], r["partner_id"], r["location_id"],
                           r["region"], r["agent_id"])
                found.setdefault(key, []).append((contact, bool(r["is_first"]), bool(r["failed"])))
        return found


def plan(processor: FcrProcessor, table: FcrTable, batch: list[dict[str, Any]]) -> FcrPlan:
    contacts = [(i, state_key(e["customer_id"], e["contact_reason"]), contact_from_event(e))
                for i, e in enumerate(batch) if is_eligible(e)]
    return processor.plan(contacts, table.fetch)


def worker_batches(batches: list[list[dict[str, Any]]]) -> list[list[tuple[Any, ...]]]:
    """The ``fcr_contacts`` rows one worker writes for these batches of distinct events, in order."""
    processor, table, written = FcrProcessor(), FcrTable(), []
    for batch in batches:
        planned = plan(processor, table, batch)
        table.write(planned.rows)
        processor.commit(planned)
        written.append(planned.rows)
    return written
