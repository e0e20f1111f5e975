"""FCR over a batch: the changed rows of the contacts it adds, replaces or removes.

The durable FCR state is ``fcr_contacts`` in ClickHouse: one row per contact event (a leg), the
highest version winning (``ReplacingMergeTree``). A contact's role and outcome are on the row of its
first leg (``removed`` 0); its other legs have ``removed`` 2; an event that stopped being one of the
key's contacts (a newer version changed its customer or reason) has ``removed`` 1. The worker keeps a
bounded cache of recent keys' legs; for a key it has not cached far enough back, it fetches the
stored legs it needs (``outcomes``: a change at t needs [t - 2R - a leg's span, ...]). Nothing is
guessed from arrival order: a backfill, a late repeat, a replay after a restart all see the same
set. Only rows that changed (or were never stored) are written, so a hot key costs what changed.

A key is owned by one worker at a time: the producer keys records by customer, so every contact of a
(customer, reason) arrives on one partition, and the pipeline never writes for a partition it lost.
The cache is cleared whenever partitions move and whenever a write fails, and it is updated only after
a batch committed, so it never holds what ClickHouse does not.
"""

from __future__ import annotations

import sys
import time
from bisect import insort
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streams.fcr.outcomes import (
    DEFAULT_REPEAT_WINDOW_MS,
    LEG_SPAN_MS,
    Contact,
    affected,
    fold,
    outcome_at,
)

FCR_COLUMNS = (
    "customer_id", "contact_reason", "event_id", "occurred_at", "occurred_at_ms", "channel",
    "touchpoint", "journey_stage", "partner_id", "location_id", "region", "agent_id", "resolved",
    "is_first", "failed", "decides_at", "removed", "contact_group", "version",
)
KEY_SEPARATOR = "\x1f"
DEFAULT_CACHED_CONTACTS = 500_000
COUNTED, REMOVED, FOLDED = 0, 1, 2
"""``removed``: a contact (its outcome counts), gone from the key, a later leg of another contact."""

Row = tuple[Any, ...]
Fetch = Callable[[list[str], int], dict[str, list[dict[str, Any]]]]
"""(keys, from ms) -> per key, every stored row (FCR_COLUMNS but version) occurred at or after it."""


def state_key(customer_id: str, contact_reason: str) -> str:
    """The FCR key of a contact."""
    return f"{customer_id}{KEY_SEPARATOR}{contact_reason}"


def compact(contact: Contact) -> Contact:
    """The contact with its dimension strings interned: thousands of contacts share a few values."""
    return (*contact[:3], *map(sys.intern, contact[3:10]), contact[10])  # type: ignore[return-value]


def leg_from_row(row: dict[str, Any]) -> Contact:
    """A stored row as the leg it was written for."""
    return compact((int(row["occurred_at_ms"]), row["event_id"], bool(row["resolved"]), row["channel"],
                    row["touchpoint"], row["journey_stage"], row["partner_id"], row["location_id"],
                    row["region"], row["agent_id"], row["contact_group"] or row["event_id"]))


def _row(key: str, c: Contact, is_first: bool, failed: bool, removed: int, window_ms: int) -> Row:
    """One ``fcr_contacts`` row without its version (FCR_COLUMNS but the last)."""
    customer_id, contact_reason = key.split(KEY_SEPARATOR, 1)
    return (customer_id, contact_reason, c[1], c[0] // 1000, c[0], c[3], c[4], c[5], c[6], c[7], c[8],
            c[9], int(c[2]), int(is_first), int(failed), (c[0] + window_ms) // 1000, removed,
            "" if c[10] == c[1] else c[10])


Written = tuple[Contact, int]
"""What a leg's stored row says, in short: the contact it holds and its ``role``. With the key and
the window, that is the whole row; kept instead of the row, it costs a tenth of the memory."""
STALE = -1
"""The role of a stored row written with another repeat window: it never matches, so it is rewritten."""


def role(is_first: bool, failed: bool, removed: int) -> int:
    """A row's is_first, failed and removed columns as one small int."""
    return int(is_first) | int(failed) << 1 | removed << 2


@dataclass(slots=True)
class KeyHistory:
    """The stored legs of one key from ``covered_from`` (ms) on, and what each one's row holds."""

    covered_from: int
    legs: list[Contact] = field(default_factory=list)
    written: dict[str, Written] = field(default_factory=dict)


@dataclass
class FcrPlan:
    """What one batch writes for FCR, and the key histories to keep once it is committed."""

    rows: list[Row] = field(default_factory=list)
    sources: list[frozenset[int]] = field(default_factory=list)
    histories: dict[str, KeyHistory] = field(default_factory=dict)


Upsert = tuple[int, str, Contact]
"""(batch position, key, the contact event's leg): added, or replacing an older version."""
Removal = tuple[int, str, str, int]
"""(batch position, key, event id, its occurred_at ms): a contact event no longer of that key."""


