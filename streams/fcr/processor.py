"""FCR over a batch: the changed outcome rows of the contacts it adds, from state kept or fetched.

The durable FCR state is ``fcr_contacts`` in ClickHouse: one row per contact with its role and
outcome (``ReplacingMergeTree``, the highest version wins). The worker keeps a bounded cache of recent
keys' contacts; for a key it has not cached far enough back, it fetches the stored contacts it needs
(``outcomes`` module: a contact at t needs [t - 2R, t + 2R]). Nothing is guessed from arrival order:
a backfill, a late repeat, a replay after a restart all see the same set. Only rows whose outcome
changed (or that were never stored) are written, so a hot key costs what changed, not its history.

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

from streams.fcr.outcomes import DEFAULT_REPEAT_WINDOW_MS, Contact, Outcome, affected, outcome_at

FCR_COLUMNS = (
    "customer_id", "contact_reason", "event_id", "occurred_at", "occurred_at_ms", "channel",
    "touchpoint", "journey_stage", "partner_id", "location_id", "region", "agent_id", "resolved",
    "is_first", "failed", "decides_at", "version",
)
KEY_SEPARATOR = "\x1f"
DEFAULT_CACHED_CONTACTS = 500_000

Flags = tuple[bool, bool]
"""(is_first, failed) as stored."""
Fetch = Callable[[list[str], int], dict[str, list[tuple[Contact, bool, bool]]]]
"""(keys, from ms) -> every stored contact of those keys occurred at or after it, with its flags."""


def state_key(customer_id: str, contact_reason: str) -> str:
    """The FCR key of a contact."""
    return f"{customer_id}{KEY_SEPARATOR}{contact_reason}"


def outcome_row(key: str, outcome: Outcome, version: int) -> tuple[Any, ...]:
    """One ``fcr_contacts`` row."""
    customer_id, contact_reason = key.split(KEY_SEPARATOR, 1)
    c = outcome.contact
    return (customer_id, contact_reason, c[1], c[0] // 1000, c[0], c[3], c[4], c[5], c[6], c[7],
            c[8], c[9], int(c[2]), int(outcome.is_first), int(outcome.failed),
            outcome.decides_at // 1000, version)


def compact(contact: Contact) -> Contact:
    """The contact with its dimension strings interned: thousands of contacts share a few values."""
    return (contact[0], contact[1], contact[2], *map(sys.intern, contact[3:]))  # type: ignore[return-value]


@dataclass
class KeyHistory:
    """The stored contacts of one key from ``covered_from`` (ms) on, and their stored outcomes."""

    covered_from: int
    contacts: list[Contact] = field(default_factory=list)
    stored: dict[str, Flags] = field(default_factory=dict)


@dataclass
class FcrPlan:
    """What one batch writes for FCR, and the key histories to keep once it is committed."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    sources: list[frozenset[int]] = field(default_factory=list)
    histories: dict[str, KeyHistory] = field(default_factory=dict)


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

    def plan(self, contacts: list[tuple[int, str, Contact]], fetch: Fetch) -> FcrPlan:
        """Rows for the ``(batch position, key, contact)`` winners of a batch; nothing is kept yet."""
        by_key: dict[str, list[tuple[int, Contact]]] = {}
        for position, key, contact in contacts:
            by_key.setdefault(key, []).append((position, compact(contact)))
        reach = 2 * self.repeat_window_ms
        need = {key: min(c[0] for _, c in items) - reach for key, items in by_key.items()}
        missing = [k for k, start in need.items()
                   if k not in self._cache or self._cache[k].covered_from > start]
        fetched: dict[str, KeyHistory] = {}
        if missing:
            start = min(need[k] for k in missing)
            found = fetch(missing, start)
            for key in missing:
                history = KeyHistory(start)
                for contact, is_first, failed in sorted(found.get(key, [])):
                    history.contacts.append(compact(contact))
                    history.stored[contact[1]] = (is_first, failed)
                fetched[key] = history
        plan = FcrPlan()
        version = self._next_version()
        for key, items in by_key.items():
            base = fetched.get(key) or self._cache[key]
            history = KeyHistory(base.covered_from, list(base.contacts), dict(base.stored))
            changed = self._merge(history, [c for _, c in items])
            if changed is None:
                continue
            sources = frozenset(p for p, _ in items)
            lo, hi, rewrite = changed
            window = self.repeat_window_ms
            for i in affected(history.contacts, lo - window, hi + window):
                outcome = outcome_at(history.contacts, i, window)
                event_id = outcome.contact[1]
                flags = (outcome.is_first, outcome.failed)
                if history.stored.get(event_id) != flags or event_id in rewrite:
                    history.stored[event_id] = flags
                    plan.rows.append(outcome_row(key, outcome, version))
                    plan.sources.append(sources)
            plan.histories[key] = history
        return plan

    @staticmethod
    def _merge(history: KeyHistory, new: list[Contact]) -> tuple[int, int, set[str]] | None:
        """Add or replace contacts by event_id; the time span touched and the ids to rewrite."""
        by_id = {c[1]: c for c in history.contacts}
        touched: list[int] = []
        rewrite: set[str] = set()
        for contact in new:
            known = by_id.get(contact[1])
            if known == contact:
                continue
            if known is not None:  # a new version of a contact: its old place changes too
                history.contacts.remove(known)
                touched.append(known[0])
            insort(history.contacts, contact)
            by_id[contact[1]] = contact
            rewrite.add(contact[1])
            touched.append(contact[0])
        return (min(touched), max(touched), rewrite) if touched else None

    def commit(self, plan: FcrPlan) -> None:
        """The plan's batch is committed: keep its key histories, evicting the least recently used."""
        for key, history in plan.histories.items():
            old = self._cache.pop(key, None)
            if old is not None:
                self._cached -= len(old.contacts)
            self._cache[key] = history
            self._cached += len(history.contacts)
        while self._cached > self.max_cached_contacts and len(self._cache) > 1:
            _, evicted = self._cache.popitem(last=False)
            self._cached -= len(evicted.contacts)

    def forget(self) -> None:
        """Drop every cached history (partitions moved, or a write may have half-happened)."""
        self._cache.clear()
        self._cached = 0
