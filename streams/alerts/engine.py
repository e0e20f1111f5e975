"""The worker's side of alerting: the event-time clock, the detector's inputs, its outputs.

Every minute of event time (the newest complete minute the worker has seen) is evaluated once, in
order, from ClickHouse's minute counts (all partitions, all workers' data). A replay of history
therefore raises the alerts that history holds. Alert transitions are stored in ClickHouse and
returned for the agent to publish on ``cx.alerts``; gauges go to Prometheus.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sql.client import ServerDatabase
from sql.figures import csat_pct
from streams.alerts.detector import Detector, DetectorParams, Scope, WindowCounts
from streams.alerts.store import firing_alerts, insert_alerts, severity, window_counts
from streams.metrics import (
    ALERT_ACTIVE,
    KIOSK_LAST_FEEDBACK_AGE,
    SCOPE_CSAT_PCT,
    SCOPE_CSAT_RESPONSES,
)

log = logging.getLogger(__name__)
MAX_MINUTES_PER_RUN = 120
"""Catching up on a long replay is spread over several runs, so the agent is never held long."""
MAX_KIOSK_LOCATIONS = 1000
"""Kiosk locations with a liveness gauge (the most recently heard)."""
MAX_EXPORTED_SCOPES = 200
"""Scopes with CSAT gauges: the busiest, plus every scope with an alert firing."""
MAX_GAP_S = 6 * 3600
"""A jump of the clock by more than this (a gap in traffic, old data replayed, then new) is not
evaluated minute by minute: evaluation resumes 30 minutes before the new clock, and
``cxpulse alerts backtest`` covers the gap."""


class AlertEngine:
    """Owns the detector and the event-time clock of one worker."""

    def __init__(self, connect: Callable[[], ServerDatabase],
                 publish: Callable[[list[dict[str, Any]]], None],
                 params: DetectorParams | None = None, board_url: str = "") -> None:
        self._connect = connect
        self._publish = publish
        self.detector = Detector(params, board_url)
        self.clock_s: int | None = None
        """End of the newest complete minute of event time seen, never past the wall clock."""
        self.evaluated_s: int | None = None
        self.first_s: int | None = None
        """The oldest complete minute seen before the first evaluation: where evaluation starts."""
        self.resume_s: int | None = None
        """No minute before this is evaluated (a restored alert's FIRING was evaluated already)."""
        self.kiosk_last_seen_ms: dict[str, int] = {}
        self._outbox: list[dict[str, Any]] = []
        self._exported: set[tuple[str, str]] = set()
        self._restored = False
        self.leading = False
        """Whether this engine ran the detector last (it is the leader's)."""
        self._seen = threading.Lock()
        """``observe`` (the agent's loop) may run while ``run`` (in an executor thread) reads what it saw."""

    @property
    def pending(self) -> int:
        """Transitions not yet both published and stored."""
        return len(self._outbox)

    def observe(self, events: list[dict[str, Any]], now_ms: int | None = None) -> None:
        """Advance the event-time clock and the kiosk liveness from a batch of counted events.

        Event time is capped at the wall clock: an event claiming a future time (a source clock
        set wrong) is counted in its minute, but cannot move the clock past minutes still to come.
        """
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        with self._seen:
            self._observe(events, now_ms)

    def _observe(self, events: list[dict[str, Any]], now_ms: int) -> None:
        for event in events:
            if event["channel"] == "kiosk" and event.get("location_id"):
                location = event["location_id"]
                self.kiosk_last_seen_ms[location] = min(now_ms, max(
                    self.kiosk_last_seen_ms.get(location, 0), int(event["occurred_at"])))
        if len(self.kiosk_last_seen_ms) > MAX_KIOSK_LOCATIONS:  # free text must not grow without end
            newest = sorted(self.kiosk_last_seen_ms.items(), key=lambda kv: kv[1])[-MAX_KIOSK_LOCATIONS:]
            for location in self.kiosk_last_seen_ms.keys() - dict(newest).keys():
                try:
                    KIOSK_LAST_FEEDBACK_AGE.remove(location)
                except KeyError:  # never exported
                    pass
            self.kiosk_last_seen_ms = dict(newest)
        if events:
            newest_ms = min(now_ms, max(int(e["occurred_at"]) for e in events))
            newest_minute = newest_ms // 60_000 * 60
            if self.evaluated_s is None:  # one batch may hold hours of history: evaluate all of it
                oldest_minute = min(now_ms, min(int(e["occurred_at"]) for e in events)) // 60_000 * 60
                self.first_s = oldest_minute if self.first_s is None else min(self.first_s,
                                                                              oldest_minute)
            if self.clock_s is None or newest_minute > self.clock_s:
                self.clock_s = newest_minute  # the minute in progress is not complete: not evaluated

    def export_liveness(self) -> None:
        """The seconds since each kiosk location's last press this worker saw."""
        now_s = time.time()
        with self._seen:
            seen = list(self.kiosk_last_seen_ms.items())
        for location, seen_ms in seen:
            KIOSK_LAST_FEEDBACK_AGE.labels(location).set(max(0.0, now_s - seen_ms / 1000))

    def follow(self) -> None:
        """Another worker leads: the minutes seen so far are its to evaluate, not this worker's."""
        with self._seen:
            self.first_s = None

    def step_down(self) -> None:
        """Another worker leads now: forget the detector's state, withdraw this worker's alert gauges.

        Transitions not yet published are dropped with it: the new leader restores what is firing
        from ClickHouse and detects what is still going on.
        """
        self.detector = Detector(self.detector.params, self.detector.board_url)
        self.evaluated_s, self._outbox, self._restored, self.leading = None, [], False, False
        self.first_s = self.resume_s = None
        for gauge in (ALERT_ACTIVE, SCOPE_CSAT_PCT, SCOPE_CSAT_RESPONSES):
            gauge.clear()
        self._exported = set()

    def run(self) -> list[dict[str, Any]]:
        """Evaluate the minutes the clock passed since the last run; publish, then store, transitions.

        Returns the transitions published by this run (pending ones of earlier runs included).
        """
        self.leading = True
        self.export_liveness()
        if self.clock_s is None and not self._outbox:
            return []
        db = self._connect()
        try:
            self._restore(db)
            if self.clock_s is not None:
                self._outbox += self._evaluate(db)
            sent = self._outbox
            if sent:
                self._publish(sent)
                insert_alerts(db, sent)
                self._outbox = []
            return sent
        finally:
            db.close()

    def _evaluate(self, db: ServerDatabase) -> list[dict[str, Any]]:
        with self._seen:
            clock, first = self.clock_s, self.first_s
        assert clock is not None
        if self.evaluated_s is not None:
            start = self.evaluated_s + 60
        else:
            start = min(clock, first if first is not None else clock)
        if clock - start > MAX_GAP_S:
            log.info("event-time clock jumped %d min: resuming 30 min before it",
                     (clock - start) // 60)
            start = clock - 30 * 60
        if self.evaluated_s is None and self.resume_s is not None:
            start = min(clock, max(start, self.resume_s))
        ends = list(range(start, clock + 1, 60))[:MAX_MINUTES_PER_RUN]
        alerts: list[dict[str, Any]] = []
        counts: dict[Scope, WindowCounts] = {}
        for end_s, counts in zip(ends, window_counts(db, ends, self.detector.params), strict=True):
            alerts += self.detector.evaluate(end_s, counts)
        if ends:
            self.evaluated_s = ends[-1]
            self._export(counts, alerts)
        return alerts

    def _restore(self, db: ServerDatabase) -> None:
        if self._restored:
            return
        for row in firing_alerts(db):
            self.detector.restore(row["alert_id"], (row["scope_kind"], row["scope"]),
                                  int(row["first_seen"]))
            self._set_active(row["scope_kind"], row["scope"], "csat_pct", True)
            # the leader before this one evaluated up to this FIRING at least: not again
            self.resume_s = max(self.resume_s or 0, int(row["fired_at"]) + 60)
        self._restored = True

    def _export(self, counts: dict[Any, Any], alerts: list[dict[str, Any]]) -> None:
        """Gauges for the busiest scopes only: free-text dimensions must not grow label sets."""
        longest = max(self.detector.params.windows_min)
        firing = set(self.detector.firing())
        busiest = sorted(counts, key=lambda scope: -counts[scope][longest][0])[:MAX_EXPORTED_SCOPES]
        shown = set(busiest) | (firing & set(counts))
        for gone in self._exported - shown:
            for gauge in (SCOPE_CSAT_RESPONSES, SCOPE_CSAT_PCT):
                try:
                    gauge.remove(*gone)
                except KeyError:  # never set (no responses)
                    pass
        for kind, value in shown:
            n, s, _, _ = counts[(kind, value)][longest]
            SCOPE_CSAT_RESPONSES.labels(kind, value).set(n)
            pct = csat_pct(s, n)
            if pct is not None:
                SCOPE_CSAT_PCT.labels(kind, value).set(round(pct, 2))
        self._exported = shown
        for alert in alerts:
            self._set_active(alert["scope_kind"], alert["scope"], alert["metric"],
                             alert["status"] == "FIRING")

    @staticmethod
    def _set_active(scope_kind: str, scope: str, metric: str, active: bool) -> None:
        channel = scope.split("/")[0] if scope_kind.startswith("channel") else ""
        ALERT_ACTIVE.labels(scope_kind, scope, metric, severity(scope_kind), channel).set(int(active))