class FcrProcessor:
    """Plans FCR rows per batch over a bounded cache of key histories (``max_cached_contacts``)."""

    def __init__(self, repeat_window_ms: int = DEFAULT_REPEAT_WINDOW_MS,
                 max_cached_contacts: int = DEFAULT_CACHED_CONTACTS) -> None:
        self.repeat_window_ms = repeat_window_ms
        self.max_cached_contacts = max_cached_contacts
        self._cache: OrderedDict[str, KeyHistory] = OrderedDict()
        self._cached = 0
        self._version = 0

    @property
    def cached_contacts(self) -> int:
        """Contacts held in memory."""
        return self._cached

    def _next_version(self) -> int:
        # Increasing across restarts and owners too (wall clock in µs): a rewrite wins over older rows.
        self._version = max(self._version + 1, time.time_ns() // 1000)
        return self._version

    def plan(self, upserts: list[Upsert], removals: list[Removal], fetch: Fetch) -> FcrPlan:
        """Rows for a batch's contact changes; nothing is kept until ``commit``."""
        changes: dict[str, tuple[list[Contact], dict[str, int], set[int]]] = {}
        for position, key, contact in upserts:
            changes.setdefault(key, ([], {}, set()))[0].append(contact)
            changes[key][2].add(position)
        for position, key, event_id, at in removals:
            changes.setdefault(key, ([], {}, set()))[1][event_id] = at
            changes[key][2].add(position)
        histories = self._histories(changes, fetch)
        plan = FcrPlan()
        version = self._next_version()
        for key, (added, removed, positions) in changes.items():
            base = histories[key]
            history = KeyHistory(base.covered_from, list(base.legs), dict(base.written))
            rows = self._changed_rows(key, history, added, removed)
            plan.rows += [(*row, version) for row in rows]
            plan.sources += [frozenset(positions)] * len(rows)
            if rows:
                plan.histories[key] = history
        return plan

    def _histories(self, changes: dict[str, Any], fetch: Fetch) -> dict[str, KeyHistory]:
        """Each changed key's history, from the cache when it reaches back far enough, else fetched."""
        reach = 2 * self.repeat_window_ms + LEG_SPAN_MS
        need = {key: min([c[0] for c in added] + list(removed.values())) - reach
                for key, (added, removed, _) in changes.items()}
        found = {k: self._cache[k] for k in changes
                 if k in self._cache and self._cache[k].covered_from <= need[k]}
        missing = [k for k in changes if k not in found]
        if missing:
            start = min(need[k] for k in missing)
            stored = fetch(missing, start)
            for key in missing:
                history = KeyHistory(start)
                for row in sorted(stored.get(key, []), key=lambda r: (r["occurred_at_ms"], r["event_id"])):
                    leg = leg_from_row(row)
                    history.legs.append(leg)
                    current = int(row["decides_at"]) == (leg[0] + self.repeat_window_ms) // 1000
                    history.written[row["event_id"]] = (leg, role(
                        bool(row["is_first"]), bool(row["failed"]), int(row["removed"]))
                        if current else STALE)
                found[key] = history
        return found

    def _changed_rows(self, key: str, history: KeyHistory, added: list[Contact],
                      removed: dict[str, int]) -> list[Row]:
        """Apply the changes to ``history``; the rows whose content differs from what is stored."""
        window = self.repeat_window_ms
        if not history.legs and not removed and len(added) == 1:  # a key's first contact: most keys
            first = added[0]
            history.legs.append(first)
            history.written[first[1]] = (first, role(True, not first[2], COUNTED))
            return [_row(key, first, True, not first[2], COUNTED, window)]
        by_id = {c[1]: c for c in history.legs}
        touched: list[int] = []
        gone: list[Contact] = []
        for event_id in removed:
            leg = by_id.pop(event_id, None)
            if leg is not None:
                history.legs.remove(leg)
                touched.append(leg[0])
                gone.append(leg)
        for leg in added:
            known = by_id.get(leg[1])
            if known == leg:
                continue
            if known is not None:  # a new version of a contact: its old place changes too
                history.legs.remove(known)
                touched.append(known[0])
            insort(history.legs, leg)
            by_id[leg[1]] = leg
            touched.append(leg[0])
        if not touched:
            return []
        due: list[tuple[Contact, bool, bool, int]] = [(leg, False, False, REMOVED) for leg in gone]
        contacts = fold(history.legs)
        folded = [c for c, _ in contacts]
        for i in affected(folded, min(touched) - window - LEG_SPAN_MS, max(touched) + window + LEG_SPAN_MS):
            outcome = outcome_at(folded, i, window)
            _first, *later = contacts[i][1]
            due.append((outcome.contact, outcome.is_first, outcome.failed, COUNTED))
            due += [(leg, False, False, FOLDED) for leg in later]
        rows = []
        for contact, is_first, failed, status in due:
            now = (contact, role(is_first, failed, status))
            if history.written.get(contact[1]) != now:
                history.written[contact[1]] = now
                rows.append(_row(key, contact, is_first, failed, status, window))
        return rows

    def commit(self, plan: FcrPlan) -> None:
        """The plan's batch is committed: keep its key histories, evicting the least recently used."""
        for key, history in plan.histories.items():
            old = self._cache.pop(key, None)
            if old is not None:
                self._cached -= len(old.legs)
            self._cache[key] = history
            self._cached += len(history.legs)
        while self._cached > self.max_cached_contacts and len(self._cache) > 1:
            _, evicted = self._cache.popitem(last=False)
            self._cached -= len(evicted.legs)

    def forget(self) -> None:
        """Drop every cached history (partitions moved, or a write may have half-happened)."""
        self._cache.clear()
        self._cached = 0
