"""FCR over a batch: group eligible contacts by key, update each key's state, emit outcome rows.

The state store is any mutable mapping (a Faust table in the worker, a dict in tests), keyed by the
same key the producer partitions by, so a key's state lives in the partition its contacts arrive on.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, MutableMapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from streams.fcr.outcomes import (
    DEFAULT_REPEAT_WINDOW_MS,
    Contact,
    KeyState,
    Outcome,
    contact_from_event,
    is_eligible,
    prune,
    update_key,
)

FCR_COLUMNS = (
    "customer_id", "contact_reason", "event_id", "occurred_at", "occurred_at_ms", "channel",
    "touchpoint", "journey_stage", "partner_id", "location_id", "region", "agent_id", "resolved",
    "is_first", "failed", "decides_at", "version",
)
KEY_SEPARATOR = "\x1f"


def state_key(customer_id: str, contact_reason: str) -> str:
    """The state key; the producer's partition key for contacts is the same string."""
    return f"{customer_id}{KEY_SEPARATOR}{contact_reason}"


def outcome_row(key: str, outcome: Outcome, version: int) -> tuple[Any, ...]:
    """One ``fcr_contacts`` row."""
    customer_id, contact_reason = key.split(KEY_SEPARATOR, 1)
    c = outcome.contact
    return (customer_id, contact_reason, c[1], c[0] // 1000, c[0], c[3], c[4], c[5], c[6], c[7],
            c[8], c[9], int(c[2]), int(outcome.is_first), int(outcome.failed),
            outcome.decides_at // 1000, version)


class FcrProcessor:
    """Keeps per-key contact state in ``store`` and turns batches of events into outcome rows."""

    def __init__(self, store: MutableMapping[str, Any],
                 repeat_window_ms: int = DEFAULT_REPEAT_WINDOW_MS) -> None:
        self.store = store
        self.repeat_window_ms = repeat_window_ms
        self.watermark_ms = 0
        """Latest received_at seen: nothing older than it minus the lateness can still arrive."""
        self._version = 0

    def _next_version(self) -> int:
        # Increasing across restarts too (wall clock in µs), so a rewrite always wins over older rows.
        self._version = max(self._version + 1, time.time_ns() // 1000)
        return self._version

    def process(self, events: list[dict[str, Any]],
                within: Callable[[int], AbstractContextManager[Any]] = lambda _i: nullcontext()
                ) -> list[tuple[Any, ...]]:
        """Update state for the eligible contacts among ``events``; rows for every touched key.

        A key's state is read and written ``within(i)``, ``i`` the index in ``events`` of the key's
        last contact: the worker uses it to put the store in that record's partition context.
        """
        by_key: dict[str, list[Contact]] = defaultdict(list)
        last_index: dict[str, int] = {}
        for i, event in enumerate(events):
            self.watermark_ms = max(self.watermark_ms, int(event["received_at"]))
            if is_eligible(event):
                key = state_key(event["customer_id"], event["contact_reason"])
                by_key[key].append(contact_from_event(event))
                last_index[key] = i
        rows = []
        version = self._next_version()
        for key, contacts in by_key.items():
            with within(last_index[key]):
                state = KeyState.from_json(self.store.get(key))
                new_state, results = update_key(state, contacts, self.watermark_ms,
                                                self.repeat_window_ms)
                if not new_state.contacts:
                    self.store.pop(key, None)
                elif new_state != state:
                    self.store[key] = new_state.to_json()
            rows += [outcome_row(key, outcome, version) for outcome in results]
        return rows

    def sweep(self) -> int:
        """Drop keys whose every contact is final (memory stays bounded by the active keys).

        Keys that new contacts touch are pruned as they are updated; this catches the quiet ones.
        Returns how many keys were dropped.
        """
        dropped = 0
        for key in list(self.store.keys()):
            if not prune(KeyState.from_json(self.store.get(key)).contacts, self.watermark_ms,
                         self.repeat_window_ms):
                self.store.pop(key, None)
                dropped += 1
        return dropped
