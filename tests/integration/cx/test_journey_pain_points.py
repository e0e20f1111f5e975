"""The journey map and pain points on ClickHouse 18.16 and chDB, against a recomputation from raw events.

Every panel of the Journey map and Pain points boards, expanded as Grafana would, and the Python API
behind ``cxpulse journey`` and ``cxpulse impact``, must show exactly what ``cx.reference`` recomputes
from the events of ``cx_data``, and return rows; ratios below min n are masked.
"""

from __future__ import annotations

from typing import Any

import pytest

from dashboards.build import BOARDS
from dashboards.panels import sql_queries
from sql.client import Database
from sql.experience import DEFAULT_ASSUMPTIONS
from sql.impact import impact
from sql.journey import journey
from tests.integration.board_variables import MIN_N
from tests.integration.cx import reference as ref
from tests.integration.cx.data import (
    WINDOW,
    assert_rows,
    in_window,
    on_board,
    panel,
    run,
    same,
)

# --- journey map ----------------------------------------------------------------------------------------


def journey_cell(now: list[dict[str, Any]], before: list[dict[str, Any]]) -> dict[str, Any]:
    a, b = ref.satisfaction(now), ref.satisfaction(before) if before else None

    def change(name: str) -> float | None:
        return None if b is None or a[name] is None or b[name] is None else a[name] - b[name]

    return {
        "volume": a["volume"],
        "csat_pct": a["csat_pct"],
        "csat_responses_n": a["csat_n"],
        "nps": a["nps"],
        "nps_responses_n": a["nps_n"],
        "ces_mean": a["ces_mean"],
        "ces_responses_n": a["ces_n"],
        "complaint_rate": a["complaint_rate"],
        "contacts_n": a["contacts"],
        "csat_pct_change": change("csat_pct"),
        "nps_change": change("nps"),
        "volume_change": a["volume"] - (b["volume"] if b else 0),
    }


