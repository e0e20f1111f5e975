"""State several ingest instances behind a load balancer share: rate limits and the replay cache, in Redis.

With ``CXPULSE_INGEST_REDIS_URL`` set, every instance counts against the same limits and sees the
same used signatures, so a replay sent to another instance is refused (409) and a key's rate is its
rate whichever instances serve it. Without it each instance keeps its own (``signing.ReplayCache``,
``signing.RateLimiter``): right for one instance.

Rate limits over Redis come from the ``limits`` library (moving window): a key limited to ``rate``
items/s with bursts of ``burst`` may spend at most ``burst`` items in any ``burst / rate`` seconds
(rounded up to whole seconds), which bounds its average at ``rate`` and its bursts at ``burst``.
"""

from __future__ import annotations

import math
import time
from typing import Protocol

import redis
from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from connectors.ingest.signing import REPLAY_WINDOW_S


class RateLimits(Protocol):
    """A token budget per identifier."""

    def take(self, key_id: str, cost: int, rate: float, burst: int, now: float) -> float:
        """Spend ``cost``: 0.0 if allowed, else the seconds to wait before retrying."""
        ...


class Replays(Protocol):
    """Signatures already used inside the replay window."""

    def first_use(self, key_id: str, signature: str, timestamp: int, now: float) -> bool:
        """Record a signature; False if it was already used (a replay)."""
        ...

    def forget(self, key_id: str, signature: str) -> None:
        """Allow a signature again (its request was refused or failed)."""
        ...


class RedisRateLimiter:
    """Moving-window limits shared through Redis (``limits``)."""

    def __init__(self, url: str, prefix: str) -> None:
        self._limiter = MovingWindowRateLimiter(RedisStorage(url, key_prefix=f"{prefix}limits"))

    def take(self, key_id: str, cost: int, rate: float, burst: int, now: float) -> float:
        """Spend ``cost`` items of ``key_id``'s window (``now`` unused: Redis keeps the time)."""
        if cost > burst:
            return float("inf")
        item = RateLimitItemPerSecond(burst, max(1, math.ceil(burst / rate)))
        if self._limiter.hit(item, key_id, cost=cost):
            return 0.0
        reset = self._limiter.get_window_stats(item, key_id).reset_time
        return max(0.001, reset - time.time())


class RedisReplayCache:
    """Used signatures as Redis keys that expire when their request would be stale anyway."""

    def __init__(self, url: str, prefix: str, window_s: int = REPLAY_WINDOW_S) -> None:
        self._redis = redis.Redis.from_url(url)
        self._prefix = f"{prefix}replay:"
        self._window = window_s

    def _key(self, key_id: str, signature: str) -> str:
        return f"{self._prefix}{key_id}:{signature}"

    def first_use(self, key_id: str, signature: str, timestamp: int, now: float) -> bool:
        """SET NX: exactly one instance records a signature first."""
        expires = max(int(now) + 1, timestamp + self._window + 1)
        return bool(self._redis.set(self._key(key_id, signature), b"1", nx=True, exat=expires))

    def forget(self, key_id: str, signature: str) -> None:
        """Allow the signature again."""
        self._redis.delete(self._key(key_id, signature))
