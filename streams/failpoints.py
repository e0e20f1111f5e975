"""Crash points for the fault matrix (``make chaos``): the worker dies at a chosen step of a batch.

Off unless ``CXPULSE_WORKER_FAILPOINT_FILE`` is set (never in production). The file holds
``<point> <n>``: the n-th time the worker reaches that point it deletes the file and exits at once,
as kill -9 would (nothing flushed, nothing acknowledged), so the matrix can stop it between any two
writes of a batch instead of hoping a signal lands there.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)
POINTS = ("after_dead_letters", "after_events", "after_followups", "after_fcr", "after_messages",
          "after_commit")
"""In the order a batch reaches them; ``after_commit`` is after the ledger insert, before the ack."""
EXIT_KILLED = 137


class Failpoints:
    """Checks the failpoint file at each point (one stat per point per batch when enabled)."""

    def __init__(self, path: str = "") -> None:
        self._path = Path(path) if path else None
        self._hits: dict[str, int] = {}

    def reach(self, point: str) -> None:
        """Exit here if the file names this point and its count is reached."""
        if self._path is None or not self._path.exists():
            return
        try:
            name, count = self._path.read_text().split()
        except (OSError, ValueError):
            return
        if name != point:
            return
        self._hits[point] = self._hits.get(point, 0) + 1
        if self._hits[point] >= int(count):
            self._path.unlink(missing_ok=True)
            log.warning("failpoint %s reached: exiting as if killed", point)
            logging.shutdown()
            os._exit(EXIT_KILLED)
