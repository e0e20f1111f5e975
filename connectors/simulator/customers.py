"""What simulated customers are worth and what unhappy ones do next.

- **CLV**: every customer has a lifetime value, drawn once from their id (lognormal, median about
  245 in the currency), so no state is kept; systems that know the customer (web, app, call center,
  chat, email) put it on most events as ``attributes.clv``; the rest leave it out and the CX layer
  falls back to the channel's default.
- **After a problem** (a response with CSAT <= 2, NPS <= 6 or CES <= 3) a customer complains with
  probability ``COMPLAIN_SHARE``, a few hours to two days later; a complainant answers a follow-up
  survey positively (recovers) with probability ``RECOVER_AFTER_COMPLAINT`` within about three weeks,
  else goes quiet. A silent customer sometimes comes back happy on their own
  (``RECOVER_ON_THEIR_OWN``), sometimes only after the 30-day recovery window.

``Aftermath`` plans those events in event time with a generator of its own; the traffic engine adds
each one when it is due, leaving the rest of a seeded run exactly as it was.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from connectors.simulator.model import DAY_MS, HOUR_MS, MINUTE_MS

CLV_CHANNELS: Final = frozenset({"web", "mobile_app", "call_center", "chat", "email"})
CLV_SHARE: Final = 0.8
"""Share of those channels' events that carry ``attributes.clv``."""
COMPLAIN_SHARE: Final = 0.1
RECOVER_AFTER_COMPLAINT: Final = 0.55
RECOVER_ON_THEIR_OWN: Final = 0.12
MAX_PLANNED: Final = 100_000
"""Bounds memory on endless runs: past it, no more follow-up behaviour is planned."""


def customer_clv(customer_id: str) -> float:
    """The customer's lifetime value: the same id always gives the same value (2 decimals)."""
    seed = int.from_bytes(hashlib.sha256(customer_id.encode()).digest()[:8], "big")
    return round(30 + random.Random(seed).lognormvariate(5.3, 0.7), 2)


def is_problem(csat: int | None, nps: int | None, ces: int | None) -> bool:
    """A problem experience of a response (METRICS.md)."""
    return ((csat is not None and csat <= 2) or (nps is not None and nps <= 6)
            or (ces is not None and ces <= 3))


@dataclass(frozen=True, order=True)
class Planned:
    """A customer's next move, due at ``due_ms`` (event time): ``complaint`` or ``recovery``."""

    due_ms: int
    tie: int
    kind: str
    customer_id: str


class Aftermath:
    """Plans complaints and recoveries of unhappy customers; hands each out once it is due."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        """The generator every draw about customers' behaviour (and CLV on events) comes from."""
        self._plans: list[Planned] = []
        self._count = 0

    def _plan(self, kind: str, customer_id: str, due_ms: int) -> None:
        if len(self._plans) < MAX_PLANNED:
            self._count += 1
            heapq.heappush(self._plans, Planned(due_ms, self._count, kind, customer_id))

    def after_problem(self, customer_id: str, t_ms: int) -> None:
        """A customer just had a problem: complain, recover on their own, or stay silent."""
        u = self.rng.random()
        if u < COMPLAIN_SHARE:
            self._plan("complaint", customer_id, t_ms + int(self.rng.uniform(30 * MINUTE_MS, 2 * DAY_MS)))
        elif u < COMPLAIN_SHARE + RECOVER_ON_THEIR_OWN:
            self._plan("recovery", customer_id, t_ms + int(self.rng.uniform(2 * DAY_MS, 40 * DAY_MS)))

    def after_complaint(self, customer_id: str, t_ms: int) -> None:
        """A customer complained: a follow-up wins them back, or not."""
        if self.rng.random() < RECOVER_AFTER_COMPLAINT:
            self._plan("recovery", customer_id, t_ms + int(self.rng.uniform(2 * HOUR_MS, 21 * DAY_MS)))

    def due_until(self, t_ms: int) -> Iterator[Planned]:
        """Every planned move due at or before ``t_ms``, earliest first, each taken off the plan."""
        while self._plans and self._plans[0].due_ms <= t_ms:
            yield heapq.heappop(self._plans)
