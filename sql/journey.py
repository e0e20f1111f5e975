"""The journey map: every figure per (journey stage, touchpoint), its change, and moments of truth.

A cell's figures are ``sql.figures.figures`` grouped by ``journey_stage, touchpoint`` (minute counts
and FCR outcomes); its change is the difference with the previous period of the same length
(``[start - L, start)``), defined only where both periods' figure is (and neither is masked).

A touchpoint T is a **moment of truth** when configured so (``CXPULSE_MOMENTS_OF_TRUTH``), and the
data scores every touchpoint (METRICS.md): among customers with an NPS answer in W who passed
through T (had an event there), NPS of those with no problem experience at T minus NPS of those with
one, each customer counted once by their latest NPS answer in W. Masked unless both groups have at
least min n customers. A large positive score means a problem at T costs loyalty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sql.client import Database
from sql.experience import BOUND, Selection, experiences_sql, parameters
from sql.figures import Ratio, figures, mask, masked_ratios

STAGES: Final = ("awareness", "consideration", "purchase", "delivery", "usage", "support", "loyalty",
                 "unknown")
"""Journey stages in the order of the journey (the map's rows)."""
CHANGED: Final = ("csat_pct", "nps", "ces_mean", "fcr_pct", "complaint_rate", "events")
"""Figures whose change against the previous period a cell shows (``events`` is the volume)."""
MOT_COUNTS: Final = ("clean_customers", "clean_net", "problem_customers", "problem_net")
MOT_RATIOS: Final = {
    "nps_without_problem": Ratio(("clean_net",), ("clean_customers",)),
    "nps_with_problem": Ratio(("problem_net",), ("problem_customers",)),
}
"""NPS (promoters - detractors per customer, x 100) of the customers who passed through T."""


def moments_of_truth_sql(selection: Selection = BOUND) -> str:
    """Per touchpoint: customers with an NPS answer who passed through it, with and without a problem.

    Columns: ``touchpoint`` and :data:`MOT_COUNTS` (``*_net`` = promoters - detractors among them).
    """
    experiences = experiences_sql(selection)
    net = "multiIf(ifNull(nps, 0) >= 9, 1, ifNull(nps, 0) <= 6, -1, 0)"
    return (
        "SELECT touchpoint, toUInt64(countIf(problem_at = 0)) AS clean_customers, "  # noqa: S608
        "toInt64(sumIf(nps_class, problem_at = 0)) AS clean_net, "
        "toUInt64(countIf(problem_at = 1)) AS problem_customers, "
        "toInt64(sumIf(nps_class, problem_at = 1)) AS problem_net "
        "FROM (SELECT touchpoint, customer_id, max(is_problem) AS problem_at "
        f"FROM ({experiences}) WHERE customer_id != '' GROUP BY touchpoint, customer_id) AS passages "
        f"ALL INNER JOIN (SELECT customer_id, argMaxIf({net}, (occurred_at_ms, event_id), "
        f"nps IS NOT NULL) AS nps_class FROM ({experiences}) WHERE customer_id != '' "
        "GROUP BY customer_id HAVING countIf(nps IS NOT NULL) > 0) AS answers USING customer_id "
        "GROUP BY touchpoint ORDER BY touchpoint"
    )


def moment_of_truth(row: dict[str, Any], min_n: int) -> dict[str, Any]:
    """One touchpoint's counts, both NPS and the score (None when masked or undefined)."""
    out = {"touchpoint": row["touchpoint"], **{name: int(row[name]) for name in MOT_COUNTS}}
    for name, ratio in MOT_RATIOS.items():
        value = ratio.value(out)
        out[name] = None if value is None else round(value, 4)
    masked = masked_ratios(MOT_RATIOS, out, min_n)
    score = None
    if not masked and out["nps_without_problem"] is not None and out["nps_with_problem"] is not None:
        score = round(out["nps_without_problem"] - out["nps_with_problem"], 4)
    return {**out, "mot_score": score, "masked": masked + (["mot_score"] if masked else [])}


def _change(now: dict[str, Any], before: dict[str, Any] | None, name: str) -> float | None:
    if before is None or now.get(name) is None or before.get(name) is None:
        return None
    if name in now["masked"] or name in before["masked"]:
        return None
    return round(float(now[name]) - float(before[name]), 4)


def cells(db: Database, start_s: int, end_s: int, min_n: int, as_of_s: int | None = None
          ) -> list[dict[str, Any]]:
    """Figures per (stage, touchpoint) in ``[start_s, end_s)``, masked, with ``change`` per figure."""
    keys = ["journey_stage", "touchpoint"]
    length = end_s - start_s
    now = [mask(r, min_n) for r in figures(db, start_s, end_s, keys, "total", as_of_s)]
    previous = {(r["journey_stage"], r["touchpoint"]): mask(r, min_n)
                for r in figures(db, start_s - length, start_s, keys, "total", as_of_s)}
    out = []
    for row in now:
        before = previous.get((row["journey_stage"], row["touchpoint"]))
        out.append({**row, "change": {name: _change(row, before, name) for name in CHANGED}})
    order = {stage: i for i, stage in enumerate(STAGES)}
    return sorted(out, key=lambda r: (order.get(r["journey_stage"], len(STAGES)), r["touchpoint"]))


def journey(db: Database, start_s: int, end_s: int, min_n: int,
            configured: Sequence[str] = ()) -> dict[str, Any]:
    """The journey map of ``[start_s, end_s)``: cells, each touchpoint's moment-of-truth score.

    Returns ``{"cells": [...], "moments_of_truth": {touchpoint: {...}}, "configured": [...]}``;
    each cell carries ``moment_of_truth`` (configured) and ``mot_score``.
    """
    scores = {r["touchpoint"]: moment_of_truth(r, min_n)
              for r in db.query(moments_of_truth_sql(), parameters(start_s, end_s))}
    rows = cells(db, start_s, end_s, min_n)
    for row in rows:
        row["moment_of_truth"] = row["touchpoint"] in configured
        row["mot_score"] = scores.get(row["touchpoint"], {}).get("mot_score")
    return {"cells": rows, "moments_of_truth": scores, "configured": list(configured)}
