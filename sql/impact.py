"""Pain points: problem, complaint and recovery rates, revenue at risk and word of mouth per scope.

METRICS.md, "What the figures mean for the business"; the per-customer rules are in
``sql.experience``. Per scope S (a touchpoint, a stage x touchpoint, a partner, a location, or the
whole window with no dimension):

- ``customers_seen``: customers with an event in S; ``customers_with_problem``: with a problem
  experience in S; ``complainants``: of those, customers who complained (anywhere in W: the
  complaint need not be about S); ``recovered_complainants``: of those, the recovered; the rest of
  those with a problem are the **silent** unhappy;
- **revenue at risk** of S: each at-risk customer's revenue at risk, split over their problem
  experiences in W in proportion (so the scopes of one dimension add up to the window's total);
- **word of mouth**: negative reach = ``WOM_NEGATIVE`` x customers with an unrecovered problem in S;
  positive reach = ``WOM_POSITIVE`` x customers whose latest response in S is positive. People, not
  money, and not split: a customer counts in every scope they had a problem in;
- ``complaints``: complaint contacts in S (anonymous ones included): the count a complaint-driven
  ranking would use. Scopes are ranked by revenue at risk (``revenue_rank``), with the complaint
  rank (``complaint_rank``) beside it: 1 + the number of scopes with strictly more.

Rates (:data:`IMPACT_RATIOS`) come from these counts: problem rate = with a problem / seen,
complaint rate = complainants / with a problem, silent rate = the rest / with a problem, recovery
rate = recovered complainants / complainants.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sql.client import Database, checked_identifier
from sql.experience import BOUND, Assumptions, Selection, customers_sql, experiences_sql, parameters
from sql.figures import Ratio, masked_ratios

SCOPES: Final = {"touchpoint": ("touchpoint",), "journey_stage,touchpoint": ("journey_stage", "touchpoint"),
                 "partner_id": ("partner_id",), "location_id": ("location_id",), "channel": ("channel",)}
"""``cxpulse impact --by`` choices -> the scope's dimensions."""
WOM_NEGATIVE: Final = 10
"""People who hear of a bad experience (METRICS.md seed figure)."""
WOM_POSITIVE: Final = 5
"""People who hear of a good experience (METRICS.md seed figure)."""
IMPACT_COUNTS: Final = ("customers_seen", "customers_with_problem", "complainants", "recovered_complainants",
                        "unrecovered_customers", "positive_customers", "complaints")
IMPACT_RATIOS: Final = {
    "problem_rate": Ratio(("customers_with_problem",), ("customers_seen",)),
    "complaint_rate": Ratio(("complainants",), ("customers_with_problem",)),
    "silent_rate": Ratio(("customers_with_problem", "-complainants"), ("customers_with_problem",)),
    "recovery_rate": Ratio(("recovered_complainants",), ("complainants",)),
}
"""Customer rates of a scope, in percent (the complaint rate here is of customers with a problem,
not ``complaint_rate`` of contacts in ``sql.figures.RATIOS``)."""


def _scope_rows(keys: Sequence[str], selection: Selection) -> str:
    """Per (scope, customer): problems, complaints and whether the latest response there is positive."""
    head = "".join(f"{k}, " for k in keys)
    return (
        f"SELECT {head}customer_id, sum(is_problem) AS scope_problems, "  # noqa: S608 - identifiers checked
        "sum(toUInt8(kind = 'contact' AND complaint = 1)) AS scope_complaints, "
        "toUInt8(argMaxIf(is_positive, (occurred_at_ms, event_id), kind = 'response')) AS scope_positive "
        f"FROM ({experiences_sql(selection)}) GROUP BY {head}customer_id"
    )


def _customer_columns(selection: Selection) -> str:
    """``customers_sql`` with its columns renamed, so no result alias below can shadow one."""
    return ("SELECT customer_id, problems AS customer_problems, complained AS customer_complained, "  # noqa: S608
            "recovered AS customer_recovered, outcome AS customer_outcome, "
            f"revenue_at_risk AS customer_revenue FROM ({customers_sql(selection)})")


