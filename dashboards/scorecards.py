"""The partners & locations board: scorecards with 95% intervals, n, FCR % and complaint rate.

Per partner (and per location) over the dashboard range: CSAT % with its Wilson interval, NPS with
its normal interval (variance 100²·(p + d - (p - d)²)/n), FCR % and complaint rate, each beside its
n, all masked below ``min_n`` (``sql.stats`` holds the interval formulas, in Python for
``cxpulse scorecard`` and as SQL here). Satisfaction and contacts come from ``minute_counts``, FCR
from ``fcr_contacts``: one branch each, summed per scope. Events of no partner / location are left
out. Tables open sorted by CSAT %, best first.
"""

from __future__ import annotations

from typing import Final

from dashboards.fixes_board import fixes_annotation
from dashboards.panels import JSON, Column, Layout, Step, dashboard, table, thresholds
from dashboards.queries import FCR_CONTACTS, FCR_FAILURE, FCR_SUCCESS, MINUTES, Figure, combined
from dashboards.variables import MIN_N_SQL, board_variables
from sql.figures import RATIOS
from sql.stats import nps_interval_sql, wilson_sql

UID: Final = "cxpulse-scorecards"
TITLE: Final = "cxpulse / Partners & locations"
TIME_FROM: Final = "now-30d"
_ZERO: Final = "toInt64(0)"
_SATISFACTION: Final = {"csat_n": "toInt64(sum(csat_responses))", "csat_yes": "toInt64(sum(csat_satisfied))",
                        "nps_n": "toInt64(sum(nps_responses))", "promoters": "toInt64(sum(nps_promoters))",
                        "detractors": "toInt64(sum(nps_detractors))", "contact_n": "toInt64(sum(contacts))",
                        "complaint_n": "toInt64(sum(complaints))"}
_FCR: Final = {"successes": f"toInt64({FCR_SUCCESS.sql})", "failures": f"toInt64({FCR_FAILURE.sql})"}
BRANCHES: Final = (
    (MINUTES, {**_SATISFACTION, **dict.fromkeys(_FCR, _ZERO)}),
    (FCR_CONTACTS, {**dict.fromkeys(_SATISFACTION, _ZERO), **_FCR}),
)
"""Per scope, one branch per source with the other source's counts as 0."""
_SUMS: Final = {"csat_satisfied": "sum(csat_yes)", "csat_responses": "sum(csat_n)",
                "nps_promoters": "sum(promoters)", "nps_detractors": "sum(detractors)",
                "nps_responses": "sum(nps_n)", "fcr_success": "sum(successes)",
                "fcr_failure": "sum(failures)",
                "complaints": "sum(complaint_n)", "contacts": "sum(contact_n)"}


def _masked_by(n: str, sql: str) -> str:
    return f"if({n} >= {MIN_N_SQL}, {sql}, NULL)"


_CSAT_LOW, _CSAT_HIGH = wilson_sql("sum(csat_yes)", "sum(csat_n)")
_NPS_LOW, _NPS_HIGH = nps_interval_sql("sum(promoters)", "sum(detractors)", "sum(nps_n)")
_COUNT: Final = thresholds(Step("blue"))


def _figure(name: str, title: str, sql: str, unit: str = "short", decimals: int = 0) -> Figure:
    return Figure(name=name, title=title, sql=sql, unit=unit, decimals=decimals, steps=_COUNT, meaning=title)


FIGURES: Final = (
    _figure("csat_pct", "CSAT %", RATIOS["csat_pct"].masked_sql(MIN_N_SQL, _SUMS.__getitem__), "percent", 1),
    _figure("csat_low", "CSAT 95% low", _masked_by("sum(csat_n)", _CSAT_LOW), "percent", 1),
    _figure("csat_high", "CSAT 95% high", _masked_by("sum(csat_n)", _CSAT_HIGH), "percent", 1),
    _figure("csat_responses", "n (CSAT)", "sum(csat_n)"),
    _figure("nps", "NPS", RATIOS["nps"].masked_sql(MIN_N_SQL, _SUMS.__getitem__), "none", 1),
    _figure("nps_low", "NPS 95% low", _masked_by("sum(nps_n)", _NPS_LOW), "none", 1),
    _figure("nps_high", "NPS 95% high", _masked_by("sum(nps_n)", _NPS_HIGH), "none", 1),
    _figure("nps_responses", "n (NPS)", "sum(nps_n)"),
    _figure("fcr_pct", "FCR %", RATIOS["fcr_pct"].masked_sql(MIN_N_SQL, _SUMS.__getitem__), "percent", 1),
    _figure("fcr_decided", "n (FCR)", "sum(successes) + sum(failures)"),
    _figure("complaint_rate", "Complaint rate",
            RATIOS["complaint_rate"].masked_sql(MIN_N_SQL, _SUMS.__getitem__), "percent", 1),
    _figure("contact_count", "n (contacts)", "sum(contact_n)"),
)
"""The columns of a scorecard, left to right (names as ``cxpulse scorecard --format json``)."""


def scorecard_sql(key: str) -> str:
    """One row per value of ``key`` (partner_id or location_id) with events in the range."""
    return combined(BRANCHES, [key], FIGURES, having=f"{key} != ''")


def scorecard_table(key: str, header: str) -> JSON:
    """A scorecard table by ``key``."""
    return table(
        f"{header}s ranked by CSAT %", scorecard_sql(key),
        description=f"Per {header.lower()}: CSAT % with its 95% Wilson interval, NPS with its 95% interval "
                    "(normal, NPS variance), FCR % and complaint rate, each with its n; masked (n<min n) "
                    "below the min n variable. Sorted by CSAT %, best first; overlapping intervals mean "
                    "the difference may be chance.",
        columns=[Column(key, header, unit="string"), *(f.column() for f in FIGURES)], sort_by="CSAT %")


def build() -> JSON:
    """The whole board as Grafana dashboard JSON."""
    layout = Layout()
    layout.add_row("Partners")
    layout.add(scorecard_table("partner_id", "Partner"), width=24, height=9)
    layout.add_row("Locations")
    layout.add(scorecard_table("location_id", "Location"), width=24, height=12)
    return dashboard(
        UID, TITLE, description="Partners and locations ranked by CSAT % and NPS, with 95% intervals and n.",
        panels=layout.panels, variables=board_variables(), tags=["cxpulse", "cx", "scorecards"],
        time_from=TIME_FROM, refresh="5m", annotations=[fixes_annotation()])
