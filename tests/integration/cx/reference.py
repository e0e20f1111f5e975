"""Every CX-layer figure recomputed from raw events, straight from METRICS.md's wording.

Written apart from the pipeline: nothing here calls sql/, streams/ or dashboards/. Events are dicts in
canonical form; ``roles`` are the brute-force FCR roles of ``dashboard_reference.fcr_roles`` (a
failed first contact is a problem experience). Ratios are masked below ``MIN_N`` as the boards and
tables show them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tests.integration.board_variables import MIN_N, masked

Event = dict[str, Any]
RECOVERY_MS = 30 * 86_400_000
LOSS = {"silent": 0.25, "complained_unrecovered": 0.35, "complained_recovered": 0.10}
CLV_DEFAULTS = {"call_center": 400.0, "retail_partner": 350.0}
CLV_DEFAULT = 300.0
Z = 1.959963984540054


def latest_versions(events: Iterable[Event]) -> list[Event]:
    """One event per event_id: the highest version."""
    best: dict[str, Event] = {}
    for e in events:
        old = best.get(e["event_id"])
        if old is None or (e.get("version") or 0) > (old.get("version") or 0):
            best[e["event_id"]] = e
    return list(best.values())


def is_problem(e: Event, roles: dict[str, str]) -> bool:
    if e["kind"] == "response":
        return any(e[k] is not None and e[k] <= limit for k, limit in (("csat", 2), ("nps", 6), ("ces", 3)))
    return bool(e["complaint"]) or roles.get(e["event_id"]) == "failure"


def is_positive(e: Event) -> bool:
    return e["kind"] == "response" and ((e["csat"] or 0) >= 4 or (e["nps"] or 0) >= 9)


def order(e: Event) -> tuple[int, str]:
    return e["occurred_at"], e["event_id"]


def clv_of(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def customer(events: list[Event], roles: dict[str, str]) -> dict[str, Any]:
    """One customer's problems, complaint, recovery, outcome, CLV and revenue at risk."""
    events = sorted(events, key=order)
    problems = [e for e in events if is_problem(e, roles)]
    complained = any(e["kind"] == "contact" and e["complaint"] for e in events)
    recovered = bool(problems) and any(
        is_positive(e)
        and problems[-1]["occurred_at"] < e["occurred_at"] <= problems[-1]["occurred_at"] + RECOVERY_MS
        for e in events
    )
    if not problems:
        outcome = "none"
    elif complained:
        outcome = "complained_recovered" if recovered else "complained_unrecovered"
    else:
        outcome = "silent_recovered" if recovered else "silent"
    clvs = [clv for e in events if (clv := clv_of(e["attributes"].get("clv"))) is not None]
    clv = clvs[-1] if clvs else CLV_DEFAULTS.get(events[-1]["channel"], CLV_DEFAULT)
    responses = [e for e in events if e["kind"] == "response"]
    return {
        "problems": len(problems),
        "complained": complained,
        "recovered": recovered,
        "outcome": outcome,
        "clv": clv,
        "revenue": clv * LOSS.get(outcome, 0.0),
        "latest_positive": bool(responses) and is_positive(responses[-1]),
    }


def customers(events: list[Event], roles: dict[str, str]) -> dict[str, dict[str, Any]]:
    by_customer: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        if e["customer_id"]:
            by_customer[e["customer_id"]].append(e)
    return {c: customer(evs, roles) for c, evs in by_customer.items()}