def scope_counts_sql(keys: Sequence[str], selection: Selection = BOUND) -> str:
    """One row per scope with an event in the selection (one row overall when ``keys`` is empty).

    Columns: the keys, :data:`IMPACT_COUNTS`, ``revenue_at_risk`` (in the currency).
    """
    checked = [checked_identifier(k) for k in keys]
    head = "".join(f"{k}, " for k in checked)
    problem = "customer_id != '' AND scope_problems > 0"
    group = f" GROUP BY {', '.join(checked)}" if checked else ""
    return (
        f"SELECT {head}toUInt64(sum(customer_id != '')) AS customers_seen, "  # noqa: S608 - checked
        f"toUInt64(sum({problem})) AS customers_with_problem, "
        f"toUInt64(sum({problem} AND customer_complained = 1)) AS complainants, "
        f"toUInt64(sum({problem} AND customer_complained = 1 AND customer_recovered = 1)) "
        "AS recovered_complainants, "
        f"toUInt64(sum({problem} AND customer_outcome IN ('silent', 'complained_unrecovered'))) "
        "AS unrecovered_customers, "
        "toUInt64(sum(customer_id != '' AND scope_positive = 1)) AS positive_customers, "
        "toUInt64(sum(scope_complaints)) AS complaints, "
        f"sum(if({problem}, customer_revenue * scope_problems / nullIf(customer_problems, 0), 0.)) "
        "AS revenue_at_risk "
        f"FROM ({_scope_rows(checked, selection)}) AS scopes "
        f"ALL LEFT JOIN ({_customer_columns(selection)}) AS customers USING customer_id{group}"
    )


def _rank(value: str, values: str) -> str:
    """1 + how many of ``values`` (an array column) exceed ``value`` (a column of the same row)."""
    return (f"toUInt64(arrayCount((other, own) -> other > own, {values}, "
            f"arrayResize([{value}], length({values}), {value})) + 1)")


COLUMNS: Final = (*IMPACT_COUNTS, "revenue_at_risk")


def impact_sql(keys: Sequence[str], selection: Selection = BOUND) -> str:
    """Per scope: the counts, ``revenue_at_risk``, ``revenue_rank`` and ``complaint_rank``.

    Ranks need every scope's figure: the scopes are collected into arrays and unfolded again
    (``ARRAY JOIN``), as neither engine in use may rely on window functions.
    """
    if not keys:
        raise ValueError("a ranking needs at least one scope dimension")
    names = [*[checked_identifier(k) for k in keys], *COLUMNS]
    collected = ", ".join(f"groupArray({n}) AS all_{n}" for n in names)
    unfolded = ", ".join(f"all_{n} AS {n}" for n in names)
    return (
        f"SELECT {', '.join(names)}, {_rank('revenue_at_risk', 'all_revenue_at_risk')} AS revenue_rank, "  # noqa: S608
        f"{_rank('complaints', 'all_complaints')} AS complaint_rank "
        f"FROM (SELECT {collected} FROM ({scope_counts_sql(keys, selection)})) ARRAY JOIN {unfolded} "
        "ORDER BY revenue_rank, complaint_rank"
    )


def with_rates(row: dict[str, Any], min_n: int) -> dict[str, Any]:
    """A scope's counts as plain numbers, its rates (percent, 4 decimals), reach and masked rates.

    ``masked`` lists the rates whose denominator is below ``min_n``: tables show them as "n<N";
    the JSON keeps the value (and the counts) and this list.
    """
    out = dict(row)
    for name in IMPACT_COUNTS:
        out[name] = int(row[name])
    out["revenue_at_risk"] = round(float(row["revenue_at_risk"]), 2)
    for name, ratio in IMPACT_RATIOS.items():
        value = ratio.value(out)
        out[name] = None if value is None else round(value, 4)
    out["negative_reach"] = WOM_NEGATIVE * out["unrecovered_customers"]
    out["positive_reach"] = WOM_POSITIVE * out["positive_customers"]
    out["masked"] = masked_ratios(IMPACT_RATIOS, out, min_n)
    return out


def impact(db: Database, start_s: int, end_s: int, by: str, assumptions: Assumptions,
           min_n: int) -> dict[str, Any]:
    """Pain points of ``[start_s, end_s)`` by the ``by`` scope (a key of :data:`SCOPES`), ranked.

    Returns ``{"total": the window's figures, "scopes": [per scope, by revenue rank],
    "assumptions": what was used}``.
    """
    if by not in SCOPES:
        raise ValueError(f"cannot rank by {by!r}; choose from {', '.join(SCOPES)}")
    params = parameters(start_s, end_s, assumptions)
    scopes = [with_rates(r, min_n) for r in db.query(impact_sql(SCOPES[by]), params)]
    [total] = [with_rates(r, min_n) for r in db.query(scope_counts_sql(()), params)]
    used = assumptions.parameters() | {"currency": assumptions.currency, "min_n": min_n,
                                       "wom_negative": WOM_NEGATIVE, "wom_positive": WOM_POSITIVE}
    return {"total": total, "scopes": scopes, "assumptions": used}
