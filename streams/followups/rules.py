"""Closed-loop follow-ups: which event creates one, where it is routed, when it is due. Pure functions.

Rules (issue 5, "Closed loop"; read together with METRICS.md):

- **Trigger**: an event creates a follow-up iff it carries CSAT <= 2, or NPS <= 6 (a detractor), or is
  flagged ``complaint``. A score counts on any event that carries it, exactly as the satisfaction
  figures count it (``csat_response``/``nps_detractor`` do not look at ``kind``); a complaint counts on
  responses and contacts alike (DESIGN.md defines ``complaint`` on contacts).
- **Identity**: a follow-up is keyed by its triggering ``event_id``: re-processing an event produces the
  same follow-up, so storing it again changes nothing.
- **Routing**: ``location:<location_id>`` if the event has a location, else ``partner:<partner_id>``,
  else ``channel:<channel>``.
- **SLA**: ``due_at = occurred_at + SLA(channel)`` (event time, UTC ms), the SLA configurable per channel.
- **Recovery** (decided at query time, see ``sql/followups.py``): a follow-up is recovered iff the same
  customer has a response with CSAT >= 4 occurring strictly after the trigger and at most
  ``recovery_window`` (default 30 days) after it (``recover_by``, stored on the row). A follow-up
  without a ``customer_id`` (anonymous kiosk) is never recovered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from schemas.event import CHANNELS, DAY_MS, TouchpointEvent

HOUR_MS = 3_600_000
TRIGGER_CSAT_MAX = 2
"""CSAT 1-5: a score of 1 or 2 creates a follow-up."""
TRIGGER_NPS_MAX = 6
"""NPS 0-10: a detractor (0-6) creates a follow-up."""
DEFAULT_RECOVERY_WINDOW_MS = 30 * DAY_MS
DEFAULT_CHANNEL_SLA_MS: Mapping[str, int] = MappingProxyType(
    {"web": 24 * HOUR_MS, "call_center": 4 * HOUR_MS, "kiosk": 48 * HOUR_MS}
)
DEFAULT_SLA_MS = 24 * HOUR_MS
"""SLA of every channel not listed."""
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": HOUR_MS, "d": DAY_MS}


@dataclass(frozen=True)
class SlaPolicy:
    """How long a follow-up may stay open, per channel (ms); ``default_ms`` for unlisted channels."""

    by_channel: Mapping[str, int] = field(default_factory=lambda: DEFAULT_CHANNEL_SLA_MS)
    default_ms: int = DEFAULT_SLA_MS

    def sla_ms(self, channel: str) -> int:
        """The SLA of ``channel`` in ms."""
        return self.by_channel.get(channel, self.default_ms)


DEFAULT_SLA_POLICY = SlaPolicy()


def parse_sla_spec(spec: str) -> SlaPolicy:
    """``"web=24h,call_center=4h,kiosk=48h,default=24h"`` -> a policy over the defaults.

    Durations are a whole number of s, m, h or d. Raises ValueError listing every problem at once
    (a configuration error, fatal at start-up). Channels not named keep their default SLA.
    """
    by_channel = dict(DEFAULT_CHANNEL_SLA_MS)
    default_ms = DEFAULT_SLA_MS
    problems = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, _, duration = (s.strip() for s in item.partition("="))
        match = _DURATION.match(duration)
        if name != "default" and name not in CHANNELS:
            problems.append(f"unknown channel {name!r} (use one of {sorted(CHANNELS)} or 'default')")
        elif not match or int(match.group(1)) == 0:
            problems.append(f"{name}: SLA {duration!r} is not a positive duration like 4h, 2d, 90m")
        elif name == "default":
            default_ms = int(match.group(1)) * _UNIT_MS[match.group(2)]
        else:
            by_channel[name] = int(match.group(1)) * _UNIT_MS[match.group(2)]
    if problems:
        raise ValueError("follow-up SLA: " + "; ".join(problems))
    return SlaPolicy(MappingProxyType(by_channel), default_ms)


class FollowUp(NamedTuple):
    """One follow-up: the triggering event's identity and dimensions, why, where to, and when due.

    Times are event time, UTC epoch ms. ``customer_id`` is "" for an anonymous trigger. A named
    tuple, not a frozen dataclass: its ``__init__`` (one ``object.__setattr__`` per field) made
    following up a batch a fifth slower.
    """

    event_id: str
    occurred_at_ms: int
    customer_id: str
    kind: str
    channel: str
    touchpoint: str
    journey_stage: str
    partner_id: str
    location_id: str
    region: str
    agent_id: str
    route: str
    low_csat: bool
    detractor: bool
    complaint: bool
    csat: int | None
    nps: int | None
    due_at_ms: int
    recover_by_ms: int
    cancelled: bool = False
    """A newer version of the triggering event took the trigger back (e.g. a score edited up)."""

    @property
    def reasons(self) -> list[str]:
        """Why it was created: any of ``low_csat``, ``detractor``, ``complaint``."""
        return [name for name, on in (("low_csat", self.low_csat), ("detractor", self.detractor),
                                      ("complaint", self.complaint)) if on]

    def to_message(self) -> dict[str, Any]:
        """The ``cx.followups`` message (JSON form): every field, plus ``reasons``."""
        message: dict[str, Any] = dict(zip(self._fields, self, strict=True))
        message["reasons"] = self.reasons
        return message


def route_for(event: TouchpointEvent) -> str:
    """Who handles it: the location if known, else the partner, else the channel's team."""
    if event.get("location_id"):
        return f"location:{event['location_id']}"
    if event.get("partner_id"):
        return f"partner:{event['partner_id']}"
    return f"channel:{event['channel']}"


def follow_up_for(event: TouchpointEvent, policy: SlaPolicy = DEFAULT_SLA_POLICY,
                  recovery_window_ms: int = DEFAULT_RECOVERY_WINDOW_MS) -> FollowUp | None:
    """The follow-up a validated event creates, or None if it creates none."""
    csat, nps = event.get("csat"), event.get("nps")
    low_csat = csat is not None and csat <= TRIGGER_CSAT_MAX
    detractor = nps is not None and nps <= TRIGGER_NPS_MAX
    complaint = bool(event.get("complaint"))
    if not (low_csat or detractor or complaint):
        return None
    occurred_ms = int(event["occurred_at"])
    return FollowUp(
        event_id=event["event_id"], occurred_at_ms=occurred_ms,
        customer_id=event.get("customer_id") or "", kind=event["kind"], channel=event["channel"],
        touchpoint=event["touchpoint"], journey_stage=event["journey_stage"],
        partner_id=event.get("partner_id") or "", location_id=event.get("location_id") or "",
        region=event.get("region") or "", agent_id=event.get("agent_id") or "",
        route=route_for(event), low_csat=low_csat, detractor=detractor, complaint=complaint,
        csat=csat, nps=nps, due_at_ms=occurred_ms + policy.sla_ms(event["channel"]),
        recover_by_ms=occurred_ms + recovery_window_ms,
    )
