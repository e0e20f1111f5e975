"""Every board query, expanded as Grafana would, runs on ClickHouse 18.16 and on modern ClickHouse (chDB).

A known set of events (relative to now: the last minutes, the last hour, the last day) is inserted into
``touchpoint_events`` on both engines; the materialized view fills ``minute_satisfaction``. Each panel
query must succeed and return rows on both engines, agree between them, and show exactly the figures
recomputed here from the inserted events (METRICS.md rules, written apart from the pipeline's code).
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from cxpulse.settings import Settings
from dashboards.build import BOARDS
from dashboards.macros import TimeRange, expand, panel_range
from dashboards.panels import JSON, sql_queries, walk_panels
from schemas.event import validate_event
from sql.client import ChdbDatabase, Database, ServerDatabase
from sql.migrate import migrate
from streams.satisfaction.contributions import EVENT_COLUMNS, event_row
from tests.conftest import unique_name

SCORED_CHANNELS = ("web", "call_center", "kiosk", "retail_partner")
CONTACT_ONLY_CHANNEL = "email"
"""Has contacts but never a survey response: its CSAT, NPS and CES must be NULL, never 0."""
AGES_S = {"minutes": (20, 170), "hour": (600, 3000), "day": (4 * 3600, 20 * 3600)}
"""Event ages (seconds before now) per group: inside the last 5 min, the last hour, the last 24 h."""
DASHBOARD_SPAN_S = 26 * 3600
ENGINES = ("clickhouse-18.16", "chdb")


@dataclass(frozen=True)
class Scenario:
    """The inserted events, the moment the board is looked at, and the dashboard's range."""

    now: int
    events: list[dict[str, Any]]
    dashboard_range: TimeRange

    @property
    def channels(self) -> list[str]:
        return sorted({e["channel"] for e in self.events})


def make_event(rng: random.Random, n: int, now_ms: int, channel: str, age_s: int,
               kind: str, csat: int | None = None) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "event_id": f"dash-{n}", "occurred_at": now_ms - age_s * 1000, "received_at": now_ms,
        "channel": channel, "source": "dashboard-test", "kind": kind,
        "touchpoint": rng.choice(["checkout", "ivr_billing", "store_entrance"]),
        "journey_stage": rng.choice(["purchase", "support", "usage"]),
        "region": rng.choice(["north", "south"]),
    }
    if kind == "response":
        raw["csat"] = csat or (rng.randint(1, 5) if n % 7 else None)  # some carry no CSAT
        raw["nps"] = rng.randint(0, 10) if rng.random() < 0.7 else None
        raw["ces"] = rng.randint(1, 7) if rng.random() < 0.5 else None
    else:
        raw.update(customer_id=f"c{rng.randint(1, 30)}", contact_reason="billing",
                   resolved=rng.random() < 0.6, complaint=rng.random() < 0.2)
    return validate_event(raw)


def build_scenario(seed: int = 20240611) -> Scenario:
    rng = random.Random(seed)
    now = int(time.time())
    now_ms = now * 1000
    events: list[dict[str, Any]] = []
    for window_name, (low, high) in AGES_S.items():
        for channel in SCORED_CHANNELS:
            # at least one CSAT response per channel in every window, then random traffic
            events.append(make_event(rng, len(events), now_ms, channel, low, "response",
                                     csat=5 if window_name == "hour" else 2))
            for _ in range(12):
                kind = "response" if rng.random() < 0.75 else "contact"
                events.append(make_event(rng, len(events), now_ms, channel, rng.randint(low, high), kind))
        for _ in range(3):
            events.append(make_event(rng, len(events), now_ms, CONTACT_ONLY_CHANNEL,
                                     rng.randint(low, high), "contact"))
    return Scenario(now, events, TimeRange(now - DASHBOARD_SPAN_S, now))


# --- the independent recomputation -------------------------------------------------------------------

def _ratio(numerator: float, denominator: int, scale: float = 100.0) -> float | None:
    return None if denominator == 0 else numerator / denominator * scale


def expected_figures(events: list[dict[str, Any]]) -> dict[str, float | None]:
    csat = [e["csat"] for e in events if e["csat"] is not None]
    nps = [e["nps"] for e in events if e["nps"] is not None]
    ces = [e["ces"] for e in events if e["ces"] is not None]
    contacts = [e for e in events if e["kind"] == "contact"]
    promoters, detractors = sum(s >= 9 for s in nps), sum(s <= 6 for s in nps)
    return {
        "csat_pct": _ratio(sum(s >= 4 for s in csat), len(csat)),
        "nps": _ratio(promoters - detractors, len(nps)),
        "ces_mean": _ratio(sum(ces), len(ces), 1.0),
        "volume": len(events),
        "response_count": sum(e["kind"] == "response" for e in events),
        "contact_count": len(contacts),
        "complaint_rate": _ratio(sum(bool(e["complaint"]) for e in contacts), len(contacts)),
    }


