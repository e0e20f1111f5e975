"""Figures from ClickHouse: summed counts per group, and ratios derived from those sums.

Ratios are never averaged: every derived figure is computed from the group's summed counts, and is
``None`` where its denominator is 0 (a group with no responses has no CSAT, not a CSAT of 0).
Satisfaction counts come from the minute table (or, grouped by agent, from the events themselves);
FCR counts from ``fcr_contacts``, where an open first contact is a success once ``as_of`` passed
its ``decides_at``, and pending before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sql.client import Database, checked_identifier
from sql.events import latest_events

DIMENSIONS = ("channel", "touchpoint", "journey_stage", "partner_id", "location_id", "region", "agent_id")
"""``agent_id`` is a contact-only dimension."""
GRAINS = {"minute": "{m}", "hour": "toStartOfHour({m})", "day": "toStartOfDay({m})", "total": None}
SATISFACTION_COUNTS = (
    "events", "responses", "csat_responses", "csat_satisfied", "csat_sum", "nps_responses",
    "nps_promoters", "nps_detractors", "ces_responses", "ces_easy", "ces_sum", "contacts",
    "complaints", "fcr_eligible", "survey_fcr_responses", "survey_fcr_yes",
)
_FROM_EVENTS = {  # the same counts, summed from touchpoint_events (needed to group by agent)
    "events": "count()", "responses": "sum(kind = 'response')", "csat_responses": "sum(csat_response)",
    "csat_satisfied": "sum(csat_satisfied)", "csat_sum": "sum(ifNull(csat, 0))",
    "nps_responses": "sum(nps_response)", "nps_promoters": "sum(nps_promoter)",
    "nps_detractors": "sum(nps_detractor)", "ces_responses": "sum(ces_response)",
    "ces_easy": "sum(ces_easy)", "ces_sum": "sum(ifNull(ces, 0))", "contacts": "sum(contact)",
    "complaints": "sum(complaint)", "fcr_eligible": "sum(fcr_eligible)",
    "survey_fcr_responses": "sum(survey_fcr_response)", "survey_fcr_yes": "sum(survey_fcr_yes)",
}
FCR_COUNTS = {
    "fcr_first_contacts": "sum(is_first AND removed = 0)",
    "fcr_failure": "sum(is_first AND failed AND removed = 0)",
    "fcr_success": "sum(is_first AND NOT failed AND removed = 0 AND decides_at <= toDateTime(%(as_of)s))",
    "fcr_pending": "sum(is_first AND NOT failed AND removed = 0 AND decides_at > toDateTime(%(as_of)s))",
    "repeat_contacts": "sum(NOT is_first AND removed = 0)",
}
"""Over ``fcr_contacts FINAL``: only rows with ``removed`` 0 are contacts (1: the event left the
key; 2: a later leg of a transferred contact, whose outcome is on its first leg's row)."""


@dataclass(frozen=True)
class Ratio:
    """A figure made of summed counts: ``scale * (numerator terms) / (denominator terms)``.

    Terms are count names, added; a leading ``-`` subtracts. The one definition of each figure:
    ``derive`` computes it in Python for the command line, ``sql`` writes it for the boards, and the
    detector calls ``value``. Undefined (``None``, SQL NULL) where the denominator is 0.
    """

    numerator: tuple[str, ...]
    denominator: tuple[str, ...]
    scale: int = 100

    def value(self, counts: Mapping[str, float]) -> float | None:
        """The figure of one group's counts."""
        denominator = self.n(counts)
        return None if not denominator else _total(self.numerator, counts) / denominator * self.scale

    def n(self, counts: Mapping[str, float]) -> float:
        """The figure's n: its denominator (responses, contacts, decided first contacts ...)."""
        return _total(self.denominator, counts)

    def masked_sql(self, min_n: str, count: Callable[[str], str] = lambda name: f"sum({name})") -> str:
        """The figure as SQL, NULL where its n is below ``min_n`` (an SQL expression)."""
        n = " + ".join(count(t) for t in self.denominator)
        return f"if({n} >= {min_n}, {self.sql(count)}, NULL)"

    def sql(self, count: Callable[[str], str] = lambda name: f"sum({name})") -> str:
        """The figure as SQL; ``count`` gives each count's expression (default ``sum(name)``)."""
        def total(terms: tuple[str, ...]) -> str:
            return " ".join(f"- {count(t[1:])}" if t.startswith("-") else f"+ {count(t)}"
                            for t in terms).removeprefix("+ ")
        numerator = total(self.numerator)
        if len(self.numerator) > 1:
            numerator = f"({numerator})"
        scaled = f"{self.scale} * " if self.scale != 1 else ""
        return f"{scaled}{numerator} / nullIf({total(self.denominator)}, 0)"


def _total(terms: tuple[str, ...], counts: Mapping[str, float]) -> float:
    return sum(-counts[t[1:]] if t.startswith("-") else counts[t] for t in terms)


RATIOS: dict[str, Ratio] = {
    "csat_pct": Ratio(("csat_satisfied",), ("csat_responses",)),
    "csat_mean": Ratio(("csat_sum",), ("csat_responses",), 1),
    "nps": Ratio(("nps_promoters", "-nps_detractors"), ("nps_responses",)),
    "ces_mean": Ratio(("ces_sum",), ("ces_responses",), 1),
    "ces_easy_pct": Ratio(("ces_easy",), ("ces_responses",)),
    "complaint_rate": Ratio(("complaints",), ("contacts",)),
    "fcr_pct": Ratio(("fcr_success",), ("fcr_success", "fcr_failure")),
    "repeat_contact_rate": Ratio(("repeat_contacts",), ("fcr_eligible",)),
    "survey_fcr_pct": Ratio(("survey_fcr_yes",), ("survey_fcr_responses",)),
}
"""Every ratio figure of METRICS.md, by the name the command line and the boards give it."""


MIN_N: Final = 5
"""Default minimum n (``CXPULSE_MIN_N``): a ratio over fewer is masked (METRICS.md)."""


def masked_ratios(ratios: Mapping[str, Ratio], counts: Mapping[str, Any], min_n: int) -> list[str]:
    """Names of the ``ratios`` whose n (denominator) is below ``min_n`` for these counts."""
    return [name for name, ratio in ratios.items()
            if all(t.lstrip("-") in counts for t in ratio.denominator) and ratio.n(counts) < min_n]


def mask(row: dict[str, Any], min_n: int) -> dict[str, Any]:
    """``row`` (counts and ``derive``d figures) with ``masked``: the figures whose n is below ``min_n``.

    Values stay as they are (JSON keeps counts and figures); tables show a masked figure as "n<N".
    The FCR gap is masked when either side is.
    """
    masked = masked_ratios(RATIOS, row, min_n)
    if "fcr_pct" in masked or "survey_fcr_pct" in masked:
        masked.append("fcr_gap")
    return {**row, "masked": masked}


def csat_pct(satisfied: float, responses: float) -> float | None:
    """CSAT % of these counts (``RATIOS["csat_pct"]``)."""
    return RATIOS["csat_pct"].value({"csat_satisfied": satisfied, "csat_responses": responses})


def derive(row: dict[str, Any]) -> dict[str, Any]:
    """Add the derived figures (METRICS.md) to one group's counts, rounded to 4 decimals."""
    out = dict(row)
    for name, ratio in RATIOS.items():
        value = ratio.value(row)
        out[name] = None if value is None else round(value, 4)
    # The FCR gap: survey FCR % minus operational FCR % (customers feel resolved more or less often).
    gap = None
    if out["survey_fcr_pct"] is not None and out["fcr_pct"] is not None:
        gap = round(out["survey_fcr_pct"] - out["fcr_pct"], 4)
    out["fcr_gap"] = gap
    return out


def _check(by: list[str], grain: str) -> list[str]:
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {sorted(GRAINS)}, got {grain!r}")
    for dim in by:
        if dim not in DIMENSIONS:
            raise ValueError(f"unknown dimension {dim!r}; choose from {', '.join(DIMENSIONS)}")
    return [checked_identifier(d) for d in by]


def _grouped(table: str, minute: str, counts: dict[str, str], by: list[str], grain: str) -> str:
    keys = _check(by, grain)
    template = GRAINS[grain]
    bucket = [f"{template.format(m=minute)} AS bucket"] if template else []
    group_keys = (["bucket"] if template else []) + keys
    sums = ", ".join(f"{expr} AS {name}" for name, expr in counts.items())
    group_by = f" GROUP BY {', '.join(group_keys)} ORDER BY {', '.join(group_keys)}" if group_keys else ""
    return (
        f"SELECT {', '.join([*bucket, *keys, sums])} FROM {table} "  # noqa: S608 - identifiers checked
        f"WHERE {minute} >= toDateTime(%(start)s) AND {minute} < toDateTime(%(end)s)" + group_by
    )


def figures_query(by: list[str], grain: str) -> str:
    """Satisfaction counts per (time bucket, dimensions) over ``[%(start)s, %(end)s)``."""
    if "agent_id" in by:
        events = latest_events("toStartOfMinute(occurred_at) >= toDateTime(%(start)s) "
                               "AND toStartOfMinute(occurred_at) < toDateTime(%(end)s)")
        return _grouped(events, "toStartOfMinute(occurred_at)", _FROM_EVENTS, by, grain)
    return _grouped("minute_counts", "minute",
                    {c: f"sum({c})" for c in SATISFACTION_COUNTS}, by, grain)


def fcr_query(by: list[str], grain: str) -> str:
    """FCR counts per (time bucket of the contact's minute, dimensions), latest outcome per contact."""
    return _grouped("fcr_contacts FINAL", "toStartOfMinute(occurred_at)", FCR_COUNTS, by, grain)


def figures(db: Database, start_s: int, end_s: int, by: list[str], grain: str,
            as_of_s: int | None = None) -> list[dict[str, Any]]:
    """Figures per group for event times in ``[start_s, end_s)`` (epoch seconds, minute buckets).

    ``as_of_s`` is the clock FCR outcomes are decided against (default: now).
    """
    params = {"start": start_s, "end": end_s,
              "as_of": as_of_s if as_of_s is not None else int(datetime.now(UTC).timestamp())}
    keys = (["bucket"] if GRAINS[grain] else []) + _check(by, grain)
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for query, names in ((figures_query(by, grain), SATISFACTION_COUNTS), (fcr_query(by, grain), FCR_COUNTS)):
        for row in db.query(query, params):
            if "bucket" in row:
                row["bucket"] = epoch_seconds(row["bucket"])
            group = groups.setdefault(tuple(row[k] for k in keys), {k: row[k] for k in keys})
            group.update({name: int(row[name]) for name in names})
    result = []
    for group in groups.values():
        for name in (*SATISFACTION_COUNTS, *FCR_COUNTS):
            group.setdefault(name, 0)
        if group["events"] or group["fcr_first_contacts"] or group["repeat_contacts"]:
            result.append(derive(group))
    return sorted(result, key=lambda g: tuple(g[k] for k in keys))


def epoch_seconds(value: Any) -> int:
    """A bucket start from either engine (datetime from the server, text from chDB) -> epoch s."""
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    return int(value.replace(tzinfo=UTC).timestamp())
