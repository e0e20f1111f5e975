"""Pure rules of the CX layer: scopes, fix ids, verdicts, assumptions, minimum n."""

from __future__ import annotations

import pytest

from cxpulse import cx_view
from sql.experience import Assumptions, clv_spec_problems
from sql.figures import RATIOS, mask
from sql.fixes import fix_id, overall, parse_scope, verdict
from sql.impact import with_rates
from sql.stats import Comparison


def test_a_fix_scope_names_known_dimensions_once_each() -> None:
    assert parse_scope("touchpoint=checkout, location_id=kiosk-hcm-q1") == {
        "touchpoint": "checkout", "location_id": "kiosk-hcm-q1"}
    with pytest.raises(ValueError) as info:
        parse_scope("colour=red,touchpoint=,touchpoint=a,touchpoint=b")
    assert all(s in str(info.value) for s in ("colour", "give a value", "twice"))
    with pytest.raises(ValueError, match="needs a scope"):
        parse_scope(" ")


def test_the_same_fix_gets_the_same_id() -> None:
    a = fix_id({"touchpoint": "checkout", "channel": "web"}, 100, "n")
    assert a == fix_id({"channel": "web", "touchpoint": "checkout"}, 100, "n")
    assert a != fix_id({"touchpoint": "checkout", "channel": "web"}, 101, "n") and a.startswith("fix-")


@pytest.mark.parametrize(("difference", "p", "n", "expected"), [
    (5.0, 0.01, 50, "improved"), (-5.0, 0.01, 50, "worse"), (5.0, 0.05, 50, "no significant change"),
    (5.0, None, 50, "no significant change"), (5.0, 0.001, 4, "not enough data"),
])
def test_a_figure_improved_only_when_p_is_below_005(difference: float, p: float | None, n: int,
                                                    expected: str) -> None:
    assert verdict(Comparison(difference, None, None, p, "z"), n, 50, 5) == expected


def test_a_fix_verdict_from_its_figures() -> None:
    assert overall(["improved", "not enough data", "no significant change"]) == "improved"
    assert overall(["improved", "worse"]) == "mixed"
    assert overall(["worse", "no significant change"]) == "worse"
    assert overall(["not enough data"] * 4) == "not enough data"
    assert overall(["no significant change", "not enough data"]) == "no significant change"


def test_assumptions_are_checked_and_described() -> None:
    assert clv_spec_problems("web=10,default=5") == []
    assert len(clv_spec_problems("moon=3,web=x")) == 3  # unknown channel, not a number, no default
    with pytest.raises(ValueError, match="loss_silent"):
        Assumptions("default=1", 1.5, 0.1, 0.1)
    line = Assumptions("default=300", 0.25, 0.35, 0.1, "EUR").describe()
    assert "default=300 EUR" in line and "silent 0.25" in line and "recovered 0.1" in line


def test_minimum_n_masks_ratios_but_keeps_values_and_counts() -> None:
    counts = {name: 0 for ratio in RATIOS.values() for name in (*ratio.numerator, *ratio.denominator)}
    row = {**counts, "csat_satisfied": 3, "csat_responses": 4, "nps_responses": 5, "nps_promoters": 5,
           "csat_pct": 75.0, "nps": 100.0}
    masked = mask(row, 5)
    assert "csat_pct" in masked["masked"] and "nps" not in masked["masked"]
    assert masked["csat_pct"] == 75.0 and masked["csat_responses"] == 4  # JSON keeps both
    assert cx_view.shown(masked, "csat_pct", 5) == "n<5" and cx_view.shown(masked, "nps", 5) == "100.0"
    assert RATIOS["csat_pct"].masked_sql("5") == (
        "if(sum(csat_responses) >= 5, 100 * sum(csat_satisfied) / nullIf(sum(csat_responses), 0), NULL)")


def test_pain_point_rates_and_reach_from_counts() -> None:
    row = with_rates({"customers_seen": 40, "customers_with_problem": 10, "complainants": 4,
                      "recovered_complainants": 1, "unrecovered_customers": 7, "positive_customers": 20,
                      "complaints": 6, "revenue_at_risk": 1234.567}, 5)
    assert (row["problem_rate"], row["complaint_rate"], row["silent_rate"]) == (25.0, 40.0, 60.0)
    assert row["recovery_rate"] == 25.0 and row["masked"] == ["recovery_rate"]  # 4 complainants < 5
    assert (row["negative_reach"], row["positive_reach"], row["revenue_at_risk"]) == (70, 100, 1234.57)
