"""What the detector reads from and writes to ClickHouse: window counts, history, alerts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

from sql.client import Database, ServerDatabase
from sql.figures import epoch_seconds
from streams.alerts.detector import DetectorParams, MinuteHistory, Scope, WindowCounts, scopes_of

ALERT_COLUMNS = (
    "alert_id", "status", "scope_kind", "scope", "metric", "severity", "at", "first_seen",
    "window_min", "recent_pct", "recent_n", "recent_low", "recent_high", "baseline_pct",
    "baseline_n", "effect_pts", "z", "p_value", "method", "link",
)
_ROWS = (
    "SELECT minute, channel, touchpoint, partner_id, location_id, sum(csat_responses) AS n, "
    "sum(csat_satisfied) AS s FROM minute_counts "
    "WHERE minute >= toDateTime(%(start)s) AND minute < toDateTime(%(end)s) "
    "GROUP BY minute, channel, touchpoint, partner_id, location_id HAVING n > 0"
)


def severity(scope_kind: str) -> str:
    """Whole channels page someone; narrower scopes open a ticket."""
    return "page" if scope_kind == "channel" else "ticket"


def load_history(db: Database, start_s: int, end_s: int) -> MinuteHistory:
    """Minute CSAT counts of [start_s, end_s) per scope."""
    history = MinuteHistory()
    for row in db.query(_ROWS, {"start": start_s, "end": end_s}):
        history.add(epoch_seconds(row["minute"]), row["channel"], row["touchpoint"], row["partner_id"],
                    row["location_id"], int(row["n"]), int(row["s"]))
    return history


_SPANS = (
    "SELECT channel, touchpoint, partner_id, location_id, "
    "arrayCount(p -> p <= toUInt32(minute), %(points)s) AS span, count() AS present, "
    "sum(csat_responses) AS n, sum(csat_satisfied) AS s FROM minute_counts "
    "WHERE minute >= toDateTime(%(start)s) AND minute < toDateTime(%(end)s) "
    "GROUP BY channel, touchpoint, partner_id, location_id, span"
)


Bounds = tuple[int, list[tuple[int, int, int]]]
"""An end, and for each window: its minutes, where its recent span and its baseline start."""


def _window_bounds(end_s: int, params: DetectorParams) -> Bounds:
    return end_s, [(w, end_s - w * 60, end_s - w * 60 - params.baseline_s) for w in params.windows_min]


def window_counts(db: Database, ends: Sequence[int], params: DetectorParams
                  ) -> list[dict[Scope, WindowCounts]]:
    """Recent and baseline counts of every scope for the windows ending at each of ``ends``: one query.

    Every window runs between two of the ends' bounds (an end, a window's start, a baseline's
    start). ClickHouse sums each scope's rows between consecutive bounds once (a row's span is the
    number of bounds at or before its minute), and each window is a difference of running sums of
    those spans. A query per end read the whole baseline week again for every minute evaluated: 30
    minutes of catch-up after a backlog cost about 0.4 s of the server's CPU. An end's counts hold
    the scopes with a row in its longest baseline and window, as that end's own query would.
    """
    if not ends:
        return []
    bounds = [_window_bounds(end_s, params) for end_s in ends]
    points = sorted({t for end_s, windows in bounds for w in windows for t in (end_s, *w[1:])})
    at = {t: i for i, t in enumerate(points)}
    spans: dict[Scope, list[list[int]]] = defaultdict(lambda: [[0] * len(points) for _ in range(3)])
    for row in db.query(_SPANS, {"points": points, "start": points[0], "end": points[-1]}):
        span = int(row["span"])
        for scope in scopes_of(row["channel"], row["touchpoint"], row["partner_id"], row["location_id"]):
            n, s, present = spans[scope]
            n[span] += int(row["n"])
            s[span] += int(row["s"])
            present[span] += int(row["present"])
    totals = {scope: [list(accumulate(values)) for values in sums] for scope, sums in spans.items()}
    return [_counts_at(end_bounds, at, totals) for end_bounds in bounds]


def _counts_at(bounds: Bounds, at: dict[int, int], totals: dict[Scope, list[list[int]]]
               ) -> dict[Scope, WindowCounts]:
    """The windows of one end from running sums (``totals[scope]``: n, s, rows) by bound."""
    end_s, windows = bounds
    end = at[end_s]
    spans = [(w, at[recent], at[base]) for w, recent, base in windows]
    first = min(base for _, _, base in spans)  # the longest window's baseline starts first
    counts: dict[Scope, WindowCounts] = {}
    for scope, (n, s, present) in totals.items():
        if present[end] == present[first]:  # no row in this end's range: not one of its scopes
            continue
        counts[scope] = {w: (n[end] - n[recent], s[end] - s[recent], n[recent] - n[base],
                             s[recent] - s[base]) for w, recent, base in spans}
    return counts


def alert_row(alert: dict[str, Any]) -> tuple[Any, ...]:
    """One ``alerts`` row."""
    low, high = alert.get("recent_interval") or (None, None)
    return (
        alert["alert_id"], alert["status"], alert["scope_kind"], alert["scope"], alert["metric"],
        severity(alert["scope_kind"]), alert["at"], alert["first_seen"] or alert["at"],
        alert.get("window_min", 0), alert.get("recent_pct"), alert.get("recent_n", 0), low, high,
        alert.get("baseline_pct"), alert.get("baseline_n", 0), alert.get("effect_pts"),
        alert.get("z"), alert.get("p_value"), alert["method"], alert["link"],
    )


def insert_alerts(db: ServerDatabase, alerts: list[dict[str, Any]]) -> None:
    """Store alert transitions (idempotent per alert_id and status)."""
    if alerts:
        db.insert("alerts", ALERT_COLUMNS, [alert_row(a) for a in alerts])


def firing_alerts(db: Database) -> list[dict[str, Any]]:
    """Alerts FIRING and not RESOLVED: restored into the detector after a restart."""
    return db.query(
        "SELECT alert_id, scope_kind, scope, toUInt32(first_seen) AS first_seen, "
        "toUInt32(max(at)) AS fired_at FROM alerts FINAL GROUP BY alert_id, scope_kind, scope, "
        "first_seen HAVING countIf(status = 'RESOLVED') = 0"
    )
