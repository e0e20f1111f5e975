"""Closed-loop follow-ups from ClickHouse: status and recovery decided at query time, exactly.

A follow-up (a row of ``followups``, latest version via ``FINAL``, not ``cancelled``: a newer version
of its trigger took it back) is, as of a clock ``as_of``:

- **recovered** iff its customer (non-empty ``customer_id``) has a stored event with CSAT >= 4
  (``touchpoint_events.csat_satisfied``, latest version) whose event time ``t`` (ms) satisfies
  ``occurred_at_ms < t <= recover_by_ms`` (the 30-day window, stored on the row) and ``t <= as_of``.
  Being a function of the stored events only, it does not depend on arrival order: a recovering
  response may arrive before or after the trigger, days late, and counts iff it is later in event time;
- else **overdue** (open past its SLA) iff ``due_at_ms < as_of``;
- else **open**.

Anonymous follow-ups are never recovered. Follow-ups are selected by the trigger's event time.
Counts, not ratios: ``recovery_pct = recovered / recoverable`` (recoverable = with a customer_id),
NULL where 0. It only grows as windows run (a recovery is never undone).

The SQL runs on ClickHouse 18.16 and modern ClickHouse (18.16 joins only on equality, hence a
``LEFT JOIN ... USING customer_id`` followed by conditional aggregates). The same SQL serves the
boards: build it with ``GRAFANA_MACROS`` instead of ``BOUND_PARAMETERS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sql.client import Database, checked_identifier
from sql.events import latest_events

STATUSES: Final = ("open", "overdue", "recovered")
GROUPABLE: Final = ("location_id", "partner_id", "route", "channel", "touchpoint", "region", "agent_id")
"""Dimensions a recovery rate may be grouped by."""
FOLLOWUP_FIELDS: Final = (
    "event_id", "occurred_at_ms", "customer_id", "kind", "channel", "touchpoint", "journey_stage",
    "partner_id", "location_id", "region", "agent_id", "route", "low_csat", "detractor", "complaint",
    "csat", "nps", "due_at_ms", "recover_by_ms",
)
"""Stored columns every status row carries (plus ``occurred_at``/``due_at`` DateTimes for boards)."""
RATE_COUNTS: Final = ("followups_created", "recoverable", "recovered", "open_followups",
                      "overdue_followups")


@dataclass(frozen=True)
class Bounds:
    """SQL for the trigger time filter and the clock: code constants, never values from input.

    ``trigger_filter`` is a condition on a table's ``occurred_at``; ``from_time`` its lower bound;
    ``as_of`` the clock (a DateTime expression).
    """

    trigger_filter: str
    from_time: str
    as_of: str


BOUND_PARAMETERS: Final = Bounds(
    "occurred_at >= toDateTime(%(start)s) AND occurred_at < toDateTime(%(end)s)",
    "toDateTime(%(start)s)", "toDateTime(%(as_of)s)",
)
"""Triggers in ``[%(start)s, %(end)s)``, epoch seconds, as of ``%(as_of)s``: the Python API."""
GRAFANA_MACROS: Final = Bounds(
    "toStartOfMinute(occurred_at) >= $__fromTime AND toStartOfMinute(occurred_at) <= $__toTime",
    "$__fromTime", "now()",
)
"""Triggers whose minute lies in the board's time range (both ends included, exactly as
``$__timeFilter(minute)`` selects events on the other boards), as of now: for panels."""


def followup_status_sql(bounds: Bounds = BOUND_PARAMETERS) -> str:
    """One row per follow-up in range, with its recovery and status.

    Columns: the stored fields, ``is_recovered``, ``recovered_at_ms`` (event time of the first
    recovering response, or NULL) and ``status`` (see the module doc).
    """
    fields = ", ".join((*FOLLOWUP_FIELDS, "occurred_at", "due_at"))
    responses = latest_events(
        f"csat_satisfied = 1 AND customer_id != '' AND occurred_at >= {bounds.from_time} "  # noqa: S608
        f"AND occurred_at <= {bounds.as_of} AND customer_id GLOBAL IN (SELECT customer_id "
        f"FROM followups WHERE {bounds.trigger_filter} AND customer_id != '')")
    recovering = ("recovery_ms > occurred_at_ms AND recovery_ms <= recover_by_ms "
                  "AND recovery_ms <= as_of_ms")
    return (
        f"SELECT {fields}, recoveries > 0 AS is_recovered, "  # noqa: S608 - code constants only
        "if(recoveries > 0, first_recovery_ms, NULL) AS recovered_at_ms, "
        "multiIf(recoveries > 0, 'recovered', due_at_ms < as_of_ms, 'overdue', 'open') AS status "
        f"FROM (SELECT {fields}, as_of_ms, countIf({recovering}) AS recoveries, "
        f"minIf(recovery_ms, {recovering}) AS first_recovery_ms "
        f"FROM (SELECT {fields}, toInt64(toUInt32({bounds.as_of})) * 1000 AS as_of_ms "
        f"FROM (SELECT * FROM followups FINAL WHERE {bounds.trigger_filter}) WHERE cancelled = 0) "
        "AS triggers "
        f"ALL LEFT JOIN (SELECT customer_id, occurred_at_ms AS recovery_ms FROM {responses}) "
        "AS recoveries_of_customers USING customer_id "
        f"GROUP BY {fields}, as_of_ms)"
    )


def recovery_rate_sql(by: Sequence[str] = ("location_id",), bounds: Bounds = BOUND_PARAMETERS,
                      min_n: str | None = None) -> str:
    """Counts per group (``RATE_COUNTS``) and ``recovery_pct`` (NULL where nothing is recoverable).

    With ``min_n`` (an SQL expression, e.g. a board's variable) ``recovery_pct`` is also NULL where
    fewer follow-ups than that are recoverable (METRICS.md, minimum n).
    """
    keys = _checked_keys(by)
    head = "".join(f"{k}, " for k in keys)
    pct = "100 * sum(is_recovered) / nullIf(sum(customer_id != ''), 0)"
    if min_n is not None:
        pct = f"if(sum(customer_id != '') >= {min_n}, {pct}, NULL)"
    group = f" GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}" if keys else ""
    return (
        f"SELECT {head}count() AS followups_created, "  # noqa: S608 - identifiers checked
        "sum(customer_id != '') AS recoverable, sum(is_recovered) AS recovered, "
        "sum(status = 'open') AS open_followups, sum(status = 'overdue') AS overdue_followups, "
        f"{pct} AS recovery_pct "
        f"FROM ({followup_status_sql(bounds)}){group}"
    )


def open_past_sla_sql(bounds: Bounds = BOUND_PARAMETERS) -> str:
    """Follow-ups open past their SLA, per route: how many, and the oldest due time (ms)."""
    return (
        "SELECT route, count() AS overdue_followups, min(due_at_ms) AS oldest_due_at_ms "  # noqa: S608
        f"FROM ({followup_status_sql(bounds)}) WHERE status = 'overdue' "
        "GROUP BY route ORDER BY overdue_followups DESC, route"
    )


def followup_list_sql() -> str:
    """Follow-ups in range, optionally of one status / route, most urgent first (bound parameters)."""
    return (
        f"SELECT * FROM ({followup_status_sql()}) "  # noqa: S608 - code constants only
        "WHERE (%(status)s = '' OR status = %(status)s) AND (%(route)s = '' OR route = %(route)s) "
        "ORDER BY due_at_ms, event_id LIMIT %(limit)s"
    )


def _checked_keys(by: Sequence[str]) -> list[str]:
    for key in by:
        if key not in GROUPABLE:
            raise ValueError(f"cannot group follow-ups by {key!r}; choose from {', '.join(GROUPABLE)}")
    return [checked_identifier(k) for k in by]


def _params(start_s: int, end_s: int, as_of_s: int | None) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    return {"start": start_s, "end": end_s, "as_of": now if as_of_s is None else as_of_s}


def followup_list(db: Database, start_s: int, end_s: int, as_of_s: int | None = None,
                  status: str = "", route: str = "", limit: int = 1000) -> list[dict[str, Any]]:
    """Follow-ups triggered in ``[start_s, end_s)`` (epoch s), with their status as of ``as_of_s``.

    ``as_of_s`` defaults to now; ``status`` is one of ``STATUSES`` or "" for all, ``route`` an exact
    route or "" for all.
    """
    if status and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    params = _params(start_s, end_s, as_of_s) | {"status": status, "route": route, "limit": int(limit)}
    return [_followup(row) for row in db.query(followup_list_sql(), params)]


def recovery_rate(db: Database, start_s: int, end_s: int, as_of_s: int | None = None,
                  by: Sequence[str] = ("location_id",)) -> list[dict[str, Any]]:
    """Recovery counts and ``recovery_pct`` per group (``by=()``: one total row, if any follow-up)."""
    rows = db.query(recovery_rate_sql(by), _params(start_s, end_s, as_of_s))
    out = []
    for row in rows:
        counts = {name: int(row[name]) for name in RATE_COUNTS}
        if not counts["followups_created"]:
            continue  # an aggregate without GROUP BY returns one row even when nothing matched
        recoverable = counts["recoverable"]
        pct = None if not recoverable else round(100 * counts["recovered"] / recoverable, 4)
        out.append({k: row[k] for k in by} | counts | {"recovery_pct": pct})
    return out


def open_past_sla(db: Database, start_s: int, end_s: int,
                  as_of_s: int | None = None) -> list[dict[str, Any]]:
    """Per route: follow-ups triggered in range that are open past their SLA as of ``as_of_s``."""
    return [{"route": r["route"], "overdue_followups": int(r["overdue_followups"]),
             "oldest_due_at_ms": int(r["oldest_due_at_ms"])}
            for r in db.query(open_past_sla_sql(), _params(start_s, end_s, as_of_s))]


def _followup(row: dict[str, Any]) -> dict[str, Any]:
    """One engine-independent follow-up: times as epoch ms, flags as bool, DateTimes dropped."""
    out = {name: row[name] for name in FOLLOWUP_FIELDS}
    for name in ("occurred_at_ms", "due_at_ms", "recover_by_ms"):
        out[name] = int(out[name])
    for name in ("low_csat", "detractor", "complaint"):
        out[name] = bool(int(out[name]))
    for name in ("csat", "nps"):
        out[name] = None if out[name] is None else int(out[name])
    recovered_at = row["recovered_at_ms"]
    out["recovered_at_ms"] = None if recovered_at is None else int(recovered_at)
    out["status"] = row["status"]
    return out
