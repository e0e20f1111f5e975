"""Every board query, expanded as Grafana would, runs on ClickHouse 18.16 and on modern ClickHouse (chDB).

A known set of events (``dashboard_reference``: responses and contacts over the last minutes, hour and
day; FCR stories, ineligible contacts and random contacts over two weeks; survey FCR answers) is inserted
into ``touchpoint_events`` and its minute counts into ``minute_counts`` on both engines, each in a
fresh database. The worker's FCR processor turns the contacts into ``fcr_contacts`` rows in
batches, a late repeat last, so FINAL must pick rewritten rows. Each panel query must succeed and return
rows on both engines, agree between them, and show exactly the figures recomputed from the events by
METRICS.md rules (written apart from the pipeline's code).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from cxpulse.settings import Settings
from dashboards.build import BOARDS
from dashboards.macros import TimeRange, expand, panel_range
from dashboards.panels import JSON, sql_queries, walk_panels
from sql.client import ChdbDatabase, Database, ServerDatabase
from sql.migrate import migrate
from streams.fcr.processor import FCR_COLUMNS
from streams.satisfaction.contributions import EVENT_COLUMNS, event_row
from streams.sinks.checkpoints import LEDGER_COLUMNS, MINUTE_TABLE, minute_rows
from tests.conftest import unique_name
from tests.fcr_table import worker_batches
from tests.integration.board_variables import all_of, masked
from tests.integration.conftest import fresh_database
from tests.integration.dashboard_reference import (
    CONTACT_ONLY_CHANNEL,
    LATE_EVENT_ID,
    SCORED_CHANNELS,
    STORY_ROLES,
    Event,
    Scenario,
    build_scenario,
    expected_figures,
    group,
    in_range,
)

FIGURE_TABLES = ("minute_counts", "fcr_contacts")
"""Panels over these tables show figures of the events inserted here; the alerts and closed-loop
panels are checked in ``test_dashboard_alerts_followups``."""
TIME_COLUMNS = frozenset({"time", "timeEnd", "first_seen", "resolved_at", "triggered_at", "due_at"})
"""Result columns holding a DateTime: normalised to epoch seconds."""
KEY_COLUMNS = ("time", "channel", "agent_id", "contact_reason")
"""Result columns that name a group; every other column is a figure."""
Rows = list[tuple[Any, ...]]


# --- engines ------------------------------------------------------------------------------------------

def insert_chdb(db: ChdbDatabase, table: str, columns: Sequence[str], rows: Rows) -> None:
    values = ", ".join(
        "(" + ", ".join(f"%(r{i}_{j})s" for j in range(len(columns))) + ")" for i in range(len(rows))
    )
    params = {f"r{i}_{j}": value for i, row in enumerate(rows) for j, value in enumerate(row)}
    db.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}", params)


def event_rows(events: list[Event]) -> Rows:
    return [event_row(e, 0, offset) for offset, e in enumerate(events)]


def fcr_batches(events: list[Event]) -> list[Rows]:
    """``fcr_contacts`` rows as the worker writes them: two shuffled batches, then the late repeat."""
    early = [e for e in events if e["event_id"] != LATE_EVENT_ID]
    random.Random(7).shuffle(early)
    late = [e for e in events if e["event_id"] == LATE_EVENT_ID]
    return worker_batches([early[::2], early[1::2], late])


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return build_scenario(int(time.time()))


@pytest.fixture(scope="module")
def fcr_rows(scenario: Scenario) -> list[Rows]:
    return fcr_batches(scenario.events)


@pytest.fixture(scope="module")
def server_data(running_stack: Settings, scenario: Scenario, fcr_rows: list[Rows]
                ) -> Iterator[ServerDatabase]:
    """The stack's 18.16 server, in a database of this module's own (other tests write to the stack's
    database, and these figures must come from the events inserted here only)."""
    with fresh_database(running_stack, "dash") as db:
        db.insert("touchpoint_events", EVENT_COLUMNS, event_rows(scenario.events))
        db.insert(MINUTE_TABLE, LEDGER_COLUMNS, minute_rows(scenario.events))
        for rows in fcr_rows:  # one part per batch: FINAL merges them
            db.insert("fcr_contacts", FCR_COLUMNS, rows)
        yield db


@pytest.fixture(scope="module")
def chdb_data(scenario: Scenario, fcr_rows: list[Rows]) -> Iterator[ChdbDatabase]:
    db = ChdbDatabase(unique_name("dash"))
    migrate(db)
    insert_chdb(db, "touchpoint_events", EVENT_COLUMNS, event_rows(scenario.events))
    insert_chdb(db, MINUTE_TABLE, LEDGER_COLUMNS, minute_rows(scenario.events))
    for rows in fcr_rows:
        insert_chdb(db, "fcr_contacts", FCR_COLUMNS, rows)
    yield db
    db.close()



# --- running board queries ----------------------------------------------------------------------------

def all_panel_queries() -> list[tuple[str, JSON, str]]:
    return [(name, panel, sql) for name, build in BOARDS.items() for panel, sql in sql_queries(build())]


def shows_figures(sql: str) -> bool:
    """True for a query over the figure tables (minute counts, FCR outcomes) only."""
    return any(table in sql for table in FIGURE_TABLES) and "FROM alerts" not in sql


OPS_BOARDS = ("ops_overview", "contact_center")
"""Boards whose figure panels this module checks; the CX boards: ``tests/integration/cx/``."""
FIGURE_QUERIES = [(name, panel, sql) for name, panel, sql in all_panel_queries()
                  if shows_figures(sql) and name in OPS_BOARDS]


PANEL_QUERIES = FIGURE_QUERIES
PANEL_IDS = [f"{name}:{panel['id']}:{panel['title']}" for name, panel, _sql in PANEL_QUERIES]


def panel_titled(board: str, title: str) -> tuple[JSON, str]:
    [(panel, sql)] = [(p, s) for name, p, s in PANEL_QUERIES if name == board and p["title"] == title]
    return panel, sql


def run_panel(db: Database, scenario: Scenario, panel: JSON, sql: str,
              channels: list[str] | None = None) -> list[dict[str, Any]]:
    window = panel_range(panel, scenario.dashboard_range, scenario.now)
    expanded = expand(sql, window, all_of(scenario.events, channels or scenario.channels))
    return [normalise(row) for row in db.query(expanded)]


def normalise(row: dict[str, Any]) -> dict[str, Any]:
    """Both engines' values in one form: times as epoch seconds, numbers as float, NULL as None."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in TIME_COLUMNS and value is not None:
            stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
            out[key] = int((stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp())
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = float(value)
        else:
            out[key] = value
    return out


def panel_events(scenario: Scenario, sql: str, window: TimeRange, channels: list[str]) -> list[Event]:
    """The events a query sees: all of them in ``minute_counts``, else the eligible contacts (the
    rows of ``fcr_contacts``)."""
    events = in_range(scenario.events, window, channels)
    if "minute_counts" in sql:
        return events
    return [e for e in events if e["event_id"] in scenario.roles]


def group_key(keys: Sequence[str], sql: str) -> Callable[[Event], Hashable]:
    """An event's group in a panel with these key columns (time: the query's bucket start, epoch s)."""
    bucket_s = 3600 if "toStartOfHour(" in sql else 300
    return lambda e: tuple(e["occurred_at"] // (bucket_s * 1000) * bucket_s if k == "time" else e[k]
                           for k in keys)


def assert_panel_shows_the_recomputed_figures(db: Database, scenario: Scenario, panel: JSON, sql: str,
                                               channels: list[str]) -> None:
    """Run the panel for ``channels``; every row and figure as recomputed from the events."""
    rows = run_panel(db, scenario, panel, sql, channels)
    assert rows, "the panel shows nothing"
    keys = [k for k in KEY_COLUMNS if k in rows[0]]
    window = panel_range(panel, scenario.dashboard_range, scenario.now)
    groups = group(panel_events(scenario, sql, window, channels), group_key(keys, sql))
    assert {tuple(r[k] for k in keys) for r in rows} == set(groups), "groups differ"
    for row in rows:
        key = tuple(row[k] for k in keys)
        want = expected_figures(groups[key], scenario.roles)
        for name in row.keys() - set(keys):
            assert name in want, f"no independent recomputation of {name!r}"
            if want[name] is None:
                assert row[name] is None, f"{key} {name}: NULL expected, got {row[name]}"
            else:
                assert row[name] == pytest.approx(want[name]), f"{key} {name}"


# --- the tests ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("board", "panel", "sql"), PANEL_QUERIES, ids=PANEL_IDS)
def test_panel_query_shows_the_figures_of_the_inserted_events(
        engine: Database, scenario: Scenario, board: str, panel: JSON, sql: str) -> None:
    assert_panel_shows_the_recomputed_figures(engine, scenario, panel, sql, scenario.channels)


@pytest.mark.parametrize("time_from", ["5m", "1h", "24h"])
def test_csat_pct_by_channel_stat_equals_the_recomputed_csat(
        engine: Database, scenario: Scenario, time_from: str) -> None:
    board = BOARDS["ops_overview"]()
    panel, sql = next((p, s) for p, s in sql_queries(board)
                      if p["title"].startswith("CSAT % by channel") and p.get("timeFrom") == time_from)
    rows = {r["channel"]: r["csat_pct"] for r in run_panel(engine, scenario, panel, sql)}
    window = TimeRange(scenario.now - {"5m": 300, "1h": 3600, "24h": 86400}[time_from], scenario.now)
    expected = {}
    for channel, events in group(in_range(scenario.events, window, scenario.channels),
                                 lambda e: e["channel"]).items():
        scores = [e["csat"] for e in events if e["csat"] is not None]
        expected[channel] = masked(sum(s >= 4 for s in scores), len(scores))
    assert rows == pytest.approx(expected)
    assert rows[CONTACT_ONLY_CHANNEL] is None  # no responses: no CSAT, not a CSAT of 0
    assert all(rows[c] is not None for c in SCORED_CHANNELS)


def brute_force_by_channel(scenario: Scenario, column: str) -> dict[str, Any]:
    """Straight from METRICS.md, per channel over the dashboard range."""
    expected: dict[str, Any] = {}
    for channel, events in group(in_range(scenario.events, scenario.dashboard_range, scenario.channels),
                                 lambda e: e["channel"]).items():
        role = [scenario.roles[e["event_id"]] for e in events if e["event_id"] in scenario.roles]
        decided = role.count("success") + role.count("failure")
        fcr = masked(role.count("success"), decided)
        answers = [e["attributes"].get("resolved_first_contact") for e in events
                   if e["kind"] == "response" and e["attributes"].get("resolved_first_contact")]
        survey = masked(answers.count("yes"), len(answers))
        if column == "fcr_gap":
            expected[channel] = None if fcr is None or survey is None else survey - fcr
        elif role:  # fcr_contacts has a row per eligible contact only
            expected[channel] = fcr if column == "fcr_pct" else role.count("pending")
    return expected


@pytest.mark.parametrize(("title", "column"), [
    ("FCR % by channel", "fcr_pct"),
    ("Pending first contacts by channel", "fcr_pending"),
    ("FCR gap by channel: survey vs. operational", "fcr_gap"),
])
def test_contact_center_headlines_equal_the_brute_force_recomputation(
        engine: Database, scenario: Scenario, title: str, column: str) -> None:
    panel, sql = panel_titled("contact_center", title)
    shown = {r["channel"]: r[column] for r in run_panel(engine, scenario, panel, sql)}
    assert shown == pytest.approx(brute_force_by_channel(scenario, column))
    assert any(shown.values()), "only zeros and NULLs: the scenario does not exercise this panel"
    if column == "fcr_gap":
        assert shown["kiosk"] is None  # no survey FCR answers there: no gap, not a gap of -FCR %


def test_the_scenario_tells_every_fcr_story(scenario: Scenario) -> None:
    assert {story: scenario.roles[f"dash-fcr-{story}"] for story in STORY_ROLES} == STORY_ROLES
    assert "dash-fcr-no-customer" not in scenario.roles and "dash-fcr-no-reason" not in scenario.roles


def test_stored_outcomes_of_the_stories_after_the_late_repeat(engine: Database, scenario: Scenario) -> None:
    rows = engine.query("SELECT event_id, is_first, failed, decides_at <= now() AS decided "
                        "FROM fcr_contacts FINAL WHERE event_id LIKE 'dash-fcr-%'")
    names = {(1, 1, 0): "failure", (1, 1, 1): "failure", (1, 0, 1): "success", (1, 0, 0): "pending"}
    stored = {r["event_id"]: "repeat" if not int(r["is_first"]) else
              names[(1, int(r["failed"]), int(r["decided"]))] for r in rows}
    assert {s: stored[f"dash-fcr-{s}"] for s in STORY_ROLES} == STORY_ROLES


def test_channel_variable_lists_every_channel(engine: Database, scenario: Scenario) -> None:
    for board in BOARDS.values():
        for variable in board()["templating"]["list"]:
            if variable["name"] != "channel":
                continue
            sql = expand(variable["query"], scenario.dashboard_range)
            assert [next(iter(r.values())) for r in engine.query(sql)] == scenario.channels
    for variable in BOARDS["journey_map"]()["templating"]["list"]:
        if variable["type"] == "query":  # every value the events have, an empty one as "(none)"
            options = [next(iter(r.values())) for r in engine.query(variable["query"])]
            assert options == all_of(scenario.events)[variable["name"]], variable["name"]


def test_channel_selection_narrows_every_panel(engine: Database, scenario: Scenario) -> None:
    for _board, panel, sql in PANEL_QUERIES:
        assert_panel_shows_the_recomputed_figures(engine, scenario, panel, sql, ["web", CONTACT_ONLY_CHANNEL])


def test_both_engines_agree(server_data: ServerDatabase, chdb_data: ChdbDatabase,
                            scenario: Scenario) -> None:
    for _board, panel, sql in PANEL_QUERIES:
        old = run_panel(server_data, scenario, panel, sql)
        new = run_panel(chdb_data, scenario, panel, sql)
        assert len(old) == len(new), panel["title"]
        for a, b in zip(old, new, strict=True):
            assert a.keys() == b.keys()
            for k in a:
                assert (a[k] is None) == (b[k] is None), f"{panel['title']} {k}"
                if isinstance(a[k], float):
                    assert a[k] == pytest.approx(b[k]), f"{panel['title']} {k}"
                else:
                    assert a[k] == b[k], f"{panel['title']} {k}"


@pytest.mark.parametrize("name", ["ops_overview", "contact_center"])
def test_every_figure_panel_was_checked(name: str) -> None:
    with_queries = [p for p in walk_panels(BOARDS[name]()) if p.get("targets")
                    if shows_figures(p["targets"][0]["rawSql"])]
    assert len(with_queries) == sum(1 for board, _p, _s in PANEL_QUERIES if board == name) > 0
