"""Figures from ClickHouse: summed minute counts per group, and ratios derived from those sums.

Ratios are never averaged: every derived figure is computed from the group's summed counts, and is
``None`` where its denominator is 0 (a group with no responses has no CSAT, not a CSAT of 0).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sql.client import Database, checked_identifier

DIMENSIONS = ("channel", "touchpoint", "journey_stage", "partner_id", "location_id", "region")
GRAINS = {
    "minute": "minute",
    "hour": "toStartOfHour(minute)",
    "day": "toStartOfDay(minute)",
    "total": None,
}
SATISFACTION_COUNTS = (
    "events", "responses", "csat_responses", "csat_satisfied", "csat_sum", "nps_responses",
    "nps_promoters", "nps_detractors", "ces_responses", "ces_easy", "ces_sum", "contacts",
    "complaints", "fcr_eligible",
)
FCR_COUNTS = (
    "fcr_first_contacts", "fcr_success", "fcr_failure", "fcr_pending", "repeat_contacts",
)
"""Filled by the FCR agent; ``None`` until this deployment computes FCR outcomes."""


def _ratio(numerator: float, denominator: float, scale: float = 100.0) -> float | None:
    return None if not denominator else round(numerator / denominator * scale, 4)


def derive(row: dict[str, Any]) -> dict[str, Any]:
    """Add the derived figures (METRICS.md) to one group's counts."""
    out = dict(row)
    out["csat_pct"] = _ratio(row["csat_satisfied"], row["csat_responses"])
    out["csat_mean"] = _ratio(row["csat_sum"], row["csat_responses"], 1.0)
    promoters_minus_detractors = row["nps_promoters"] - row["nps_detractors"]
    out["nps"] = _ratio(promoters_minus_detractors, row["nps_responses"])
    out["ces_mean"] = _ratio(row["ces_sum"], row["ces_responses"], 1.0)
    out["ces_easy_pct"] = _ratio(row["ces_easy"], row["ces_responses"])
    out["complaint_rate"] = _ratio(row["complaints"], row["contacts"])
    for name in FCR_COUNTS:
        out.setdefault(name, None)
    success, failure = out["fcr_success"], out["fcr_failure"]
    out["fcr_pct"] = None if success is None or failure is None else _ratio(success, success + failure)
    return out


def figures_query(by: list[str], grain: str) -> str:
    """SELECT summing minute counts per (time bucket, dimensions) over ``[%(start)s, %(end)s)``."""
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {sorted(GRAINS)}, got {grain!r}")
    for dim in by:
        if dim not in DIMENSIONS:
            raise ValueError(f"unknown dimension {dim!r}; choose from {', '.join(DIMENSIONS)}")
    keys = [checked_identifier(d) for d in by]
    bucket = GRAINS[grain]
    select_keys = ([f"{bucket} AS bucket"] if bucket else []) + keys
    group_keys = (["bucket"] if bucket else []) + keys
    sums = ", ".join(f"sum({c}) AS {c}" for c in SATISFACTION_COUNTS)
    group_by = f" GROUP BY {', '.join(group_keys)} ORDER BY {', '.join(group_keys)}" if group_keys else ""
    return (
        f"SELECT {', '.join([*select_keys, sums])} FROM minute_satisfaction "  # noqa: S608 - identifiers checked
        "WHERE minute >= toDateTime(%(start)s) AND minute < toDateTime(%(end)s)" + group_by
    )


def figures(db: Database, start_s: int, end_s: int, by: list[str], grain: str) -> list[dict[str, Any]]:
    """Figures per group for event times in ``[start_s, end_s)`` (epoch seconds, minute buckets)."""
    rows = db.query(figures_query(by, grain), {"start": start_s, "end": end_s})
    result = []
    for row in rows:
        counts = {k: int(row[k]) for k in SATISFACTION_COUNTS}
        if not counts["events"] and not by and grain == "total":
            continue
        group = {k: row[k] for k in by}
        if "bucket" in row:
            group["bucket"] = _epoch_seconds(row["bucket"])
        result.append(derive({**group, **counts}))
    return result


def _epoch_seconds(value: Any) -> int:
    """A bucket start from either engine (datetime from the server, text from chDB) -> epoch s."""
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    return int(value.replace(tzinfo=UTC).timestamp())
