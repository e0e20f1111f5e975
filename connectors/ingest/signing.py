r"""Request signing, replay protection and per-key rate limits of the ingest service. Pure, no I/O.

A server key signs each request::

    X-Cx-Key: cxk_...
    X-Cx-Timestamp: <unix seconds>
    X-Cx-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>\n<METHOD>\n<path>\n" + body)>

The timestamp must be within ``REPLAY_WINDOW_S`` of the server's clock, and a signature is accepted
once: the same signed request sent again inside the window is a replay (outside it, it is stale).
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import re
from dataclasses import dataclass

REPLAY_WINDOW_S = 300
SIGNATURE_SCHEME = "sha256="


def string_to_sign(timestamp: str, method: str, path: str, body: bytes) -> bytes:
    """The bytes a signature covers: timestamp, method, path (with query) and the raw body."""
    return f"{timestamp}\n{method.upper()}\n{path}\n".encode() + body


def sign(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    """The ``X-Cx-Signature`` header value for one request (what clients compute)."""
    digest = hmac.new(secret.encode(), string_to_sign(timestamp, method, path, body),
                      hashlib.sha256).hexdigest()
    return SIGNATURE_SCHEME + digest


_SIGNATURE_RE = re.compile(r"sha256=[0-9a-f]{64}")
_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")


def canonical_signature(header: str) -> str | None:
    """The signature header in its one accepted spelling, or None if malformed.

    One spelling only (``sha256=`` + 64 lowercase hex digits, surrounding spaces and tabs dropped),
    so a replay cannot slip past the replay cache by decorating the header.
    """
    value = header.strip(" \t")
    return value if _SIGNATURE_RE.fullmatch(value) else None


def signature_valid(secret: str, signature: str, timestamp: str, method: str, path: str,
                    body: bytes) -> bool:
    """Constant-time comparison of a canonical signature with the expected one."""
    return hmac.compare_digest(sign(secret, timestamp, method, path, body), signature)


def timestamp_fresh(timestamp: str, now: float, window_s: int = REPLAY_WINDOW_S) -> bool:
    """Whether ``timestamp`` (unix seconds, ASCII digits) is within ``window_s`` of ``now``."""
    if not _TIMESTAMP_RE.fullmatch(timestamp):
        return False
    return abs(int(timestamp) - now) <= window_s


class ReplayCache:
    """Signatures seen inside the replay window; each is remembered until it would be stale anyway.

    Memory is bounded by the requests of one window (a signature is 71 bytes).
    """

    def __init__(self, window_s: int = REPLAY_WINDOW_S) -> None:
        self._window = window_s
        self._seen: set[tuple[str, str]] = set()
        self._expiry: list[tuple[float, tuple[str, str]]] = []

    def first_use(self, key_id: str, signature: str, timestamp: int, now: float) -> bool:
        """Record a signature; False if it was already used (a replay)."""
        self._purge(now)
        entry = (key_id, signature)
        if entry in self._seen:
            return False
        self._seen.add(entry)
        heapq.heappush(self._expiry, (timestamp + self._window + 1, entry))
        return True

    def forget(self, key_id: str, signature: str) -> None:
        """Allow a signature again: its request was refused or failed, so a retry is no replay."""
        self._seen.discard((key_id, signature))

    def _purge(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] < now:
            _, entry = heapq.heappop(self._expiry)
            self._seen.discard(entry)

    def __len__(self) -> int:
        return len(self._seen)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per key: ``rate`` items per second on average, bursts up to ``burst``.

    Each event of a batch costs one token, so a batch cannot bypass the limit.
    """

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key_id: str, cost: int, rate: float, burst: int, now: float) -> float:
        """Spend ``cost`` tokens: 0.0 if allowed, else the seconds to wait before retrying."""
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(float(burst), now)
        bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if cost > burst:
            return float("inf")
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / rate