def scopes(
    events: list[Event], roles: dict[str, str], keys: Sequence[str]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Pain-point figures per scope (``keys`` empty: the whole window, one scope ``()``)."""
    people = customers(events, roles)
    grouped: dict[tuple[Any, ...], list[Event]] = defaultdict(list)
    for e in events:
        grouped[tuple(e[k] or "" for k in keys)].append(e)
    out = {}
    for scope, members in grouped.items():
        seen = {e["customer_id"] for e in members if e["customer_id"]}
        problems: dict[str, int] = defaultdict(int)
        for e in members:
            if e["customer_id"] and is_problem(e, roles):
                problems[e["customer_id"]] += 1
        latest_here: dict[str, Event] = {}
        for e in sorted((e for e in members if e["customer_id"] and e["kind"] == "response"), key=order):
            latest_here[e["customer_id"]] = e
        unhappy = [people[c] for c in problems]
        row = {
            "customers_seen": len(seen),
            "customers_with_problem": len(problems),
            "complainants": sum(p["complained"] for p in unhappy),
            "recovered_complainants": sum(p["complained"] and p["recovered"] for p in unhappy),
            "unrecovered_customers": sum(
                p["outcome"] in ("silent", "complained_unrecovered") for p in unhappy
            ),
            "positive_customers": sum(is_positive(e) for e in latest_here.values()),
            "complaints": sum(1 for e in members if e["kind"] == "contact" and e["complaint"]),
            "revenue_at_risk": sum(
                people[c]["revenue"] * n / people[c]["problems"] for c, n in problems.items()
            ),
        }
        row |= rates(row)
        out[scope] = row
    ranks(out)
    return out


def rates(row: dict[str, Any]) -> dict[str, Any]:
    with_problem, complainants = row["customers_with_problem"], row["complainants"]
    return {
        "problem_rate": masked(with_problem, row["customers_seen"]),
        "complaint_rate": masked(complainants, with_problem),
        "silent_rate": masked(with_problem - complainants, with_problem),
        "recovery_rate": masked(row["recovered_complainants"], complainants),
        "negative_reach": 10 * row["unrecovered_customers"],
        "positive_reach": 5 * row["positive_customers"],
    }


def ranks(rows: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    """Competition ranks: 1 + the number of scopes with strictly more."""
    for name, rank in (("revenue_at_risk", "revenue_rank"), ("complaints", "complaint_rank")):
        values = [r[name] for r in rows.values()]
        for r in rows.values():
            r[rank] = 1 + sum(1 for v in values if v > r[name] + 1e-9)


def moments_of_truth(events: list[Event], roles: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per touchpoint: NPS without minus with a problem there, over customers with an NPS answer."""
    latest_nps: dict[str, int] = {}
    for e in sorted((e for e in events if e["customer_id"] and e["nps"] is not None), key=order):
        latest_nps[e["customer_id"]] = e["nps"]
    passed: dict[str, dict[str, bool]] = defaultdict(dict)
    for e in events:
        if e["customer_id"]:
            here = passed[e["touchpoint"]]
            here[e["customer_id"]] = here.get(e["customer_id"], False) or is_problem(e, roles)
    out = {}
    for touchpoint, visitors in passed.items():
        groups: dict[bool, list[int]] = {False: [], True: []}
        for c, problem in visitors.items():
            if c in latest_nps:
                groups[problem].append(latest_nps[c])
        if not groups[False] and not groups[True]:
            continue
        nps = {k: masked(sum(s >= 9 for s in v) - sum(s <= 6 for s in v), len(v)) for k, v in groups.items()}
        score = None if nps[False] is None or nps[True] is None else nps[False] - nps[True]
        out[touchpoint] = {
            "clean_customers": len(groups[False]),
            "problem_customers": len(groups[True]),
            "nps_without_problem": nps[False],
            "nps_with_problem": nps[True],
            "mot_score": score,
        }
    return out


def satisfaction(events: list[Event]) -> dict[str, Any]:
    """CSAT %, NPS, CES mean, complaint rate with their n, and the volume, of a group of events."""
    csat = [e["csat"] for e in events if e["csat"] is not None]
    nps = [e["nps"] for e in events if e["nps"] is not None]
    ces = [e["ces"] for e in events if e["ces"] is not None]
    contacts = [e for e in events if e["kind"] == "contact"]
    return {
        "volume": len(events),
        "csat_pct": masked(sum(s >= 4 for s in csat), len(csat)),
        "csat_n": len(csat),
        "csat_satisfied": sum(s >= 4 for s in csat),
        "nps": masked(sum(s >= 9 for s in nps) - sum(s <= 6 for s in nps), len(nps)),
        "nps_n": len(nps),
        "promoters": sum(s >= 9 for s in nps),
        "detractors": sum(s <= 6 for s in nps),
        "ces_mean": masked(sum(ces), len(ces), 1.0),
        "ces_n": len(ces),
        "ces_sum": sum(ces),
        "ces_squares": sum(s * s for s in ces),
        "complaint_rate": masked(sum(bool(e["complaint"]) for e in contacts), len(contacts)),
        "contacts": len(contacts),
        "complaints": sum(bool(e["complaint"]) for e in contacts),
    }


def fcr(events: list[Event], roles: dict[str, str]) -> dict[str, Any]:
    own = [roles[e["event_id"]] for e in events if e["event_id"] in roles]
    success, failure = own.count("success"), own.count("failure")
    return {
        "fcr_success": success,
        "fcr_failure": failure,
        "fcr_pending": own.count("pending"),
        "fcr_first_contacts": success + failure + own.count("pending"),
        "fcr_pct": masked(success, success + failure),
    }


def wilson(successes: int, n: int) -> tuple[float, float]:
    """The Wilson score interval, from its textbook form: roots of |p - p̂| = z·sqrt(p(1 - p)/n)."""
    p = successes / n
    a, b, c = 1 + Z * Z / n, -(2 * p + Z * Z / n), p * p
    root = math.sqrt(b * b - 4 * a * c)
    return max(0.0, (-b - root) / (2 * a)), min(1.0, (-b + root) / (2 * a))


def grouped(events: list[Event], key: Callable[[Event], Any]) -> dict[Any, list[Event]]:
    out: dict[Any, list[Event]] = defaultdict(list)
    for e in events:
        out[key(e)].append(e)
    return dict(out)


__all__ = ["MIN_N"]
