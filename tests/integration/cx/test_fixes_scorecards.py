"""Scorecards and fixes on ClickHouse 18.16 and chDB, against a recomputation from raw events.

The Partners & locations and Fixes boards, the fixes annotation of every board, ``cxpulse scorecard``'s
intervals and ``fixes compare``'s comparisons must equal what this file recomputes from the events of
``cx_data``; ``cxpulse fixes compare`` calls the simulated fix improved and an untouched touchpoint
unchanged.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dashboards.build import BOARDS
from dashboards.panels import annotation_queries
from sql import fixes as fix_api
from sql.client import Database, ServerDatabase
from sql.scorecards import scorecard
from tests.integration.board_variables import MIN_N
from tests.integration.cx import reference as ref
from tests.integration.cx.data import (
    DAY,
    FIX_AT,
    WINDOW,
    assert_rows,
    in_window,
    on_board,
    panel,
    run,
    same,
)
from tests.integration.test_dashboard_queries import normalise

# --- scorecards -----------------------------------------------------------------------------------------


def scorecard_row(members: list[dict[str, Any]], roles: dict[str, str]) -> dict[str, Any]:
    s, f = ref.satisfaction(members), ref.fcr(members, roles)

    def interval(value: float | None, low_high: tuple[float, float]) -> tuple[Any, Any]:
        return (None, None) if value is None else low_high

    csat = interval(
        s["csat_pct"],
        tuple(100 * x for x in ref.wilson(s["csat_satisfied"], s["csat_n"])) if s["csat_n"] else (0, 0),
    )
    nps = (None, None)
    if s["nps"] is not None:
        p, d = s["promoters"] / s["nps_n"], s["detractors"] / s["nps_n"]
        half = ref.Z * math.sqrt(100**2 * (p + d - (p - d) ** 2) / s["nps_n"])
        nps = (max(-100, s["nps"] - half), min(100, s["nps"] + half))
    return {
        "csat_pct": s["csat_pct"],
        "csat_low": csat[0],
        "csat_high": csat[1],
        "csat_responses": s["csat_n"],
        "nps": s["nps"],
        "nps_low": nps[0],
        "nps_high": nps[1],
        "nps_responses": s["nps_n"],
        "fcr_pct": f["fcr_pct"],
        "fcr_decided": f["fcr_success"] + f["fcr_failure"],
        "complaint_rate": s["complaint_rate"],
        "contact_count": s["contacts"],
    }


@pytest.mark.parametrize(
    ("title", "key"),
    [("Partners ranked by CSAT %", "partner_id"), ("Locations ranked by CSAT %", "location_id")],
)
def test_scorecards_with_wilson_intervals(
    engine: Database, events: list[dict[str, Any]], roles: dict[str, str], title: str, key: str
) -> None:
    groups = ref.grouped([e for e in on_board(events) if e[key]], lambda e: (e[key],))
    assert_rows(
        run(engine, panel("partners_locations", title)[1], events),
        (key,),
        {k: scorecard_row(v, roles) for k, v in groups.items()},
    )
    command = scorecard(engine, WINDOW.start, WINDOW.end, key, MIN_N)
    mine = ref.grouped([e for e in in_window(events, WINDOW.start, WINDOW.end) if e[key]], lambda e: e[key])
    for row in command:
        want = scorecard_row(mine[row[key]], roles)
        for name in ("csat_low", "csat_high", "nps_low", "nps_high"):
            same(row[name], want[name], f"{row[key]} {name}")
    csat = [r["csat_pct"] for r in command if "csat_pct" not in r["masked"]]
    assert csat == sorted(csat, reverse=True) and command[0]["csat_rank"] == 1


# --- fixes ----------------------------------------------------------------------------------------------


def proportions_p(s0: int, n0: int, s1: int, n1: int) -> float:
    pooled = (s0 + s1) / (n0 + n1)
    z = (s1 / n1 - s0 / n0) / math.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1))
    return math.erfc(abs(z) / math.sqrt(2))


@pytest.mark.parametrize(
    ("touchpoint", "verdict"), [("order_status", "improved"), ("product_page", "no significant change")]
)
def test_fix_comparison_against_the_raw_events(
    engine: Database, events: list[dict[str, Any]], touchpoint: str, verdict: str
) -> None:
    [fix] = [f for f in fix_api.list_fixes(engine) if f.scope == {"touchpoint": touchpoint}]
    results = {r.figure: r for r in fix_api.compare_fix(engine, fix, 2 * DAY, 0, MIN_N)}
    scoped = [e for e in events if e["touchpoint"] == touchpoint]
    before = ref.satisfaction(in_window(scoped, FIX_AT - 2 * DAY, FIX_AT))
    after = ref.satisfaction(in_window(scoped, FIX_AT, FIX_AT + 2 * DAY))
    csat = results["csat_pct"]
    assert (csat.before_n, csat.after_n) == (before["csat_n"], after["csat_n"]) and min(
        before["csat_n"], after["csat_n"]
    ) > 100
    assert csat.comparison.difference == pytest.approx(after["csat_pct"] - before["csat_pct"])
    p = proportions_p(before["csat_satisfied"], before["csat_n"], after["csat_satisfied"], after["csat_n"])
    assert csat.comparison.p_value == pytest.approx(p, rel=1e-9)
    assert csat.verdict == verdict and fix_api.overall([r.verdict for r in results.values()]) == verdict
    assert results["nps"].verdict == "not enough data"  # these touchpoints ask no NPS
    if after["ces_n"] >= MIN_N and before["ces_n"] >= MIN_N:
        m0, m1 = before["ces_sum"] / before["ces_n"], after["ces_sum"] / after["ces_n"]
        v0 = (before["ces_squares"] - before["ces_n"] * m0 * m0) / (before["ces_n"] - 1) / before["ces_n"]
        v1 = (after["ces_squares"] - after["ces_n"] * m1 * m1) / (after["ces_n"] - 1) / after["ces_n"]
        assert results["ces_mean"].comparison.difference == pytest.approx(m1 - m0)
        assert results["ces_mean"].comparison.p_value == pytest.approx(
            math.erfc(abs(m1 - m0) / math.sqrt(v0 + v1) / math.sqrt(2)), abs=0.01
        )  # t ~ normal at this n


def test_fixes_board_lists_verdicts_and_every_board_draws_the_fixes(
    engine: Database, events: list[dict[str, Any]]
) -> None:
    rows = run(engine, panel("fixes", "Fixes and their verdicts")[1], events)
    verdicts = {r["scope_text"]: (r["fix_verdict"], r["csat_pct_verdict"], r["nps_verdict"]) for r in rows}
    assert verdicts == {
        "touchpoint=order_status": ("improved", "improved", "not enough data"),
        "touchpoint=product_page": ("no significant change", "no significant change", "not enough data"),
    }
    assert all(normalise({"time": r["at"]})["time"] == FIX_AT for r in rows)
    for name, build in BOARDS.items():
        [(_a, sql)] = [(a, s) for a, s in annotation_queries(build()) if a["name"] == "Fixes"]
        drawn = run(engine, sql, events)
        assert sorted((r["time"], r["tags"]) for r in drawn) == [
            (FIX_AT, "fix,touchpoint=order_status"),
            (FIX_AT, "fix,touchpoint=product_page"),
        ], name


def test_fixes_compare_command_says_improved_and_unchanged(
    server_data: ServerDatabase, cli_env: dict[str, str]
) -> None:
    env = {**cli_env, "CXPULSE_CLICKHOUSE_DATABASE": server_data.database}
    cxpulse = str(Path(sys.executable).parent / "cxpulse")
    listed = subprocess.run(
        [cxpulse, "fixes", "list"], env=env, capture_output=True, text=True, check=True
    ).stdout
    for touchpoint, verdict in (("order_status", "improved"), ("product_page", "no significant change")):
        [fix] = [f for f in fix_api.list_fixes(server_data) if f.scope == {"touchpoint": touchpoint}]
        assert fix.fix_id in listed
        out = subprocess.run(
            [cxpulse, "fixes", "compare", fix.fix_id, "--window", "2d"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.rstrip().endswith(f"verdict: {verdict}"), out
        assert "CSAT %" in out and "95% interval" in out


