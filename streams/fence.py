"""When a worker may still write a batch: never after its partitions could have moved to another.

Two workers must never write for one partition at once (the minute ledger's checkpoints assume one
writer). A partition moves only through a rebalance, and a rebalance waits for this worker's revocation,
which waits for the batch in flight. So a batch may keep writing for ``grace_s`` after a rebalance
started, enough for a healthy write; after that (ClickHouse slow or down) it stops, unwritten and
unacknowledged, and the worker exits so the next owner reads it again. The group evicts a member
that takes longer than the rebalance timeout; ``grace_s`` plus the longest ClickHouse call must stay
below it. A batch that cannot be written within ``max_batch_s`` stops the same way: past the poll
interval the consumer leaves the group without a revocation this worker would see first.
"""

from __future__ import annotations

import threading
import time


class Fence:
    """Tracks rebalances (from the consumer's thread) and answers ``may_write`` (from the pipeline's)."""

    def __init__(self, grace_s: float = 5.0, max_batch_s: float = 240.0) -> None:
        self.grace_s = grace_s
        self.max_batch_s = max_batch_s
        self._lock = threading.Lock()
        self._rebalance_started: float | None = None
        self.stopping = threading.Event()
        """Set when the worker shuts down: a batch whose write failed is abandoned, not retried."""

    def rebalance_started(self) -> None:
        """Partitions are being revoked (called as early as Faust knows)."""
        with self._lock:
            if self._rebalance_started is None:
                self._rebalance_started = time.monotonic()

    def rebalance_done(self) -> None:
        """Partitions were assigned again."""
        with self._lock:
            self._rebalance_started = None

    def may_write(self, batch_started: float) -> bool:
        """Whether a batch that started at ``batch_started`` (monotonic) may still write."""
        return self.remaining(batch_started) > 0

    def remaining(self, batch_started: float) -> float:
        """Seconds until a batch that started at ``batch_started`` must stop writing (<= 0: now)."""
        now = time.monotonic()
        with self._lock:
            rebalance = self._rebalance_started
        left = batch_started + self.max_batch_s - now
        if rebalance is not None:
            left = min(left, rebalance + self.grace_s - now)
        return left
