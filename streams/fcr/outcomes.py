"""First-contact resolution (METRICS.md), as pure functions of the contacts of one (customer, reason).

The outcome of a contact is a function of the *set* of contacts of its key, never of the order they
arrived in: the worker keeps (or fetches) the set, and recomputes outcomes whenever it changes.

- Contacts are ordered by (occurred_at, event_id).
- First contact: no earlier contact at or after ``occurred_at - R``. Otherwise a repeat contact.
- A first contact fails if it was not resolved, or if a later contact is at or before
  ``occurred_at + R``. Otherwise it is *open*: pending until the clock passes ``occurred_at + R``, then
  a success. The clock comparison is made when figures are read (``decides_at``), so a success needs no
  timer, and a late repeat still turns it into a failure.

Transfers: the legs of one contact (a call handed to another queue or agent) are one contact. A leg
names the contact it continues (``attributes.continues_contact``, the first leg's event id); the
folded contact occurred at its first leg, with that leg's channel, touchpoint and place, and was
resolved (or not) and handled by its last leg's agent.

Locality: a contact's outcome depends only on its neighbours within R on either side. A change at time
t (a contact added, replaced or removed) can only change the outcomes of contacts in [t - R, t + R],
and computing those needs the contacts in [t - 2R, t + 2R] (plus a leg's span): that is all the
state a change needs.
"""

from __future__ import annotations

import sys
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

from schemas.event import CONTINUES_CONTACT

DAY_MS = 86_400_000
DEFAULT_REPEAT_WINDOW_MS = 7 * DAY_MS
LEG_SPAN_MS = DAY_MS
"""The legs of one contact lie within a day of its first leg (a transfer happens during the call)."""

Contact = tuple[int, str, bool, str, str, str, str, str, str, str, str]
"""(occurred_at ms, event_id, resolved, channel, touchpoint, journey_stage, partner_id, location_id,
region, agent_id, contact group): what FCR needs of one contact event (a leg). The group is the
event id of the contact it continues, else its own. A plain tuple: it sorts in contact order and is
small in memory."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The role and outcome of one contact."""

    contact: Contact
    is_first: bool
    failed: bool
    """Only for first contacts: unresolved, or a repeat within R."""
    decides_at: int
    """occurred_at + R: an open (not failed) first contact succeeds once the clock passes this."""


def decides_at_s(occurred_at_ms: int, repeat_window_ms: int = DEFAULT_REPEAT_WINDOW_MS) -> int:
    """The stored ``decides_at``: the first whole second at which the clock has passed ``occurred_at + R``.

    Rounded up, so a figure read at second T calls a contact a success only once
    ``T * 1000 >= occurred_at + R`` (rounded down, it did up to 999 ms early).
    """
    return -(-(occurred_at_ms + repeat_window_ms) // 1000)


def contact_from_event(event: dict[str, Any]) -> Contact:
    """The FCR view of an eligible contact event (kind contact, customer_id and contact_reason set)."""
    event_id = str(event["event_id"])
    group = (event.get("attributes") or {}).get(CONTINUES_CONTACT) or event_id
    intern = sys.intern  # thousands of contacts share a few dimension values
    return (
        int(event["occurred_at"]), event_id, bool(event.get("resolved")),
        intern(event["channel"]), intern(event["touchpoint"]), intern(event["journey_stage"]),
        intern(event.get("partner_id", "")), intern(event.get("location_id", "")),
        intern(event.get("region", "")), intern(event.get("agent_id", "")), group,
    )


def continues_a_contact(event: dict[str, Any]) -> bool:
    """A later leg of another contact: it is not a contact of its own in any count."""
    return event["kind"] == "contact" and bool((event.get("attributes") or {}).get(CONTINUES_CONTACT))


def fold(legs: list[Contact]) -> list[tuple[Contact, list[Contact]]]:
    """The contacts the sorted ``legs`` of one key make, sorted: each with its legs, first leg first.

    A contact takes its first leg's time, id, channel, touchpoint, stage and place, and its last
    leg's resolution and agent.
    """
    groups: dict[str, list[Contact]] = {}
    for leg in legs:
        groups.setdefault(leg[10], []).append(leg)
    contacts = []
    for members in groups.values():
        first, last = members[0], members[-1]
        contact: Contact = (*first[:2], last[2], *first[3:9], last[9], first[10])
        contacts.append((contact, members))
    contacts.sort()
    return contacts


def is_eligible(event: dict[str, Any]) -> bool:
    """A contact with both customer_id and contact_reason; others count as fcr_ineligible."""
    return event["kind"] == "contact" and bool(event.get("customer_id")) and bool(
        event.get("contact_reason")
    )


def outcome_at(contacts: list[Contact], i: int,
               repeat_window_ms: int = DEFAULT_REPEAT_WINDOW_MS) -> Outcome:
    """Outcome of ``contacts[i]``; ``contacts`` sorted, and complete within R of it."""
    contact = contacts[i]
    at = contact[0]
    is_first = i == 0 or contacts[i - 1][0] < at - repeat_window_ms
    repeated = i + 1 < len(contacts) and contacts[i + 1][0] <= at + repeat_window_ms
    return Outcome(contact, is_first, is_first and (not contact[2] or repeated), at + repeat_window_ms)


def outcomes(contacts: list[Contact], repeat_window_ms: int = DEFAULT_REPEAT_WINDOW_MS) -> list[Outcome]:
    """Outcome of every contact of one key; ``contacts`` sorted by (occurred_at, event_id)."""
    return [outcome_at(contacts, i, repeat_window_ms) for i in range(len(contacts))]


def affected(contacts: list[Contact], start_ms: int, end_ms: int) -> range:
    """Indexes of the sorted ``contacts`` that occurred in [start_ms, end_ms]."""
    return range(bisect_left(contacts, (start_ms,)), bisect_left(contacts, (end_ms + 1,)))