def test_journey_map_cells_and_changes(engine: Database, events: list[dict[str, Any]]) -> None:
    _p, sql = panel("journey_map", "Journey map: stage x touchpoint")
    length = WINDOW.end - WINDOW.start
    previous = [e for e in events if WINDOW.start - length <= e["occurred_at"] // 60_000 * 60 < WINDOW.start]
    key = lambda e: (e["journey_stage"], e["touchpoint"])  # noqa: E731
    before = ref.grouped(previous, key)
    want = {k: journey_cell(v, before.get(k, [])) for k, v in ref.grouped(on_board(events), key).items()}
    rows = run(engine, sql, events)
    assert_rows(rows, ("journey_stage", "touchpoint"), want)
    assert want[("purchase", "tiny_page")]["csat_pct"] is None  # 3 answers: masked
    assert any(r["csat_pct_change"] for r in rows)  # the previous period has data


def test_journey_command_cells_and_moments_of_truth(
    engine: Database, events: list[dict[str, Any]], roles: dict[str, str]
) -> None:
    view = journey(engine, WINDOW.start, WINDOW.end, MIN_N, ["checkout"])
    mine = in_window(events, WINDOW.start, WINDOW.end)
    previous = ref.grouped(
        in_window(events, 2 * WINDOW.start - WINDOW.end, WINDOW.start),
        lambda e: (e["journey_stage"], e["touchpoint"]),
    )
    cells = ref.grouped(mine, lambda e: (e["journey_stage"], e["touchpoint"]))
    assert {(c["journey_stage"], c["touchpoint"]) for c in view["cells"]} == set(cells)
    scores = ref.moments_of_truth(mine, roles)
    for cell in view["cells"]:
        k = (cell["journey_stage"], cell["touchpoint"])
        want, before = ref.satisfaction(cells[k]), ref.satisfaction(previous.get(k, []))
        for name in ("csat_pct", "nps", "ces_mean", "complaint_rate"):
            shown = None if name in cell["masked"] else cell[name]
            same(shown, want[name], f"{k} {name}")
            change = None if want[name] is None or before[name] is None else want[name] - before[name]
            same(cell["change"][name], change, f"{k} change of {name}")
        same(cell["mot_score"], scores.get(k[1], {}).get("mot_score"), f"{k} moment of truth")
        assert cell["moment_of_truth"] == (k[1] == "checkout")
    assert any(s["mot_score"] is not None for s in scores.values())


def test_moments_of_truth_panel(
    engine: Database, events: list[dict[str, Any]], roles: dict[str, str]
) -> None:
    _p, sql = panel("journey_map", "Moments of truth")
    rows = run(engine, sql, events, moments_of_truth="checkout, order_status")
    want = ref.moments_of_truth(on_board(events), roles)
    for touchpoint, figures in want.items():
        figures["configured"] = int(touchpoint in ("checkout", "order_status"))
    assert_rows(rows, ("touchpoint",), {(k,): v for k, v in want.items()})


def test_fcr_by_stage_and_csat_by_stage_every_hour(
    engine: Database, events: list[dict[str, Any]], roles: dict[str, str]
) -> None:
    _p, sql = panel("journey_map", "FCR by stage x touchpoint")
    board = on_board(events)
    contacts = [e for e in board if e["event_id"] in roles]
    want = {
        k: ref.fcr(v, roles)
        for k, v in ref.grouped(contacts, lambda e: (e["journey_stage"], e["touchpoint"])).items()
    }
    for figures in want.values():
        del figures["fcr_success"], figures["fcr_failure"]
    assert_rows(run(engine, sql, events), ("journey_stage", "touchpoint"), want)
    _p, sql = panel("journey_map", "CSAT % by journey stage, every hour")
    hourly = ref.grouped(board, lambda e: (e["occurred_at"] // 3_600_000 * 3600, e["journey_stage"]))
    assert_rows(
        run(engine, sql, events),
        ("time", "journey_stage"),
        {k: {"csat_pct": ref.satisfaction(v)["csat_pct"]} for k, v in hourly.items()},
    )


# --- pain points ----------------------------------------------------------------------------------------

RANKED = {
    "Pain points by touchpoint": ("touchpoint",),
    "Pain points by stage x touchpoint": ("journey_stage", "touchpoint"),
    "Pain points by partner": ("partner_id",),
    "Pain points by location": ("location_id",),
}


def board_scope(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in row.items()
        if k not in ("recovered_complainants", "unrecovered_customers", "positive_customers")
    }


@pytest.mark.parametrize("title", RANKED)
def test_pain_points_ranked_by_revenue_at_risk(
    engine: Database, events: list[dict[str, Any]], roles: dict[str, str], title: str
) -> None:
    keys = RANKED[title]
    want = {k: board_scope(v) for k, v in ref.scopes(on_board(events), roles, keys).items()}
    rows = run(engine, panel("pain_points", title)[1], events)
    assert_rows(rows, keys, want)
    assert [r["revenue_rank"] for r in rows] == sorted(r["revenue_rank"] for r in rows)


def test_pain_point_headlines(engine: Database, events: list[dict[str, Any]], roles: dict[str, str]) -> None:
    [total] = ref.scopes(on_board(events), roles, ()).values()
    for p, sql in sql_queries(BOARDS["pain_points"]()):
        if p["type"] == "stat":
            [row] = run(engine, sql, events)
            for name in (
                "revenue_at_risk",
                "customers_seen",
                "problem_rate",
                "complaint_rate",
                "silent_rate",
                "recovery_rate",
                "negative_reach",
                "positive_reach",
            ):
                same(row[name], total[name], f"{p['title']}: {name}")
    assert total["revenue_at_risk"] > 0 and total["complainants"] > 0 and total["recovered_complainants"] > 0


def test_impact_command_matches_the_reference(
    engine: Database, events: list[dict[str, Any]], roles: dict[str, str]
) -> None:
    mine = in_window(events, WINDOW.start, WINDOW.end)
    result = impact(engine, WINDOW.start, WINDOW.end, "touchpoint", DEFAULT_ASSUMPTIONS, MIN_N)
    want = ref.scopes(mine, roles, ("touchpoint",))
    [total] = ref.scopes(mine, roles, ()).values()
    for row in [*result["scopes"], result["total"]]:
        expected = want[(row["touchpoint"],)] if "touchpoint" in row else total
        for name, value in expected.items():
            if name not in row:
                continue  # ranks: only scopes have them
            shown = None if name in row["masked"] else row[name]
            if name == "revenue_at_risk":  # the command rounds money to cents
                assert shown == pytest.approx(value, abs=0.0051), f"{row.get('touchpoint')} {name}"
            else:
                same(shown, value, f"{row.get('touchpoint')} {name}")
    assert result["assumptions"]["loss_silent"] == 0.25 and result["assumptions"]["currency"] == "USD"
    # the customer whose later CLV values are not numbers: their latest valid one (120.5) counts
    people = ref.customers(mine, roles)
    assert people["clv"]["clv"] == 120.5 and people["clv"]["outcome"] == "silent"
    assert people["v1"]["problems"] == 0  # the CSAT 1 was replaced by version 7's CSAT 5
    assert sum(s["revenue_at_risk"] for s in result["scopes"]) == pytest.approx(
        result["total"]["revenue_at_risk"], abs=0.01 * len(result["scopes"])
    )


def test_every_cx_panel_is_checked_here() -> None:
    checked = {
        ("journey_map", t)
        for t in (
            "Journey map: stage x touchpoint",
            "Moments of truth",
            "FCR by stage x touchpoint",
            "CSAT % by journey stage, every hour",
        )
    }
    checked |= {("pain_points", t) for t in RANKED} | {("fixes", "Fixes and their verdicts")}
    checked |= {
        ("partners_locations", t) for t in ("Partners ranked by CSAT %", "Locations ranked by CSAT %")
    }
    for name in ("journey_map", "pain_points", "fixes", "partners_locations"):
        for p, _sql in sql_queries(BOARDS[name]()):
            assert (name, p["title"]) in checked or (name == "pain_points" and p["type"] == "stat"), p[
                "title"
            ]


def test_masking_below_min_n(engine: Database, events: list[dict[str, Any]]) -> None:
    rows = run(engine, panel("journey_map", "Journey map: stage x touchpoint")[1], events, min_n="4")
    [tiny] = [r for r in rows if r["touchpoint"] == "tiny_page"]
    assert tiny["csat_pct"] is None and tiny["csat_responses_n"] == 3  # n<4: masked, n kept
    [tiny] = [
        r
        for r in run(engine, panel("journey_map", "Journey map: stage x touchpoint")[1], events, min_n="3")
        if r["touchpoint"] == "tiny_page"
    ]
    assert tiny["csat_pct"] == 100.0  # n = 3 >= min n 3: shown
