"""The event engine of ``cxpulse simulate``: diurnal Poisson arrivals -> canonical events.

One ``Simulation`` is one seeded run. It owns a single ``random.Random`` and draws from it in a fixed
order, so the same arguments always give the same events.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from connectors.simulator.comments import compose
from connectors.simulator.customers import (
    CLV_CHANNELS,
    CLV_SHARE,
    Aftermath,
    Planned,
    customer_clv,
    is_problem,
)
from connectors.simulator.model import (
    CHANNEL_WEIGHTS,
    COMMENT_SHARE,
    COMPLAINT_COMMENT_SHARE,
    CONTACT_REASONS,
    CONTACT_SHARE,
    DIURNAL_MAX,
    HOUR_MS,
    KIOSK_LOCATIONS,
    MINUTE_MS,
    NPS_MIX,
    PARTNERS,
    RESPONSE_TOUCHPOINTS,
    VIETNAMESE_SHARE,
    Partner,
    Touchpoint,
    clamp_share,
    contact_touchpoint,
    cumulative,
    diurnal_factor,
    mood,
    repeat_gap_ms,
    resolve_probability,
    sample_ces,
    sample_comment,
    sample_csat,
    sample_nps,
    sample_smiley,
)
from schemas.event import TouchpointEvent

SOURCE = "simulator"
LATE_SHARE = 0.01
"""Share of events that reach the connector minutes to hours after they occurred."""
SEVERAL_REASONS_SHARE = 0.15
"""Share of fresh contacts from a recent customer about another reason (customers with several)."""
RESPONSE_FROM_KNOWN_CUSTOMER = 0.35
RECENT_CUSTOMERS = 5_000
MAX_PENDING_REPEATS = 100_000
"""Bounds memory on endless runs; past it no new repeat contacts are planned until some happen."""

_CHANNELS = list(CHANNEL_WEIGHTS)
_CHANNEL_CUM = cumulative(CHANNEL_WEIGHTS)
_REASONS = list(CONTACT_REASONS)
_REASON_CUM = cumulative(CONTACT_REASONS)
_TOUCHPOINT_CUM = {ch: cumulative(tuple(tp.weight for tp in tps)) for ch, tps in RESPONSE_TOUCHPOINTS.items()}
_PARTNER_CUM = cumulative(tuple(p.weight for p in PARTNERS))
_LATE_MIN_LOG, _LATE_MAX_LOG = math.log(2 * MINUTE_MS), math.log(6 * HOUR_MS)


@dataclass(frozen=True)
class Incident:
    """What the ``incident`` scenario breaks, in event time [start_ms, end_ms).

    The CSAT satisfied share falls by ``drop`` (0.25 = 25 points) for one channel's touchpoint and
    for one kiosk location.
    """

    start_ms: int
    end_ms: int
    channel: str = "web"
    touchpoint: str = "checkout"
    location_id: str = "kiosk-hcm-q1"
    drop: float = 0.25

    def drop_at(self, t_ms: int, event: TouchpointEvent) -> float:
        """Satisfied-share drop for ``event`` at event time ``t_ms``; 0.0 where the incident is not."""
        if not self.start_ms <= t_ms < self.end_ms:
            return 0.0
        # An empty touchpoint means the whole channel; an empty channel or location means none.
        hit = (bool(self.channel) and event["channel"] == self.channel
               and (not self.touchpoint or event["touchpoint"] == self.touchpoint)) or (
            bool(self.location_id) and event["location_id"] == self.location_id)
        return self.drop if hit else 0.0


@dataclass(frozen=True)
class Improvement:
    """What the ``fix`` scenario improves, from event time ``at_ms`` on.

    One channel's touchpoint has a CSAT satisfied share higher by ``lift`` (0.15 = 15 points).
    Nothing else changes.
    """

    at_ms: int
    channel: str = "web"
    touchpoint: str = "order_status"
    lift: float = 0.15

    def lift_at(self, t_ms: int, event: TouchpointEvent) -> float:
        """Satisfied-share lift for ``event`` at event time ``t_ms``; 0.0 before the fix or elsewhere."""
        hit = event["channel"] == self.channel and event["touchpoint"] == self.touchpoint
        return self.lift if hit and t_ms >= self.at_ms else 0.0


def blank_event(channel: str, kind: str, touchpoint: str, journey_stage: str) -> TouchpointEvent:
    """Every field of TouchpointEvent, in canonical form, with its default."""
    return {
        "event_id": "", "occurred_at": 0, "received_at": 0, "channel": channel, "source": SOURCE,
        "kind": kind, "touchpoint": touchpoint, "journey_stage": journey_stage, "customer_id": None,
        "interaction_id": None, "contact_reason": None, "resolved": None, "complaint": False,
        "csat": None, "nps": None, "ces": None, "comment": None, "language": None, "partner_id": "",
        "location_id": "", "region": "", "agent_id": "", "attributes": {}, "version": 0,
    }


class Simulation:
    """One seeded run: events whose ``occurred_at`` lies in [start_ms, end_ms) (no end if None).

    ``events()`` yields them in non-decreasing ``received_at`` order (what a connector sees).
    """

    def __init__(self, *, seed: int, start_ms: int, end_ms: int | None, rate: float,
                 incident: Incident | None, id_prefix: str, improvement: Improvement | None = None,
                 emerging_from_ms: int | None = None) -> None:
        self._rng = random.Random(seed)
        # Comment wording draws from its own generator too (``comments.compose``); from
        # ``emerging_from_ms`` on, a new complaint appears in what unhappy customers write
        self._comment_rng = random.Random(f"comments-{seed}")
        self._emerging_from_ms = emerging_from_ms
        self._improvement = improvement
        # What unhappy customers do next draws from a generator of its own and adds events, so the
        # rest of a seeded run is the same event for event as without it
        self._aftermath = Aftermath(random.Random(f"aftermath-{seed}"))
        self._after_count = 0
        self._start_ms, self._end_ms = start_ms, end_ms
        self._rate = rate
        self._incident = incident
        self._id_prefix = id_prefix
        self._count = 0
        # (due event time, tie-break, customer_id, contact_reason): customers who will contact again
        self._repeats: list[tuple[int, int, str, str]] = []
        self._recent: list[str] = []

    def events(self) -> Iterator[TouchpointEvent]:
        """Canonical events (JSON form, epoch-ms times), ordered by ``received_at``."""
        pending: list[tuple[int, int, TouchpointEvent]] = []
        for occurred_at in self._arrivals():
            for planned in self._aftermath.due_until(occurred_at):
                follow = self._aftermath_event(planned)
                heapq.heappush(pending, (follow["received_at"], -self._after_count, follow))
            event = self._event(occurred_at)
            heapq.heappush(pending, (event["received_at"], self._count, event))
            # every later event is received after it occurred, i.e. after this arrival: safe to emit
            while pending[0][0] <= occurred_at:
                yield heapq.heappop(pending)[2]
        while pending:
            yield heapq.heappop(pending)[2]

    def _arrivals(self) -> Iterator[int]:
        # Thinning: candidates at the peak rate, each kept with probability curve/peak, gives an
        # exact inhomogeneous Poisson process whatever the rate (no per-minute rounding).
        rng = self._rng
        peak_per_ms = self._rate * DIURNAL_MAX / 1000
        t = float(self._start_ms)
        while True:
            t += rng.expovariate(peak_per_ms)
            if self._end_ms is not None and t >= self._end_ms:
                return
            if rng.random() * DIURNAL_MAX < diurnal_factor(t):
                yield int(t)

    def _event(self, occurred_at: int) -> TouchpointEvent:
        rng = self._rng
        channel = rng.choices(_CHANNELS, cum_weights=_CHANNEL_CUM)[0]
        if rng.random() < CONTACT_SHARE[channel]:
            event = self._contact(channel, occurred_at)
        elif channel == "kiosk":
            event = self._kiosk_press(occurred_at)
        else:
            event = self._response(channel, occurred_at)
        self._count += 1
        self._customer_side(event, occurred_at)
        event["event_id"] = f"{self._id_prefix}-{self._count}"
        event["occurred_at"] = occurred_at
        event["received_at"] = occurred_at + self._delivery_delay_ms(occurred_at)
        return event

    def _delivery_delay_ms(self, occurred_at: int) -> int:
        rng = self._rng
        if rng.random() < LATE_SHARE:
            late = int(math.exp(rng.uniform(_LATE_MIN_LOG, _LATE_MAX_LOG)))  # minutes to hours
            # a late arrival after the run's end would never be sent: keep it in the run
            if self._end_ms is None or occurred_at + late < self._end_ms:
                return late
        return rng.randint(100, 3000)

    def _response(self, channel: str, t: int) -> TouchpointEvent:
        rng = self._rng
        tp = rng.choices(RESPONSE_TOUCHPOINTS[channel], cum_weights=_TOUCHPOINT_CUM[channel])[0]
        event = blank_event(channel, "response", tp.name, tp.journey_stage)
        satisfied, (promoters, passives) = tp.satisfied, NPS_MIX.get(channel, (0.5, 0.3))
        if channel == "retail_partner":
            partner = self._at_partner_store(event)
            satisfied, promoters, passives = partner.satisfied, partner.promoters, partner.passives
        elif channel == "call_center":
            event["agent_id"] = self._agent(channel)
        if self._incident is not None:
            satisfied -= self._incident.drop_at(t, event)
        if self._improvement is not None:
            satisfied += self._improvement.lift_at(t, event)
        self._scores(event, tp, clamp_share(satisfied), promoters, passives)
        known = self._recent and rng.random() < RESPONSE_FROM_KNOWN_CUSTOMER
        event["customer_id"] = rng.choice(self._recent) if known else self._new_customer()
        if tp.journey_stage in ("purchase", "delivery") and channel in ("web", "mobile_app"):
            event["interaction_id"] = f"order-{rng.getrandbits(32):08x}"
        language = self._language()
        event["language"] = language
        event["comment"] = self._comment(rng, language, mood(event["csat"], event["nps"]), COMMENT_SHARE,
                                         tp.name, t)
        return event

    def _scores(self, event: TouchpointEvent, tp: Touchpoint, satisfied: float, promoters: float,
                passives: float) -> None:
        rng = self._rng
        if tp.asks_csat:
            event["csat"] = sample_csat(rng, satisfied)
        if rng.random() < tp.nps_share:
            event["nps"] = sample_nps(rng, promoters, passives)
        if rng.random() < tp.ces_share:
            event["ces"] = sample_ces(rng, hard=event["channel"] == "call_center")

    def _kiosk_press(self, t: int) -> TouchpointEvent:
        """A smiley-button press: anonymous (no customer), no text, CSAT 1, 2, 4 or 5 only."""
        rng = self._rng
        tps = RESPONSE_TOUCHPOINTS["kiosk"]
        tp = rng.choices(tps, cum_weights=_TOUCHPOINT_CUM["kiosk"])[0]
        location = rng.choice(KIOSK_LOCATIONS)
        event = blank_event("kiosk", "response", tp.name, tp.journey_stage)
        event["location_id"], event["region"] = location.location_id, location.region
        satisfied = tp.satisfied + location.satisfied_offset
        if self._incident is not None:
            satisfied -= self._incident.drop_at(t, event)
        event["csat"] = sample_smiley(rng, clamp_share(satisfied))
        return event

    def _contact(self, channel: str, t: int) -> TouchpointEvent:
        rng = self._rng
        customer, reason, repeat = self._contact_subject(t)
        touchpoint, stage = contact_touchpoint(channel, reason)
        event = blank_event(channel, "contact", touchpoint, stage)
        event["customer_id"], event["contact_reason"] = customer, reason
        event["interaction_id"] = f"{channel}-{rng.getrandbits(40):010x}"
        if channel in ("call_center", "chat"):
            event["agent_id"] = self._agent(channel)
        elif channel == "retail_partner":
            self._at_partner_store(event)
        resolved = rng.random() < resolve_probability(channel, event["agent_id"], repeat)
        complaint = rng.random() < (0.15 if repeat and not resolved else 0.045)
        language = self._language()
        event["resolved"], event["complaint"], event["language"] = resolved, complaint, language
        if complaint:
            event["comment"] = self._comment(rng, language, "bad", COMPLAINT_COMMENT_SHARE, touchpoint, t)
            self._aftermath.after_complaint(customer, t)
        self._plan_repeat(customer, reason, t, resolved)
        return event

    def _customer_side(self, event: TouchpointEvent, t: int) -> None:
        """The customer's CLV on the event, and their next move after a problem response."""
        customer, rng = event["customer_id"], self._aftermath.rng
        if customer and event["channel"] in CLV_CHANNELS and rng.random() < CLV_SHARE:
            event["attributes"]["clv"] = f"{customer_clv(customer):.2f}"
        if customer and event["kind"] == "response" and is_problem(event["csat"], event["nps"], event["ces"]):
            self._aftermath.after_problem(customer, t)

    def _aftermath_event(self, planned: Planned) -> TouchpointEvent:
        """A complaint call about an earlier bad experience, or a happy follow-up survey answer."""
        rng, customer, t = self._aftermath.rng, planned.customer_id, planned.due_ms
        language = "vi" if rng.random() < VIETNAMESE_SHARE else "en"
        if planned.kind == "complaint":
            event = blank_event("call_center", "contact", "agent_support", "support")
            event["contact_reason"], event["complaint"] = "complaint", True
            event["resolved"] = rng.random() < 0.6
            event["interaction_id"] = f"call_center-{rng.getrandbits(40):010x}"
            event["agent_id"] = f"agent-{rng.randint(1, 40):03d}"
            event["comment"] = self._comment(rng, language, "bad", COMPLAINT_COMMENT_SHARE,
                                             "agent_support", t)
            self._aftermath.after_complaint(customer, t)
        else:
            event = blank_event("email", "response", "followup_survey", "support")
            event["csat"] = 5 if rng.random() < 0.6 else 4
            event["nps"] = (10 if rng.random() < 0.5 else 9) if rng.random() < 0.5 else None
        self._after_count += 1
        event["customer_id"], event["language"] = customer, language
        self._customer_side(event, t)
        event["event_id"] = f"{self._id_prefix}-a{self._after_count}"
        event["occurred_at"], event["received_at"] = t, t + rng.randint(100, 3000)
        return event

    def _contact_subject(self, t: int) -> tuple[str, str, bool]:
        """(customer_id, contact_reason, is_repeat): a planned repeat that is due comes first."""
        rng = self._rng
        if self._repeats and self._repeats[0][0] <= t:
            _due, _tie, customer, reason = heapq.heappop(self._repeats)
            return customer, reason, True
        reason = rng.choices(_REASONS, cum_weights=_REASON_CUM)[0]
        if self._recent and rng.random() < SEVERAL_REASONS_SHARE:
            return rng.choice(self._recent), reason, False
        customer = self._new_customer()
        self._recent.append(customer)
        if len(self._recent) > RECENT_CUSTOMERS:
            self._recent[rng.randrange(RECENT_CUSTOMERS)] = self._recent.pop()
        return customer, reason, False

    def _plan_repeat(self, customer: str, reason: str, t: int, resolved: bool) -> None:
        # unresolved contacts come back far more often; some resolved ones come back anyway
        if self._rng.random() < (0.12 if resolved else 0.55) and len(self._repeats) < MAX_PENDING_REPEATS:
            due = t + repeat_gap_ms(self._rng)
            heapq.heappush(self._repeats, (due, self._count, customer, reason))

    def _at_partner_store(self, event: TouchpointEvent) -> Partner:
        rng = self._rng
        partner = rng.choices(PARTNERS, cum_weights=_PARTNER_CUM)[0]
        event["partner_id"] = partner.partner_id
        event["location_id"], event["region"] = rng.choice(partner.stores)
        return partner

    def _agent(self, channel: str) -> str:
        if channel == "chat":
            return f"chat-agent-{self._rng.randint(1, 12):03d}"
        return f"agent-{self._rng.randint(1, 40):03d}"

    def _new_customer(self) -> str:
        # random per seed, so runs with different seeds do not share customers (no false repeats)
        return f"cust-{self._rng.getrandbits(48):012x}"

    def _comment(self, rng: random.Random, language: str, tone: str, share: float, touchpoint: str,
                 t: int) -> str | None:
        """A comment (or None): whether, and its generic phrase, from ``rng``; its wording apart."""
        base = sample_comment(rng, language, tone, share)
        if base is None:
            return None
        emerging = self._emerging_from_ms is not None and t >= self._emerging_from_ms
        return compose(self._comment_rng, language, tone, base, touchpoint, emerging)

    def _language(self) -> str:
        return "vi" if self._rng.random() < VIETNAMESE_SHARE else "en"
