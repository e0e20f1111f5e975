"""A seeded month of omnichannel history with contact chains: what the fault matrix publishes.

Built to be hard on FCR: customers come back about the same reason on other channels after minutes,
days, just under and just over the 7-day window; some contacts share a timestamp; a few hot
(customer, reason) keys have a thousand contacts; responses follow contacts; anonymous kiosk presses
and partner feedback fill the rest. Every event lies inside its accepted window
(``received_at - 7 days <= occurred_at <= received_at``), and a share is re-sent as-is (connector
retries). Same seed, same arguments: the same events.
"""

from __future__ import annotations

import random
from typing import Any

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
CONTACT_CHANNELS = ("call_center", "chat", "web", "email", "mobile_app")
REASONS = ("billing", "delivery", "refund", "login", "plan_change")
PARTNERS = ("coopfood", "minimart", "bigc")
KIOSK_LOCATIONS = ("hcm-01", "hcm-02", "hn-01")

Event = dict[str, Any]


class History:
    """The events of one seeded history, before any delivery order is applied."""

    def __init__(self, seed: int, now_ms: int, days: int = 30, customers: int = 6000,
                 hot_keys: int = 3, versions: bool = False) -> None:
        """``versions``: contacts are also updated later (resolution set or changed, now and then
        the reason), and some are transferred (legs that continue the first one)."""
        self.rng = random.Random(seed)
        self.seed, self.customers, self.versions = seed, customers, versions
        self.now_ms = now_ms
        self.start_ms = now_ms - days * DAY_MS
        self.events: list[Event] = []
        self._n = 0
        self.tag = f"chaos{seed}"
        for c in range(customers):
            self._customer(f"{self.tag}-cust-{c}")
        for h in range(hot_keys):
            self._hot_key(f"{self.tag}-hot-{h}")
        for _ in range(customers * 6):
            self._anonymous_response()

    def _id(self, kind: str) -> str:
        self._n += 1
        return f"{self.tag}-{kind}-{self._n}"

    def _time(self, at: int) -> tuple[int, int]:
        """(occurred_at, received_at) for an event at ``at``: most arrive soon, some days late."""
        roll = self.rng.random()
        late = (self.rng.randint(0, 5 * MINUTE_MS) if roll < 0.7 else
                self.rng.randint(0, 6 * HOUR_MS) if roll < 0.9 else
                self.rng.randint(DAY_MS, 7 * DAY_MS - MINUTE_MS))
        occurred = min(at, self.now_ms - late - MINUTE_MS)
        return occurred, occurred + late

    def _emit(self, event: Event) -> None:
        self.events.append(event)
        if self.rng.random() < 0.03:  # a connector retry: the same event again
            self.events.append(dict(event))

    def _contact(self, customer: str, reason: str | None, at: int, channel: str) -> Event:
        occurred, received = self._time(at)
        touchpoint = {"call_center": "ivr_billing", "chat": "live_chat", "web": "help_center",
                      "email": "support_mail", "mobile_app": "app_support"}[channel]
        return {"event_id": self._id("contact"), "occurred_at": occurred, "received_at": received,
                "channel": channel, "source": "chaos", "kind": "contact", "touchpoint": touchpoint,
                "journey_stage": "support", "customer_id": customer, "contact_reason": reason,
                "resolved": self.rng.random() < 0.7, "complaint": self.rng.random() < 0.08,
                "agent_id": f"agent-{channel}-{self.rng.randint(1, 12)}",
                "region": self.rng.choice(("north", "south"))}

    def _gap(self) -> int:
        roll = self.rng.random()
        if roll < 0.45:
            return self.rng.randint(10 * MINUTE_MS, 2 * DAY_MS)  # a repeat
        if roll < 0.6:
            return 7 * DAY_MS + self.rng.choice((-MINUTE_MS, 0, 1, MINUTE_MS))  # at the boundary
        if roll < 0.65:
            return 0  # the same instant: ordered by event_id
        return self.rng.randint(8 * DAY_MS, 15 * DAY_MS)  # a new first contact

    def _customer(self, customer: str) -> None:
        for reason in self.rng.sample(REASONS, self.rng.randint(1, 2)):
            at = self.start_ms + self.rng.randint(0, 20 * DAY_MS)
            for _ in range(self.rng.randint(1, 5)):
                if at >= self.now_ms - MINUTE_MS:
                    break
                contact = self._contact(customer, reason, at, self.rng.choice(CONTACT_CHANNELS))
                self._emit(contact)
                if self.versions:
                    self._updates_and_legs(contact)
                if self.rng.random() < 0.5:
                    self._survey(customer, contact)
                at += self._gap()
        if self.rng.random() < 0.2:  # a contact without a reason: counted, not FCR-eligible
            at = self.start_ms + self.rng.randint(0, 29 * DAY_MS)
            self._emit(self._contact(customer, None, at, self.rng.choice(CONTACT_CHANNELS)))

    def _updates_and_legs(self, contact: Event) -> None:
        """Later versions of ``contact`` (as a contact center re-sends an updated record) and legs."""
        version = contact["received_at"]
        contact["version"] = version
        for _ in range(self.rng.choice((0, 0, 1, 2))):
            version += self.rng.randint(1, 3 * HOUR_MS)
            update: Event = {**contact, "version": version, "resolved": self.rng.random() < 0.6}
            if self.rng.random() < 0.15:  # the reason was recorded wrong, and corrected
                update["contact_reason"] = self.rng.choice(REASONS)
            self._emit(update)
        if self.rng.random() < 0.12:  # transferred: one or two more legs within minutes
            at = contact["occurred_at"]
            for _ in range(self.rng.randint(1, 2)):
                at += self.rng.randint(MINUTE_MS, 20 * MINUTE_MS)
                leg = self._contact(contact["customer_id"], contact["contact_reason"], at,
                                    contact["channel"])
                leg["attributes"] = {"continues_contact": contact["event_id"]}
                leg["version"] = leg["received_at"]
                self._emit(leg)

    def _hot_key(self, customer: str) -> None:
        at = self.start_ms
        while at < self.now_ms - HOUR_MS:
            self._emit(self._contact(customer, "billing", at, self.rng.choice(CONTACT_CHANNELS)))
            at += self.rng.randint(5 * MINUTE_MS, 80 * MINUTE_MS)

    def _survey(self, customer: str, contact: Event) -> None:
        occurred, received = self._time(contact["occurred_at"] + self.rng.randint(MINUTE_MS, HOUR_MS))
        happy = contact["resolved"]
        event: Event = {
            "event_id": self._id("survey"), "occurred_at": occurred, "received_at": received,
            "channel": contact["channel"], "source": "chaos", "kind": "response",
            "touchpoint": contact["touchpoint"], "journey_stage": "support", "customer_id": customer,
            "csat": self.rng.choice((4, 5, 5, 3) if happy else (1, 2, 3, 4)),
            "attributes": {"resolved_first_contact": "yes" if happy else "no"},
        }
        if self.rng.random() < 0.6:
            event["nps"] = self.rng.randint(6, 10) if happy else self.rng.randint(0, 8)
        if self.rng.random() < 0.4:
            event["ces"] = self.rng.randint(3, 7) if happy else self.rng.randint(1, 5)
        self._emit(event)

    def _anonymous_response(self) -> None:
        at = self.start_ms + self.rng.randint(0, 30 * DAY_MS - HOUR_MS)
        occurred, received = self._time(at)
        if self.rng.random() < 0.5:
            event: Event = {"channel": "kiosk", "touchpoint": "store_exit", "journey_stage": "purchase",
                            "location_id": self.rng.choice(KIOSK_LOCATIONS),
                            "csat": self.rng.choice((1, 2, 4, 5, 5))}
        else:
            event = {"channel": "retail_partner", "touchpoint": "checkout", "journey_stage": "purchase",
                     "partner_id": self.rng.choice(PARTNERS),
                     "location_id": f"store-{self.rng.randint(1, 9)}",
                     "nps": self.rng.randint(0, 10), "ces": self.rng.randint(1, 7)}
        self._emit({"event_id": self._id("resp"), "occurred_at": occurred, "received_at": received,
                    "source": "chaos", "kind": "response", **event})


def received_order(events: list[Event]) -> list[Event]:
    """The order a live feed delivers them in."""
    return sorted(events, key=lambda e: (e["received_at"], e["event_id"]))


def shuffled(events: list[Event], seed: int) -> list[Event]:
    """A backfill: the same events in no particular order."""
    order = list(events)
    random.Random(seed).shuffle(order)
    return order
