"""Scorecards: partners and locations ranked by CSAT % and NPS, with 95% intervals and n.

Per partner (or location) over ``[start, end)``: CSAT % with its Wilson interval, NPS with its normal
interval (variance 100²·(p + d - (p - d)²)/n), FCR % and complaint rate, each with its n, from
``sql.figures.figures`` (the same counts every other reader uses). Ranked by CSAT % (masked or
undefined last), then NPS; ``csat_rank`` and ``nps_rank`` are 1 + the number of rows with a strictly
higher, unmasked figure. Rows with an empty key (events of no partner / location) are left out.
"""

from __future__ import annotations

from typing import Any, Final

from sql.client import Database
from sql.figures import figures, mask
from sql.stats import nps_interval, wilson

SCORED_BY: Final = ("partner_id", "location_id")


def _shown(row: dict[str, Any], name: str) -> float | None:
    value = row.get(name)
    return None if value is None or name in row["masked"] else float(value)


def _rank(rows: list[dict[str, Any]], name: str) -> None:
    values = [_shown(r, name) for r in rows]
    for row, value in zip(rows, values, strict=True):
        row[f"{name.removesuffix('_pct')}_rank"] = (
            None if value is None else 1 + sum(1 for v in values if v is not None and v > value))


def scorecard(db: Database, start_s: int, end_s: int, by: str, min_n: int,
              as_of_s: int | None = None) -> list[dict[str, Any]]:
    """One row per partner (``by="partner_id"``) or location, best CSAT % first."""
    if by not in SCORED_BY:
        raise ValueError(f"scorecards are by {' or '.join(SCORED_BY)}, not {by!r}")
    rows = [mask(r, min_n) for r in figures(db, start_s, end_s, [by], "total", as_of_s) if r[by]]
    for row in rows:
        low, high = wilson(row["csat_satisfied"], row["csat_responses"])
        row["csat_low"], row["csat_high"] = (round(100 * low, 4), round(100 * high, 4)) \
            if row["csat_responses"] else (None, None)
        n_low, n_high = nps_interval(row["nps_promoters"], row["nps_detractors"], row["nps_responses"])
        row["nps_low"], row["nps_high"] = (round(n_low, 4), round(n_high, 4)) \
            if row["nps_responses"] else (None, None)
        row["fcr_decided"] = row["fcr_success"] + row["fcr_failure"]
    _rank(rows, "csat_pct")
    _rank(rows, "nps")

    def order(row: dict[str, Any]) -> tuple[float, float, str]:
        csat, nps = _shown(row, "csat_pct"), _shown(row, "nps")
        return (-csat if csat is not None else 1.0, -nps if nps is not None else 101.0, row[by])

    return sorted(rows, key=order)
