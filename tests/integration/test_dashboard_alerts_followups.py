"""The alert annotation, the alerts table and the closed-loop board run on ClickHouse 18.16 and chDB, exactly.

Alerts: alert events as the detector emits them (FIRING with evidence, RESOLVED with or without) are
stored through ``streams.alerts.store.alert_row``, every FIRING row twice (a re-evaluation after a
restart), so FINAL must keep one. Follow-ups: the crafted stories and random traffic of
``test_followups_queries`` (its ``load``: touchpoint events, then follow-up batches through the worker's
processor). Each query, expanded as Grafana would, must give what this file (or that module's brute-force
``reference``) recomputes from the inputs, on both engines.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from cxpulse.settings import Settings
from dashboards import alerts, closed_loop
from dashboards.build import BOARDS
from dashboards.macros import TimeRange, expand
from dashboards.panels import JSON, annotation_queries, sql_queries, walk_panels
from sql.client import ChdbDatabase, Database, ServerDatabase
from sql.migrate import migrate
from streams.alerts.store import ALERT_COLUMNS, alert_row
from tests.conftest import unique_name
from tests.integration.board_variables import MIN_N, all_of
from tests.integration.conftest import fresh_database
from tests.integration.test_dashboard_queries import insert_chdb, normalise, shows_figures
from tests.integration.test_followups_queries import (
    assert_rates,
    load,
    random_traffic,
    reference,
    reference_past_sla,
    reference_rates,
    stories,
)

NOW = int(time.time())
HOUR = 3600
ALERT_RANGES = {"last-6h": TimeRange(NOW - 6 * HOUR, NOW), "6h-to-1h-ago": TimeRange(NOW - 6 * HOUR,
                                                                                      NOW - HOUR)}
ALERTS = (  # kind, scope, first seen (s before now), resolved (s before now) or None, with evidence
    ("channel", "web", 3 * HOUR, 2 * HOUR, True),
    ("channel_touchpoint", "web/checkout", 1800, None, True),
    ("location", "store-3", 8 * HOUR, 5 * HOUR, True),
    ("channel", "kiosk", 10 * HOUR, 7 * HOUR, True),  # over before either range
    ("channel", "call_center", 1200, None, True),
    ("partner", "partner-1", 9 * HOUR, None, True),
    ("channel_touchpoint", "kiosk/store_entrance", HOUR + 600, 600, False),
)
ALL_CHANNELS = ["call_center", "chat", "email", "kiosk", "mobile_app", "retail_partner", "web"]


# --- data ---------------------------------------------------------------------------------------------

def alert_events() -> list[dict[str, Any]]:
    """FIRING (and RESOLVED) events shaped as ``Detector._alert`` makes them."""
    events = []
    for i, (kind, scope, seen_ago, resolved_ago, evidence) in enumerate(ALERTS):
        first_seen = NOW - seen_ago
        base = {"alert_id": f"{kind}:{scope}:csat_pct:{first_seen}", "scope_kind": kind, "scope": scope,
                "metric": "csat_pct", "first_seen": first_seen, "method": "exact binomial",
                "link": f"http://grafana/d/cxpulse-ops-overview?var-channel={scope.split('/')[0]}"}
        proof = {"window_min": 10, "recent_pct": 60.0 + i, "recent_n": 40 + i,
                 "recent_interval": (50.0 + i, 70.5 + i), "baseline_pct": 85.25, "baseline_n": 5000 + i,
                 "effect_pts": 25.25 - i, "z": -5.5, "p_value": 1.5e-7}
        events.append(base | proof | {"status": "FIRING", "at": first_seen + 60})
        if resolved_ago is not None:
            events.append(base | (proof if evidence else {}) | {"status": "RESOLVED",
                                                                "at": NOW - resolved_ago})
    return events


def alert_batches() -> list[list[tuple[Any, ...]]]:
    rows = [alert_row(a) for a in alert_events()]
    return [rows, [r for r in rows if r[1] == "FIRING"]]


def expected_alerts(window: TimeRange, channels: list[str]) -> list[dict[str, Any]]:
    """Alerts overlapping ``window`` (channel scopes on a selected channel), latest first seen first."""
    shown = []
    for kind, scope, seen_ago, resolved_ago, _evidence in ALERTS:
        first_seen, resolved_at = NOW - seen_ago, None if resolved_ago is None else NOW - resolved_ago
        if kind.startswith("channel") and scope.split("/")[0] not in channels:
            continue
        if first_seen <= window.end and (resolved_at is None or resolved_at >= window.start):
            shown.append({"scope_kind": kind, "scope": scope, "first_seen": first_seen,
                          "resolved_at": resolved_at,
                          "alert_status": "FIRING" if resolved_at is None else "RESOLVED"})
    return sorted(shown, key=lambda a: -a["first_seen"])


@pytest.fixture(scope="module")
def followup_events() -> list[dict[str, Any]]:
    return stories()[0] + random_traffic()


@pytest.fixture(scope="module")
def server_data(running_stack: Settings, followup_events: list[dict[str, Any]]
                ) -> Iterator[ServerDatabase]:
    with fresh_database(running_stack, "dashloop") as db:
        load(db, followup_events, lambda d, table, columns, rows: d.insert(table, columns, rows))
        for rows in alert_batches():
            db.insert("alerts", ALERT_COLUMNS, rows)
        yield db


@pytest.fixture(scope="module")
def chdb_data(followup_events: list[dict[str, Any]]) -> Iterator[ChdbDatabase]:
    db = ChdbDatabase(unique_name("dashloop"))
    migrate(db)
    load(db, followup_events, insert_chdb)
    for rows in alert_batches():
        insert_chdb(db, "alerts", ALERT_COLUMNS, rows)
    yield db
    db.close()



def run(db: Database, sql: str, window: TimeRange, channels: list[str],
        events: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Expanded with every scope on All (of ``events``) but the channels, as Grafana would."""
    return [normalise(r) for r in db.query(expand(sql, window, all_of(events or [], channels)))]