def in_range(events: list[dict[str, Any]], window: TimeRange, channels: list[str]
             ) -> list[dict[str, Any]]:
    """Events whose minute bucket starts inside the window (how $__timeFilter(minute) selects)."""
    return [e for e in events if e["channel"] in channels
            and window.start <= e["occurred_at"] // 60_000 * 60 <= window.end]


def group(events: list[dict[str, Any]], key: Any) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        out[key(e)].append(e)
    return dict(out)


# --- engines ------------------------------------------------------------------------------------------

def insert_chdb(db: ChdbDatabase, rows: list[tuple[Any, ...]]) -> None:
    width = len(EVENT_COLUMNS)
    values = ", ".join(
        "(" + ", ".join(f"%(r{i}_{j})s" for j in range(width)) + ")" for i in range(len(rows))
    )
    params = {f"r{i}_{j}": value for i, row in enumerate(rows) for j, value in enumerate(row)}
    db.execute(f"INSERT INTO touchpoint_events ({', '.join(EVENT_COLUMNS)}) VALUES {values}", params)


def event_rows(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [event_row(e, 0, offset) for offset, e in enumerate(events)]


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return build_scenario()


@pytest.fixture(scope="module")
def server_data(running_stack: Settings, scenario: Scenario) -> Iterator[ServerDatabase]:
    """The stack's 18.16 server, in a database of this module's own (other tests write to the stack's
    database, and these figures must come from the events inserted here only)."""
    db = ServerDatabase(running_stack.clickhouse_host, running_stack.clickhouse_port, unique_name("dash"))
    db.create_database()
    migrate(db)
    db.insert("touchpoint_events", EVENT_COLUMNS, event_rows(scenario.events))
    yield db
    db.drop_database()
    db.close()


@pytest.fixture(scope="module")
def chdb_data(scenario: Scenario) -> Iterator[ChdbDatabase]:
    db = ChdbDatabase(unique_name("dash"))
    migrate(db)
    insert_chdb(db, event_rows(scenario.events))
    yield db
    db.close()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Database:
    fixture = "server_data" if request.param == "clickhouse-18.16" else "chdb_data"
    db: Database = request.getfixturevalue(fixture)
    return db


# --- running board queries ----------------------------------------------------------------------------

def all_panel_queries() -> list[tuple[str, JSON, str]]:
    return [(name, panel, sql) for name, build in BOARDS.items() for panel, sql in sql_queries(build())]


PANEL_QUERIES = all_panel_queries()
PANEL_IDS = [f"{name}:{panel['id']}:{panel['title']}" for name, panel, _sql in PANEL_QUERIES]


def run_panel(db: Database, scenario: Scenario, panel: JSON, sql: str,
              channels: list[str] | None = None) -> list[dict[str, Any]]:
    window = panel_range(panel, scenario.dashboard_range, scenario.now)
    expanded = expand(sql, window, {"channel": channels or scenario.channels})
    return [normalise(row) for row in db.query(expanded)]


def normalise(row: dict[str, Any]) -> dict[str, Any]:
    """Both engines' values in one form: times as epoch seconds, numbers as float, NULL as None."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key == "time":
            stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
            out[key] = int((stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp())
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = float(value)
        else:
            out[key] = value
    return out


def assert_figures(rows: list[dict[str, Any]], expected: dict[Any, list[dict[str, Any]]],
                   key: Any) -> None:
    assert {key(r) for r in rows} == set(expected), "groups differ"
    for row in rows:
        want = expected_figures(expected[key(row)])
        for name in row.keys() & want.keys():
            if want[name] is None:
                assert row[name] is None, f"{key(row)} {name}: NULL expected, got {row[name]}"
            else:
                assert row[name] == pytest.approx(want[name]), f"{key(row)} {name}"


# --- the tests ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("board", "panel", "sql"), PANEL_QUERIES, ids=PANEL_IDS)
def test_panel_query_shows_the_figures_of_the_inserted_events(
        engine: Database, scenario: Scenario, board: str, panel: JSON, sql: str) -> None:
    rows = run_panel(engine, scenario, panel, sql)
    assert rows, "the panel shows nothing"
    window = panel_range(panel, scenario.dashboard_range, scenario.now)
    events = in_range(scenario.events, window, scenario.channels)
    if "time" in rows[0]:
        assert_figures(rows, group(events, lambda e: (e["occurred_at"] // 300_000 * 300, e["channel"])),
                       key=lambda r: (r["time"], r["channel"]))
    else:
        assert_figures(rows, group(events, lambda e: e["channel"]), key=lambda r: r["channel"])


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
        expected[channel] = 100 * sum(s >= 4 for s in scores) / len(scores) if scores else None
    assert rows == pytest.approx(expected)
    assert rows[CONTACT_ONLY_CHANNEL] is None  # no responses: no CSAT, not a CSAT of 0
    assert all(rows[c] is not None for c in SCORED_CHANNELS)


def test_channel_variable_lists_every_channel(engine: Database, scenario: Scenario) -> None:
    for board in BOARDS.values():
        for variable in board()["templating"]["list"]:
            if variable["name"] != "channel":
                continue
            sql = expand(variable["query"], scenario.dashboard_range)
            assert [next(iter(r.values())) for r in engine.query(sql)] == scenario.channels


def test_channel_selection_narrows_every_panel(engine: Database, scenario: Scenario) -> None:
    for _board, panel, sql in PANEL_QUERIES:
        rows = run_panel(engine, scenario, panel, sql, channels=["web", CONTACT_ONLY_CHANNEL])
        assert rows and {r["channel"] for r in rows} <= {"web", CONTACT_ONLY_CHANNEL}


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


def test_every_panel_was_checked() -> None:
    board = BOARDS["ops_overview"]()
    with_queries = [p for p in walk_panels(board) if p.get("targets")]
    assert len(with_queries) == sum(1 for name, _p, _s in PANEL_QUERIES if name == "ops_overview") > 0
