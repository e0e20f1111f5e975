"""The CX layer on ClickHouse 18.16 and chDB: every figure against a recomputation from the raw events.

Four days of the simulator's ``fix`` scenario (web order_status improves at the middle), plus crafted
events: a touchpoint with too few answers to show (masked), an event whose later version turns a
CSAT 1 into a 5, an anonymous complaint, and a customer whose latest ``attributes.clv`` values are
not numbers. They are inserted as the worker stores them (every version in ``touchpoint_events``,
minute counts and FCR rows of the latest versions) into a fresh database on each engine. Every
panel of the Journey map, Pain points, Fixes and Partners & locations boards, expanded as Grafana
would, and the Python API behind the commands, must show exactly what ``cx_reference`` recomputes
from the events, and return rows. ``cxpulse fixes compare`` must call the fix improved and an
untouched touchpoint unchanged.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.simulator import fix_time, generate_events
from cxpulse.settings import Settings
from dashboards.build import BOARDS
from dashboards.macros import TimeRange, expand
from dashboards.panels import JSON, annotation_queries, sql_queries
from schemas.event import validate_event
from sql import fixes as fix_api
from sql.client import ChdbDatabase, Database, ServerDatabase
from sql.experience import DEFAULT_ASSUMPTIONS
from sql.impact import impact
from sql.journey import journey
from sql.migrate import migrate
from sql.scorecards import scorecard
from streams.fcr.processor import FCR_COLUMNS
from streams.satisfaction.contributions import EVENT_COLUMNS, event_row
from streams.sinks.checkpoints import LEDGER_COLUMNS, MINUTE_TABLE, minute_rows
from tests.conftest import unique_name
from tests.fcr_table import worker_batches
from tests.integration import cx_reference as ref
from tests.integration.board_variables import MIN_N, all_of
from tests.integration.dashboard_reference import fcr_roles
from tests.integration.test_dashboard_queries import insert_chdb, normalise

DAY = 86_400
NOW = int(time.time())
START_MS = (NOW - 5 * DAY) // 60 * 60 * 1000
"""A minute start, and so is the fix (two days later): minute buckets and seconds select alike."""
SPAN_S = 4 * DAY
FIX_AT = fix_time(START_MS, SPAN_S) // 1000
WINDOW = TimeRange(FIX_AT, FIX_AT + 2 * DAY)
"""The boards' range (and the commands' [start, end)): the two days after the fix."""
EXTRA_AT_MS = (FIX_AT + DAY) * 1000


def crafted() -> list[dict[str, Any]]:
    """Edge cases inside the window."""

    def event(n: str, offset_s: int, **fields: Any) -> dict[str, Any]:
        t = EXTRA_AT_MS + offset_s * 1000
        return validate_event(
            {
                "event_id": f"cx-{n}",
                "occurred_at": t,
                "received_at": t + 1000,
                "channel": "web",
                "source": "cx-test",
                "kind": "response",
                "touchpoint": "checkout",
                "journey_stage": "purchase",
                **fields,
            }
        )

    events = [event(f"tiny-{i}", i, customer_id=f"x{i}", touchpoint="tiny_page", csat=5) for i in range(3)]
    old, new = event("ver", 10, customer_id="v1", csat=1), event("ver", 10, customer_id="v1", csat=5)
    old["version"], new["version"] = 0, 7
    events += [old, new]
    events.append(
        event(
            "anon",
            20,
            kind="contact",
            channel="kiosk",
            touchpoint="store_entrance",
            journey_stage="awareness",
            complaint=True,
        )
    )
    events += [
        event("clv-1", 30, customer_id="clv", csat=1, attributes={"clv": "120.5"}),
        event("clv-2", 40, customer_id="clv", csat=3, attributes={"clv": "n/a"}),
        event("clv-3", 50, customer_id="clv", csat=3, attributes={"clv": "-3"}),
    ]
    return events


@pytest.fixture(scope="module")
def stored() -> list[dict[str, Any]]:
    """Every stored copy (both versions of the versioned event)."""
    simulated = [validate_event(e) for e in generate_events("fix", 21, START_MS, SPAN_S, 0.03)]
    return simulated + crafted()


@pytest.fixture(scope="module")
def events(stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return ref.latest_versions(stored)


@pytest.fixture(scope="module")
def roles(events: list[dict[str, Any]]) -> dict[str, str]:
    return fcr_roles(events, NOW * 1000)


def load(db: Database, stored: list[dict[str, Any]], events: list[dict[str, Any]], insert: Any) -> None:
    migrate(db)
    insert(db, "touchpoint_events", EVENT_COLUMNS, [event_row(e, 0, i) for i, e in enumerate(stored)])
    insert(db, MINUTE_TABLE, LEDGER_COLUMNS, minute_rows(events))
    for rows in worker_batches([events]):
        insert(db, "fcr_contacts", FCR_COLUMNS, rows)
    for touchpoint in ("order_status", "product_page"):
        fix = fix_api.add_fix(db, {"touchpoint": touchpoint}, FIX_AT, f"change at {touchpoint}")
        fix_api.store_comparisons(db, fix, fix_api.compare_fix(db, fix, 2 * DAY, 0, MIN_N), 2 * DAY, 0)


def _chunks(db: ChdbDatabase, table: str, columns: Any, rows: list[Any]) -> None:
    for i in range(0, len(rows), 2000):
        insert_chdb(db, table, columns, rows[i : i + 2000])


@pytest.fixture(scope="module")
def server_data(
    running_stack: Settings, stored: list[dict[str, Any]], events: list[dict[str, Any]]
) -> Iterator[ServerDatabase]:
    db = ServerDatabase(running_stack.clickhouse_host, running_stack.clickhouse_port, unique_name("cx"))
    db.create_database()
    load(db, stored, events, lambda d, t, c, r: d.insert(t, c, r))
    yield db
    db.drop_database()
    db.close()


@pytest.fixture(scope="module")
def chdb_data(stored: list[dict[str, Any]], events: list[dict[str, Any]]) -> Iterator[ChdbDatabase]:
    db = ChdbDatabase(unique_name("cx"))
    load(db, stored, events, _chunks)
    yield db
    db.close()


# --- helpers ------------------------------------------------------------------------------------------


def on_board(events: list[dict[str, Any]], window: TimeRange = WINDOW) -> list[dict[str, Any]]:
    """Events whose minute lies in the board's range (both ends included)."""
    return [e for e in events if window.start <= e["occurred_at"] // 60_000 * 60 <= window.end]


def in_window(events: list[dict[str, Any]], start_s: int, end_s: int) -> list[dict[str, Any]]:
    return [e for e in events if start_s * 1000 <= e["occurred_at"] < end_s * 1000]


def panel(board: str, title: str) -> tuple[JSON, str]:
    [(p, s)] = [(p, s) for p, s in sql_queries(BOARDS[board]()) if p["title"] == title]
    return p, s


def run(db: Database, sql: str, events: list[dict[str, Any]], **variables: str) -> list[dict[str, Any]]:
    rows = [normalise(r) for r in db.query(expand(sql, WINDOW, all_of(events, **variables)))]
    assert rows, "the panel shows nothing on the seeded data"
    return rows


def same(got: Any, want: Any, what: str) -> None:
    if want is None or got is None:
        assert got is None and want is None, f"{what}: {got} != {want}"
    elif isinstance(want, float | int) and not isinstance(want, bool):
        assert float(got) == pytest.approx(want, rel=1e-6, abs=1e-3), what  # outputs keep 4 decimals
    else:
        assert got == want, what


def assert_rows(rows: list[dict[str, Any]], keys: tuple[str, ...], want: dict[Any, dict[str, Any]]) -> None:
    got = {tuple(r[k] for k in keys): r for r in rows}
    assert set(got) == set(want), f"groups differ: {set(got) ^ set(want)}"
    for key, row in got.items():
        for name, value in row.items():
            if name not in keys:
                assert name in want[key], f"no independent recomputation of {name!r}"
                same(value, want[key][name], f"{key} {name}")


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
            same(
                shown,
                round(value, 2) if name == "revenue_at_risk" else value,
                f"{row.get('touchpoint')} {name}",
            )
    assert result["assumptions"]["loss_silent"] == 0.25 and result["assumptions"]["currency"] == "USD"
    # the customer whose later CLV values are not numbers: their latest valid one (120.5) counts
    people = ref.customers(mine, roles)
    assert people["clv"]["clv"] == 120.5 and people["clv"]["outcome"] == "silent"
    assert people["v1"]["problems"] == 0  # the CSAT 1 was replaced by version 7's CSAT 5
    assert sum(s["revenue_at_risk"] for s in result["scopes"]) == pytest.approx(
        result["total"]["revenue_at_risk"], abs=0.01 * len(result["scopes"])
    )


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
