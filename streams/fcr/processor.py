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
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streams.fcr.outcomes import (
    DEFAULT_REPEAT_WINDOW_MS,
    LEG_SPAN_MS,
    Contact,
    affected,
    decides_at_s,
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
Fetch = Callable[[list[str], int], dict[str, list[dict[str, Any]] | None]]
"""(keys, from ms) -> per key, every stored row (FCR_COLUMNS but version) occurred at or after it;
``None`` for a key known to have no stored row at all (its history is then complete since ever)."""
EVER = -(1 << 62)
"""``covered_from`` of a history known complete at any time: its key had no stored row when fetched,
and only this worker writes it while the history is cached (a late contact then needs no read)."""


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


def _row(key: str, c: Contact, is_first: bool, failed: bool, removed: int, window_ms: int,
         version: int) -> Row:
    """One ``fcr_contacts`` row (FCR_COLUMNS)."""
    customer_id, contact_reason = key.split(KEY_SEPARATOR, 1)
    return (customer_id, contact_reason, c[1], c[0] // 1000, c[0], c[3], c[4], c[5], c[6], c[7], c[8],
            c[9], int(c[2]), int(is_first), int(failed), decides_at_s(c[0], window_ms), removed,
            "" if c[10] == c[1] else c[10], version)


STALE = -1
"""The role of a stored row that is not what its legs give (written with another repeat window, or
by an older rule): it never matches, so it is rewritten once a change reaches it."""
UNWRITTEN = -2
"""The role of a leg whose row is not stored yet."""


def role(is_first: bool, failed: bool, removed: int) -> int:
    """A row's is_first, failed and removed columns as one small int."""
    return int(is_first) | int(failed) << 1 | removed << 2


@dataclass(slots=True)
class KeyHistory:
    """The stored legs of one key from ``covered_from`` (ms) on, and the role of each one's row.

    With the key and the window, a leg and its role are its whole row (a contact's first leg holds
    the folded contact): that is all the cache keeps of a key, packed (``Packed``).
    """

    covered_from: int
    legs: list[Contact] = field(default_factory=list)
    roles: list[int] = field(default_factory=list)
    """The role of each leg's stored row, in ``legs`` order."""


Packed = tuple[Any, ...]
"""A cached ``KeyHistory``: (covered_from, leg, its role, leg, its role, ...), one flat tuple.

The cache holds hundreds of thousands of keys, most with a single leg: a dataclass with two lists
took 232 bytes a key besides its leg, this tuple 64 (``make bench-fcr``, 1M keys cached: 741 MB of
worker RSS, against 925 MB)."""


def _packed(history: KeyHistory) -> Packed:
    if len(history.legs) == 1:  # most keys
        return history.covered_from, history.legs[0], history.roles[0]
    return (history.covered_from, *(x for pair in zip(history.legs, history.roles, strict=True)
                                    for x in pair))


def _unpacked(packed: Packed) -> KeyHistory:
    """A history to change: lists of its own (the cache keeps only what is committed)."""
    return KeyHistory(packed[0], list(packed[1::2]), list(packed[2::2]))


def _legs_in(packed: Packed) -> int:
    return len(packed) // 2


def _drop(history: KeyHistory, leg: Contact) -> None:
    at = bisect_left(history.legs, leg)
    del history.legs[at], history.roles[at]


def _mark_stale(history: KeyHistory) -> None:
    """Stored first legs whose row is not the contact their legs fold into: rewrite when reached."""
    place = {leg[1]: i for i, leg in enumerate(history.legs)}
    for contact, members in fold(history.legs):
        if contact != members[0]:
            history.roles[place[contact[1]]] = STALE


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


Change = tuple[list[Contact], dict[str, int], set[int]]
"""A key's changes in a batch: contacts added, event ids removed (with their time), batch positions."""


def _change_of(changes: dict[str, Change], key: str) -> Change:
    """``changes[key]``, made empty first if missing (``setdefault`` would build one per call)."""
    change = changes.get(key)
    if change is None:
        change = changes[key] = ([], {}, set())
    return change


def _oldest(added: list[Contact], removed: dict[str, int]) -> int:
    """The earliest time (ms) a key's changes touch."""
    if len(added) == 1 and not removed:  # most keys of a batch
        return added[0][0]
    return min([c[0] for c in added] + list(removed.values()))


class FcrProcessor:
    """Plans FCR rows per batch over a bounded cache of key histories (``max_cached_contacts``)."""

    def __init__(self, repeat_window_ms: int = DEFAULT_REPEAT_WINDOW_MS,
                 max_cached_contacts: int = DEFAULT_CACHED_CONTACTS) -> None:
        self.repeat_window_ms = repeat_window_ms
        self.max_cached_contacts = max_cached_contacts
        self._cache: OrderedDict[str, Packed] = OrderedDict()
        self._cached = 0
        self._evicted = 0
        self._version = 0

    @property
    def cached_contacts(self) -> int:
        """Contacts held in memory."""
        return self._cached

    @property
    def evicted_contacts(self) -> int:
        """Contacts evicted to make room since start (not those ``forget`` drops): the cache's churn."""
        return self._evicted

    def _next_version(self) -> int:
        # Increasing across restarts and owners too (wall clock in µs): a rewrite wins over older rows.
        self._version = max(self._version + 1, time.time_ns() // 1000)
        return self._version

    def plan(self, upserts: list[Upsert], removals: list[Removal], fetch: Fetch) -> FcrPlan:
        """Rows for a batch's contact changes; nothing is kept until ``commit``."""
        changes: dict[str, Change] = {}
        for position, key, contact in upserts:
            change = _change_of(changes, key)
            change[0].append(contact)
            change[2].add(position)
        for position, key, event_id, at in removals:
            change = _change_of(changes, key)
            change[1][event_id] = at
            change[2].add(position)
        cached, fetched = self._histories(changes, fetch)
        plan = FcrPlan()
        version = self._next_version()
        for key, (added, removed, positions) in changes.items():
            history = fetched.get(key)
            if history is None:
                history = _unpacked(cached[key])
            rows = self._changed_rows(key, history, added, removed, version)
            if rows:
                plan.rows += rows
                plan.sources += [frozenset(positions)] * len(rows)
                plan.histories[key] = history
        return plan

    def _histories(self, changes: dict[str, Change], fetch: Fetch
                   ) -> tuple[dict[str, Packed], dict[str, KeyHistory]]:
        """Each changed key's history: (cached ones that reach back far enough, fetched ones)."""
        reach = 2 * self.repeat_window_ms + LEG_SPAN_MS
        need: dict[str, int] = {}
        cached: dict[str, Packed] = {}
        for key, (added, removed, _) in changes.items():
            need[key] = _oldest(added, removed) - reach
            packed = self._cache.get(key)
            if packed is not None and packed[0] <= need[key]:
                cached[key] = packed
        missing = [k for k in changes if k not in cached]
        fetched: dict[str, KeyHistory] = {}
        if missing:
            start = min(need[k] for k in missing)
            stored = fetch(missing, start)
            for key in missing:
                rows = stored.get(key)
                history = fetched[key] = KeyHistory(EVER if rows is None and key in stored else start)
                if not rows:  # most keys: nothing stored since ``start``
                    continue
                for row in sorted(rows, key=lambda r: (r["occurred_at_ms"], r["event_id"])):
                    leg = leg_from_row(row)
                    current = int(row["decides_at"]) == decides_at_s(leg[0], self.repeat_window_ms)
                    history.legs.append(leg)
                    history.roles.append(role(bool(row["is_first"]), bool(row["failed"]),
                                              int(row["removed"])) if current else STALE)
                if len(history.legs) > 1:
                    _mark_stale(history)
        return cached, fetched

    def _changed_rows(self, key: str, history: KeyHistory, added: list[Contact],
                      removed: dict[str, int], version: int) -> list[Row]:
        """Apply the changes to ``history``; the rows whose content differs from what is stored."""
        window = self.repeat_window_ms
        legs, roles = history.legs, history.roles
        if not legs and not removed and len(added) == 1:  # a key's first contact: most keys
            first = added[0]
            legs.append(first)
            roles.append(role(True, not first[2], COUNTED))
            return [_row(key, first, True, not first[2], COUNTED, window, version)]
        by_id = {c[1]: c for c in legs}
        touched: list[int] = []
        gone: list[Contact] = []
        changed: set[str] = set()  # legs new in this batch (or a new version): their content changed
        groups: set[str] = set()  # contacts a leg of which came, went or changed: so may their content
        for event_id in removed:
            leg = by_id.pop(event_id, None)
            if leg is not None:
                _drop(history, leg)
                touched.append(leg[0])
                gone.append(leg)
                groups.add(leg[10])
        for leg in added:
            known = by_id.get(leg[1])
            if known == leg:
                continue
            if known is not None:  # a new version of a contact: its old place changes too
                _drop(history, known)
                touched.append(known[0])
                groups.add(known[10])
            at = bisect_left(legs, leg)
            legs.insert(at, leg)
            roles.insert(at, UNWRITTEN)
            by_id[leg[1]] = leg
            touched.append(leg[0])
            changed.add(leg[1])
            groups.add(leg[10])
        if not touched:
            return []
        rows = [_row(key, leg, False, False, REMOVED, window, version) for leg in gone]
        contacts = fold(legs)
        folded = [c for c, _ in contacts]
        place = {leg[1]: i for i, leg in enumerate(legs)}
        for i in affected(folded, min(touched) - window - LEG_SPAN_MS, max(touched) + window + LEG_SPAN_MS):
            outcome = outcome_at(folded, i, window)
            first, *later = contacts[i][1]
            due = [(first, outcome.contact, outcome.is_first, outcome.failed, COUNTED,
                    outcome.contact[10] in groups)]
            due += [(leg, leg, False, False, FOLDED, leg[1] in changed) for leg in later]
            for leg, content, is_first, failed, status, moved in due:
                at, now = place[leg[1]], role(is_first, failed, status)
                if moved or roles[at] != now:
                    roles[at] = now
                    rows.append(_row(key, content, is_first, failed, status, window, version))
        return rows

    def commit(self, plan: FcrPlan) -> None:
        """The plan's batch is committed: keep its key histories, evicting the least recently used."""
        for key, history in plan.histories.items():
            old = self._cache.pop(key, None)
            if old is not None:
                self._cached -= _legs_in(old)
            self._cache[key] = _packed(history)
            self._cached += len(history.legs)
        while self._cached > self.max_cached_contacts and len(self._cache) > 1:
            _, evicted = self._cache.popitem(last=False)
            legs = _legs_in(evicted)
            self._cached -= legs
            self._evicted += legs

    def forget(self) -> None:
        """Drop every cached history (partitions moved, or a write may have half-happened)."""
        self._cache.clear()
        self._cached = 0
