"""What the detector reads from and writes to ClickHouse: window counts, history, alerts."""

from __future__ import annotations

from collections import defaultdict
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


def window_counts(db: Database, end_s: int, params: DetectorParams) -> dict[Scope, WindowCounts]:
    """Recent and baseline counts of every scope for windows ending at ``end_s``: one query."""
    longest = max(params.windows_min) * 60
    columns = []
    bounds: dict[str, int] = {"start": end_s - longest - params.baseline_s, "end": end_s}
    for w in params.windows_min:
        bounds[f"r{w}"] = end_s - w * 60
        bounds[f"b{w}"] = end_s - w * 60 - params.baseline_s
        recent = f"minute >= toDateTime(%(r{w})s)"
        base = f"minute >= toDateTime(%(b{w})s) AND minute < toDateTime(%(r{w})s)"
        columns += [f"sumIf(csat_responses, {recent}) AS n{w}",
                    f"sumIf(csat_satisfied, {recent}) AS s{w}",
                    f"sumIf(csat_responses, {base}) AS bn{w}",
                    f"sumIf(csat_satisfied, {base}) AS bs{w}"]
    query = (
        f"SELECT channel, touchpoint, partner_id, location_id, {', '.join(columns)} "  # noqa: S608
        "FROM minute_counts WHERE minute >= toDateTime(%(start)s) AND minute < toDateTime(%(end)s) "
        "GROUP BY channel, touchpoint, partner_id, location_id"
    )
    result: dict[Scope, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0]))
    for row in db.query(query, bounds):
        for scope in scopes_of(row["channel"], row["touchpoint"], row["partner_id"], row["location_id"]):
            for w in params.windows_min:
                cell = result[scope][w]
                for i, name in enumerate((f"n{w}", f"s{w}", f"bn{w}", f"bs{w}")):
                    cell[i] += int(row[name])
    return {scope: {w: (c[0], c[1], c[2], c[3]) for w, c in windows.items()}
            for scope, windows in result.items()}


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
