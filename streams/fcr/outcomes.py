"""First-contact resolution (METRICS.md), as pure functions of the contacts of one (customer, reason).

The outcome of every contact is a function of the *set* of contacts of its key, never of the order they
arrived in: the agent keeps the set, and recomputes the outcomes of a key whenever the set changes.

- Contacts are ordered by (occurred_at, event_id).
- First contact: no earlier contact at or after ``occurred_at - R``. Otherwise a repeat contact.
- A first contact fails if it was not resolved, or if a later contact is at or before
  ``occurred_at + R``. Otherwise it is *open*: pending until the clock passes ``occurred_at + R``, then
  a success. The clock comparison is made when figures are read (``decides_at``), so a success needs no
  timer, and a late repeat still turns it into a failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DAY_MS = 86_400_000
DEFAULT_REPEAT_WINDOW_MS = 7 * DAY_MS
MAX_LATENESS_MS = 7 * DAY_MS
ARRIVAL_SKEW_MS = DAY_MS
"""Margin for records processed out of received_at order (partitions consumed at different paces,
connector clocks): state is kept this much longer than the accepted lateness strictly needs."""

Contact = tuple[int, str, bool, str, str, str, str, str, str, str]
"""(occurred_at ms, event_id, resolved, channel, touchpoint, journey_stage, partner_id, location_id,
region, agent_id): what FCR needs of one contact. A plain tuple: it sorts in contact order and is
small in the state store."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The role and outcome of one contact."""

    contact: Contact
    is_first: bool
    failed: bool
    """Only for first contacts: unresolved, or a repeat within R."""
    decides_at: int
    """occurred_at + R: an open (not failed) first contact succeeds once the clock passes this."""


def contact_from_event(event: dict[str, Any]) -> Contact:
    """The FCR view of an eligible contact event (kind contact, customer_id and contact_reason set)."""
    return (
        int(event["occurred_at"]), str(event["event_id"]), bool(event.get("resolved")),
        event["channel"], event["touchpoint"], event["journey_stage"], event.get("partner_id", ""),
        event.get("location_id", ""), event.get("region", ""), event.get("agent_id", ""),
    )


def is_eligible(event: dict[str, Any]) -> bool:
    """A contact with both customer_id and contact_reason; others count as fcr_ineligible."""
    return event["kind"] == "contact" and bool(event.get("customer_id")) and bool(
        event.get("contact_reason")
    )


def merge(contacts: list[Contact], new: list[Contact]) -> tuple[list[Contact], bool]:
    """Add contacts not yet known by event_id (the first copy stays): the sorted set, and if it changed."""
    known = {c[1] for c in contacts}
    added = False
    merged = list(contacts)
    for contact in new:
        if contact[1] not in known:
            known.add(contact[1])
            merged.append(contact)
            added = True
    if added:
        merged.sort()
    return merged, added


def outcomes(contacts: list[Contact], repeat_window_ms: int = DEFAULT_REPEAT_WINDOW_MS) -> list[Outcome]:
    """Outcome of every contact of one key; ``contacts`` sorted by (occurred_at, event_id)."""
    result = []
    for i, contact in enumerate(contacts):
        at = contact[0]
        is_first = i == 0 or contacts[i - 1][0] < at - repeat_window_ms
        repeated = i + 1 < len(contacts) and contacts[i + 1][0] <= at + repeat_window_ms
        failed = is_first and (not contact[2] or repeated)
        result.append(Outcome(contact, is_first, failed, at + repeat_window_ms))
    return result


def prune(contacts: list[Contact], watermark_ms: int,
          repeat_window_ms: int = DEFAULT_REPEAT_WINDOW_MS) -> list[Contact]:
    """Drop contacts that can no longer affect any outcome.

    A contact still to come occurred at or after ``watermark - lateness`` (the accepted window, less
    an arrival-skew margin), so it can only be a repeat of, or be repeated by, contacts at or after
    ``watermark - lateness - R``.
    One older contact is kept as the anchor that makes the oldest kept contact a repeat, if it is one.
    """
    horizon = watermark_ms - MAX_LATENESS_MS - ARRIVAL_SKEW_MS - repeat_window_ms
    keep_from = 0
    while keep_from < len(contacts) and contacts[keep_from][0] < horizon:
        keep_from += 1
    return contacts[max(keep_from - 1, 0):] if keep_from < len(contacts) else []


@dataclass(frozen=True, slots=True)
class KeyState:
    """What the agent keeps per (customer, reason): the contacts that can still matter.

    ``truncated``: older contacts were pruned; ``contacts[0]`` is then only the anchor for its
    successor, and its own outcome (already final and stored) is not emitted again.
    """

    contacts: list[Contact]
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        """Form stored in the Faust table (JSON)."""
        return {"t": self.truncated, "c": [list(c) for c in self.contacts]}

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> KeyState:
        """Inverse of ``to_json``; ``None`` is the empty state."""
        if not value:
            return cls([])
        contacts: list[Contact] = [tuple(c) for c in value["c"]]
        return cls(contacts, bool(value["t"]))


def update_key(state: KeyState, new: list[Contact], watermark_ms: int,
               repeat_window_ms: int = DEFAULT_REPEAT_WINDOW_MS) -> tuple[KeyState, list[Outcome]]:
    """Merge new contacts into a key's state; return the pruned state and every outcome to store.

    Every outcome of the key is returned, changed or not: storing them is idempotent, and it repairs
    a write lost to a crash between the state update and the ClickHouse insert.
    """
    merged, _ = merge(state.contacts, new)
    anchor = state.contacts[0] if state.truncated and state.contacts else None
    result = [o for o in outcomes(merged, repeat_window_ms) if o.contact != anchor]
    kept = prune(merged, watermark_ms, repeat_window_ms)
    return KeyState(kept, state.truncated or len(kept) < len(merged)), result