# --- alerts -------------------------------------------------------------------------------------------

CHANNEL_CHOICES = {"all": ALL_CHANNELS, "web-only": ["web"]}


@pytest.mark.parametrize("channels", CHANNEL_CHOICES.values(), ids=CHANNEL_CHOICES.keys())
@pytest.mark.parametrize("window", ALERT_RANGES.values(), ids=ALERT_RANGES.keys())
def test_alerts_table_shows_each_alert_once_with_its_status(
        engine: Database, window: TimeRange, channels: list[str]) -> None:
    rows = run(engine, alerts.table_sql(), window, channels)
    want = expected_alerts(window, channels)
    assert [{k: r[k] for k in want[0]} for r in rows] == want
    assert [c.name for c in alerts.TABLE_COLUMNS] == list(rows[0])
    firing = {a["alert_id"]: a for a in alert_events() if a["status"] == "FIRING"}
    for row in rows:  # the evidence it fired on, whatever the RESOLVED row carries
        fired = firing[f"{row['scope_kind']}:{row['scope']}:csat_pct:{row['first_seen']}"]
        assert (row["recent_pct"], row["recent_n"], row["baseline_n"], row["effect_pts"]) == (
            fired["recent_pct"], fired["recent_n"], fired["baseline_n"], fired["effect_pts"])
        assert (row["recent_low"], row["recent_high"]) == fired["recent_interval"]
        assert row["link"] == fired["link"]


@pytest.mark.parametrize("channels", CHANNEL_CHOICES.values(), ids=CHANNEL_CHOICES.keys())
def test_alert_annotations_span_first_seen_to_resolution(engine: Database, channels: list[str]) -> None:
    window = ALERT_RANGES["last-6h"]
    [(_annotation, sql), _fixes] = list(annotation_queries(BOARDS["ops_overview"]()))
    rows = run(engine, sql, window, channels)
    want = sorted(expected_alerts(window, channels), key=lambda a: a["first_seen"])
    assert [(r["time"], r["timeEnd"], r["tags"]) for r in rows] == [
        (a["first_seen"], a["resolved_at"], f"{a['scope_kind']},{a['scope']}") for a in want]
    firing = {(a["scope_kind"], a["scope"]): a for a in alert_events() if a["status"] == "FIRING"}
    for row, alert in zip(rows, want, strict=True):
        fired = firing[(alert["scope_kind"], alert["scope"])]
        text = row["text"]
        assert text.startswith(f"CSAT % drop ({alert['scope_kind']} {alert['scope']}): ")
        assert f"% n={fired['baseline_n']};" in text and f"] n={fired['recent_n']} in 10 min" in text
        assert text.endswith(f" pts; {alert['alert_status']}")


