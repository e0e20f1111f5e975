"""Follow-ups over a batch: validated events -> ``followups`` rows and ``cx.followups`` messages.

Stateless: a follow-up depends on its triggering event only (``rules.follow_up_for``), and recovery is
decided at query time, so this needs no state store and any batch order gives the same rows. Rows are
keyed by the triggering ``event_id``; writing one again (a redelivered batch) replaces it with an
identical row (``ReplacingMergeTree(version)``, read with ``FINAL``). A newer version of the trigger
replaces its follow-up, or cancels it when it no longer triggers one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from schemas.event import TouchpointEvent
from streams.followups.rules import (
    DEFAULT_RECOVERY_WINDOW_MS,
    DEFAULT_SLA_POLICY,
    FollowUp,
    SlaPolicy,
    follow_up_for,
)

FOLLOWUP_COLUMNS = (
    "event_id", "occurred_at", "occurred_at_ms", "customer_id", "kind", "channel", "touchpoint",
    "journey_stage", "partner_id", "location_id", "region", "agent_id", "route", "low_csat",
    "detractor", "complaint", "csat", "nps", "due_at", "due_at_ms", "recover_by_ms", "cancelled",
    "version",
)
"""Columns of ``followups`` written by the sink, in this order."""

Row = tuple[Any, ...]


def followup_row(followup: FollowUp, version: int) -> Row:
    """One ``followups`` row (``FOLLOWUP_COLUMNS`` order); DateTime columns in epoch seconds."""
    f = followup
    return (f.event_id, f.occurred_at_ms // 1000, f.occurred_at_ms, f.customer_id, f.kind, f.channel,
            f.touchpoint, f.journey_stage, f.partner_id, f.location_id, f.region, f.agent_id,
            f.route, int(f.low_csat), int(f.detractor), int(f.complaint), f.csat, f.nps,
            f.due_at_ms // 1000, f.due_at_ms, f.recover_by_ms, int(f.cancelled), version)


def followup_message(followup: FollowUp) -> tuple[bytes, bytes]:
    """(key, value) for ``cx.followups``: keyed by the follow-up id (= triggering event_id), JSON value.

    Delivery is at least once: a consumer keeps one follow-up per key.
    """
    return followup.event_id.encode(), orjson.dumps(followup.to_message())


@dataclass
class FollowUpBatch:
    """The follow-ups a batch creates, and their rows (same order, one version per batch)."""

    followups: list[FollowUp] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    origins: list[int] = field(default_factory=list)
    """The index, among the events processed, of each follow-up's trigger."""

    def messages(self) -> list[tuple[bytes, bytes]]:
        """(key, value) pairs for ``cx.followups``."""
        return [followup_message(f) for f in self.followups]


class FollowUpProcessor:
    """Turns batches of validated, deduplicated events into follow-ups (pure apart from the version)."""

    def __init__(self, policy: SlaPolicy = DEFAULT_SLA_POLICY,
                 recovery_window_ms: int = DEFAULT_RECOVERY_WINDOW_MS) -> None:
        self.policy = policy
        self.recovery_window_ms = recovery_window_ms
        self._version = 0

    def _next_version(self) -> int:
        # Increasing across restarts too (wall clock in µs): a rewrite (e.g. after an SLA change) wins.
        self._version = max(self._version + 1, time.time_ns() // 1000)
        return self._version

    def process(self, events: list[TouchpointEvent],
                earlier: Mapping[str, Sequence[TouchpointEvent]] | None = None) -> FollowUpBatch:
        """The follow-ups among ``events`` (a batch's winners), in event order.

        ``earlier`` maps an event id to its stored versions the winner supersedes (the counted one,
        and any an attempt that did not commit wrote): a follow-up one of them created and the new
        version does not is cancelled (its row and message say so).
        """
        followups, origins = [], []
        for index, event in enumerate(events):
            followup = follow_up_for(event, self.policy, self.recovery_window_ms)
            if followup is None and earlier:
                for old in earlier.get(event["event_id"], ()):
                    taken_back = follow_up_for(old, self.policy, self.recovery_window_ms)
                    if taken_back is not None:
                        followup = taken_back._replace(cancelled=True)
                        break
            if followup is not None:
                followups.append(followup)
                origins.append(index)
        if not followups:
            return FollowUpBatch()
        version = self._next_version()
        return FollowUpBatch(followups, [followup_row(f, version) for f in followups], origins)
