"""The pain points board: where unhappy customers are, ranked by revenue at risk, not complaints.

The figures of ``sql.impact`` (per-customer rules in ``sql.experience``) over the events whose minute
lies in the dashboard range and scope: headline stats for the whole selection, then touchpoints,
stage x touchpoint, partners and locations, each ranked by revenue at risk with the complaint-count
rank beside it. The CLV defaults and loss rates are text-box variables (defaults: the documented
``sql.experience.DEFAULT_ASSUMPTIONS``), so a company can put in its own; every panel names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from dashboards.fixes_board import fixes_annotation
from dashboards.panels import JSON, Column, Layout, Step, dashboard, stat, table, textbox_variable, thresholds
from dashboards.variables import BOARD_SELECTION, MASKED, MIN_N_SQL, board_variables
from sql.experience import DEFAULT_ASSUMPTIONS
from sql.impact import IMPACT_RATIOS, WOM_NEGATIVE, WOM_POSITIVE, impact_sql, scope_counts_sql

UID: Final = "cxpulse-pain-points"
TITLE: Final = "cxpulse / Pain points"
TIME_FROM: Final = "now-90d"
ASSUMPTIONS: Final = "CLV default by channel $clv_defaults (else attributes.clv); loss rates: silent " \
    "$loss_silent, complained unrecovered $loss_complained, complained recovered $loss_recovered"
"""How descriptions name the values used (Grafana fills the variables in)."""
RATE_N: Final = {"problem_rate": "customers_seen", "complaint_rate": "customers_with_problem",
                 "silent_rate": "customers_with_problem", "recovery_rate": "complainants"}
_TITLES: Final = {"problem_rate": "Problem rate", "complaint_rate": "Complaint rate",
                  "silent_rate": "Silent unhappy", "recovery_rate": "Recovery rate"}


def _rates() -> list[str]:
    return [f"{ratio.masked_sql(MIN_N_SQL, lambda n: n)} AS {name}" for name, ratio in IMPACT_RATIOS.items()]


def _reach() -> list[str]:
    return [f"{WOM_NEGATIVE} * unrecovered_customers AS negative_reach",
            f"{WOM_POSITIVE} * positive_customers AS positive_reach"]


def ranked_sql(keys: Sequence[str]) -> str:
    """Scopes by revenue at risk: ranks, money, complaints, customer counts, masked rates, reach."""
    columns = [*keys, "revenue_rank", "revenue_at_risk", "complaint_rank", "complaints", "customers_seen",
               "customers_with_problem", "complainants", *_rates(), *_reach()]
    return (f"SELECT {', '.join(columns)}\nFROM ({impact_sql(keys, BOARD_SELECTION)})\n"
            "ORDER BY revenue_rank, complaint_rank")


def totals_sql() -> str:
    """The whole selection's counts, rates, revenue at risk and reach (one row)."""
    columns = ["revenue_at_risk", "customers_seen", *_rates(), *_reach()]
    return f"SELECT {', '.join(columns)}\nFROM ({scope_counts_sql((), BOARD_SELECTION)})"


def ranked_columns(keys: Sequence[str], headers: Sequence[str]) -> list[Column]:
    """Table columns in query order."""
    return [*(Column(k, h, unit="string") for k, h in zip(keys, headers, strict=True)),
            Column("revenue_rank", "Rank"), Column("revenue_at_risk", "Revenue at risk", "none", 0),
            Column("complaint_rank", "Complaint rank"), Column("complaints", "Complaints"),
            Column("customers_seen", "Customers"), Column("customers_with_problem", "With a problem"),
            Column("complainants", "Complained"),
            *(Column(name, _TITLES[name], "percent", 1, no_value=MASKED) for name in IMPACT_RATIOS),
            Column("negative_reach", "Hear of bad (people)"),
            Column("positive_reach", "Hear of good (people)")]


def ranked_table(keys: Sequence[str], headers: Sequence[str]) -> JSON:
    """One ranking of pain points."""
    scope = " x ".join(h.lower() for h in headers)
    return table(
        f"Pain points by {scope}", ranked_sql(keys),
        description=f"Per {scope}: rank by revenue at risk (the at-risk customers' CLV x loss rate, split "
                    "over their problem experiences), complaint-count rank beside it, customers with a "
                    "problem there, complaint rate (of them, customers who complained), silent unhappy "
                    "share, recovery rate of complainants (a CSAT >= 4 or NPS >= 9 answer within 30 days "
                    f"after the latest problem) and word of mouth ({WOM_NEGATIVE} people hear of each "
                    f"unrecovered problem, {WOM_POSITIVE} of each happy customer). {ASSUMPTIONS}. Rates "
                    f"\"{MASKED}\" below min n.",
        columns=ranked_columns(keys, headers), sort_by="Revenue at risk")


def headline(name: str, title: str, unit: str, decimals: int, meaning: str) -> JSON:
    """One figure of the whole selection."""
    return stat(title, totals_sql(), description=f"{meaning} {ASSUMPTIONS}.", unit=unit, decimals=decimals,
                steps=thresholds(Step("blue")), no_value=MASKED) | {
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": f"/^{name}$/", "values": True},
                    "colorMode": "value", "graphMode": "none", "justifyMode": "auto", "orientation": "auto",
                    "textMode": "value", "wideLayout": True, "showPercentChange": False}}


def assumption_variables() -> list[JSON]:
    """The CLV defaults and loss rates, editable on the board."""
    a = DEFAULT_ASSUMPTIONS
    return [textbox_variable("clv_defaults", "CLV defaults", a.clv_defaults),
            textbox_variable("loss_silent", "Loss rate, silent", f"{a.loss_silent:g}"),
            textbox_variable("loss_complained", "Loss rate, complained", f"{a.loss_complained:g}"),
            textbox_variable("loss_recovered", "Loss rate, recovered", f"{a.loss_recovered:g}")]


def build() -> JSON:
    """The whole board as Grafana dashboard JSON."""
    layout = Layout()
    layout.add_row("The whole selection")
    for args in (("revenue_at_risk", "Revenue at risk", "none", 0, "Sum of CLV x loss rate over customers "
                  "with an unrecovered problem (and complained-recovered ones at their lower rate)."),
                 ("problem_rate", "Problem rate", "percent", 1, "Customers with a problem / customers seen."),
                 ("recovery_rate", "Recovery rate", "percent", 1, "Complainants recovered / complainants."),
                 ("negative_reach", "Hear of a bad experience", "short", 0,
                  f"{WOM_NEGATIVE} x customers with an unrecovered problem (people)."),
                 ("positive_reach", "Hear of a good experience", "short", 0,
                  f"{WOM_POSITIVE} x customers whose latest answer is CSAT >= 4 or NPS >= 9 (people).")):
        layout.add(headline(*args), width=4 if args[0] != "revenue_at_risk" else 8, height=4)
    for keys, headers in ((("touchpoint",), ("Touchpoint",)),
                          (("journey_stage", "touchpoint"), ("Stage", "Touchpoint")),
                          (("partner_id",), ("Partner",)), (("location_id",), ("Location",))):
        layout.add_row(f"By {' x '.join(h.lower() for h in headers)}")
        layout.add(ranked_table(keys, headers), width=24, height=9)
    return dashboard(
        UID, TITLE, description="Pain points ranked by revenue at risk, with complaint rank, silent unhappy "
                                "share, recovery and word of mouth.",
        panels=layout.panels, variables=[*board_variables(), *assumption_variables()],
        tags=["cxpulse", "cx", "pain-points"], time_from=TIME_FROM, refresh="5m",
        annotations=[fixes_annotation()])