# --- closed loop --------------------------------------------------------------------------------------

WIDE = TimeRange(NOW - 60 * 86400, NOW)


def board_reference(events: list[dict[str, Any]], channels: list[str]) -> dict[str, dict[str, Any]]:
    """The brute-force follow-ups of the board's range, decided as of now, on the selected channels."""
    clock_ms = int(time.time()) * 1000  # the board's now(), to the second
    every = reference(events, WIDE.start * 1000, WIDE.end * 1000, clock_ms, end_inclusive=True)
    return {k: f for k, f in every.items() if f["channel"] in channels}


def closed_loop_sql(title: str) -> str:
    [sql] = [s for p, s in sql_queries(closed_loop.build()) if p["title"] == title]
    return sql


@pytest.mark.parametrize("channels", CHANNEL_CHOICES.values(), ids=CHANNEL_CHOICES.keys())
def test_recovery_rate_by_location_and_channel(engine: Database, followup_events: list[dict[str, Any]],
                                               channels: list[str]) -> None:
    want = board_reference(followup_events, channels)
    for title, key in (("Recovery rate by location", "location_id"), ("Recovery rate by channel", "channel")):
        rows = run(engine, closed_loop_sql(title), WIDE, channels, followup_events)
        rates = reference_rates(want, (key,))
        for rate in rates.values():  # the board masks a recovery rate over fewer than min n
            if rate["recoverable"] < MIN_N:
                rate["recovery_pct"] = None
        assert_rates(rows, rates, (key,))
    assert any(f["status"] == "recovered" for f in want.values())


@pytest.mark.parametrize("channels", CHANNEL_CHOICES.values(), ids=CHANNEL_CHOICES.keys())
def test_past_sla_created_and_latest_list(engine: Database, followup_events: list[dict[str, Any]],
                                          channels: list[str]) -> None:
    want = board_reference(followup_events, channels)
    past = run(engine, closed_loop_sql("Open follow-ups past SLA, by route"), WIDE, channels, followup_events)
    assert {r["route"]: (r["overdue_followups"], r["oldest_due_at_ms"]) for r in past} == (
        reference_past_sla(want))
    occurred = {e["event_id"]: e["occurred_at"] // 1000 for e in followup_events}
    created = run(engine, closed_loop_sql("Follow-ups created, every hour"), WIDE, channels, followup_events)
    hourly: dict[tuple[int, str], int] = {}
    for event_id, f in want.items():
        key = (occurred[event_id] // HOUR * HOUR, f["channel"])
        hourly[key] = hourly.get(key, 0) + 1
    assert {(r["time"], r["channel"]): r["followups_created"] for r in created} == hourly
    listed = run(engine, closed_loop_sql("Latest follow-ups"), WIDE, channels, followup_events)
    latest = sorted(want, key=lambda k: (-next(e["occurred_at"] for e in followup_events
                                               if e["event_id"] == k), k))[:closed_loop.LIST_LIMIT]
    assert [r["event_id"] for r in listed] == latest
    assert [(r["status"], r["triggered_at"]) for r in listed] == [
        (want[k]["status"], occurred[k]) for k in latest]


# --- coverage -----------------------------------------------------------------------------------------

CHECKED_HERE = {("ops_overview", "Satisfaction-drop alerts"),
                *(("closed_loop", p["title"]) for p, _s in sql_queries(closed_loop.build()))}
CHECKED_ELSEWHERE = {"journey_map", "pain_points", "fixes", "partners_locations", "voice_of_customer"}
"""Boards whose every panel ``tests/integration/cx/`` (or ``voc/``) runs, and checks it does."""


def test_every_panel_and_annotation_is_checked_somewhere() -> None:
    for name, build in BOARDS.items():
        board: JSON = build()
        if name in CHECKED_ELSEWHERE:
            continue
        for panel in walk_panels(board):
            for target in panel.get("targets", []):
                assert shows_figures(target["rawSql"]) or (name, panel["title"]) in CHECKED_HERE, (
                    f"{name}: {panel['title']!r} is run by no integration test")
        assert [a["name"] for a, _s in annotation_queries(board)] == (  # fixes: tests/integration/cx/
            ["Satisfaction-drop alerts", "Fixes"] if name == "ops_overview" else ["Fixes"])
