"""The worker's alert engine on the real server: its clock, its outbox, its bounded state and labels."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cxpulse.settings import Settings
from sql.client import ServerDatabase
from streams.alerts.detector import DetectorParams, scopes_of
from streams.alerts.engine import MAX_EXPORTED_SCOPES, AlertEngine
from streams.alerts.store import window_counts
from streams.metrics import SCOPE_CSAT_RESPONSES
from streams.satisfaction.contributions import COUNT_COLUMNS
from streams.sinks.checkpoints import LEDGER_COLUMNS, MINUTE_TABLE
from tests.integration.conftest import fresh_database

PARAMS = DetectorParams(confirm_minutes=1, min_recent=20, min_baseline=100)


@pytest.fixture()
def database(running_stack: Settings) -> Iterator[ServerDatabase]:
    with fresh_database(running_stack, "alerts") as db:
        yield db


def csat_row(minute_s: int, touchpoint: str, responses: int, satisfied: int) -> tuple[Any, ...]:
    counts = dict.fromkeys(COUNT_COLUMNS, 0) | {"events": responses, "responses": responses,
                                                 "csat_responses": responses,
                                                 "csat_satisfied": satisfied}
    return (minute_s, "web", touchpoint, "purchase", "", "", "", "", *counts.values(), 0)


def a_drop(db: ServerDatabase, end_s: int, touchpoint: str = "checkout") -> None:
    """A week at 90% CSAT, then the last 30 minutes at 20%."""
    rows = [csat_row(end_s - 30 * 60 - h * 3600, touchpoint, 100, 90) for h in range(1, 160)]
    rows += [csat_row(end_s - m * 60, touchpoint, 10, 2) for m in range(1, 31)]
    db.insert(MINUTE_TABLE, LEDGER_COLUMNS, rows)


def engine_for(db: ServerDatabase, publish: Any, params: DetectorParams = PARAMS) -> AlertEngine:
    def connect() -> ServerDatabase:
        return ServerDatabase("127.0.0.1", db.client.connection.port, db.database)
    return AlertEngine(connect, publish, params)


def test_a_future_event_time_cannot_move_the_clock_past_now(database: ServerDatabase) -> None:
    engine = engine_for(database, lambda alerts: None)
    now_ms = int(time.time() * 1000)
    engine.observe([{"channel": "web", "occurred_at": now_ms + 3 * 86_400_000}], now_ms)
    engine.observe([{"channel": "web", "occurred_at": now_ms - 120_000}], now_ms)
    assert engine.clock_s == now_ms // 60_000 * 60  # capped at now, not frozen 3 days ahead
    engine.observe([{"channel": "web", "occurred_at": now_ms + 60_000}], now_ms + 120_000)
    assert engine.clock_s == (now_ms + 60_000) // 60_000 * 60  # and still moves with time


def test_a_transition_whose_send_failed_is_sent_and_stored_on_the_next_run(
        database: ServerDatabase) -> None:
    sent: list[dict[str, Any]] = []
    failing = [True]

    def publish(alerts: list[dict[str, Any]]) -> None:
        if failing[0]:
            raise RuntimeError("kafka unavailable")
        sent.extend(alerts)

    now_s = int(time.time()) // 60 * 60
    a_drop(database, now_s)
    engine = engine_for(database, publish)
    engine.observe([{"channel": "web", "occurred_at": now_s * 1000 + 1}])
    with pytest.raises(RuntimeError):
        engine.run()
    assert engine.pending == 2  # the channel and its touchpoint: kept, not lost
    assert database.execute("SELECT count() FROM alerts") == [(0,)]  # not stored before it is sent
    failing[0] = False
    assert [a["status"] for a in engine.run()] == ["FIRING", "FIRING"]
    assert sorted(a["scope"] for a in sent) == ["web", "web/checkout"] and engine.pending == 0
    assert sorted(database.execute("SELECT status, scope FROM alerts")) == [
        ("FIRING", "web"), ("FIRING", "web/checkout")]
    assert engine.run() == []  # sent once


def test_free_text_scopes_keep_no_state_and_export_a_bounded_set_of_labels(
        database: ServerDatabase) -> None:
    now_s = int(time.time()) // 60 * 60
    rows = [csat_row(now_s - 60 * (i % 20 + 1), f"free-text-{i}", 3, 3) for i in range(600)]
    database.insert(MINUTE_TABLE, LEDGER_COLUMNS, rows)
    engine = engine_for(database, lambda alerts: None)
    engine.observe([{"channel": "web", "occurred_at": now_s * 1000 + 1}])
    engine.run()
    labelled = {s.labels["scope"] for m in SCOPE_CSAT_RESPONSES.collect() for s in m.samples
                if s.labels["scope"].startswith("web/free-text-")}
    assert 0 < len(labelled) <= MAX_EXPORTED_SCOPES
    assert engine.detector.firing() == [] and not engine.detector._state


def test_history_that_arrives_in_one_batch_is_evaluated_minute_by_minute(
        database: ServerDatabase) -> None:
    """A replay drained in one batch still confirms a drop over several minutes of event time."""
    now_s = int(time.time()) // 60 * 60
    a_drop(database, now_s)
    sent: list[dict[str, Any]] = []
    engine = engine_for(database, sent.extend,
                        DetectorParams(confirm_minutes=3, min_recent=20, min_baseline=100))
    engine.observe([{"channel": "web", "occurred_at": (now_s - 40 * 60) * 1000},
                    {"channel": "web", "occurred_at": now_s * 1000 + 1}])
    engine.run()
    assert sorted(a["scope"] for a in sent if a["status"] == "FIRING") == ["web", "web/checkout"]
    assert engine.evaluated_s == now_s


def test_a_new_leader_does_not_evaluate_again_what_its_predecessor_alerted(
        database: ServerDatabase) -> None:
    """Taking over mid-incident with older minutes in its first batch: no second FIRING, no RESOLVED."""
    now_s = int(time.time()) // 60 * 60
    a_drop(database, now_s)
    first = engine_for(database, lambda alerts: None)
    first.observe([{"channel": "web", "occurred_at": now_s * 1000 - 5 * 60_000 + 1}])
    assert {a["status"] for a in first.run()} == {"FIRING"}
    sent: list[dict[str, Any]] = []
    successor = engine_for(database, sent.extend)
    successor.observe([{"channel": "web", "occurred_at": (now_s - 50 * 60) * 1000},
                       {"channel": "web", "occurred_at": now_s * 1000 + 1}])
    successor.run()
    assert sent == [] and sorted(s[1] for s in successor.detector.firing()) == ["web", "web/checkout"]


def one_end_counts(db: ServerDatabase, end_s: int, params: DetectorParams
                   ) -> dict[tuple[str, str], dict[int, tuple[int, int, int, int]]]:
    """Each window's sums for one end, summed by ClickHouse itself with one ``sumIf`` per window."""
    longest = max(params.windows_min) * 60
    bounds = {"start": end_s - longest - params.baseline_s, "end": end_s}
    columns = []
    for w in params.windows_min:
        bounds |= {f"r{w}": end_s - w * 60, f"b{w}": end_s - w * 60 - params.baseline_s}
        recent, base = f"minute >= toDateTime(%(r{w})s)", (
            f"minute >= toDateTime(%(b{w})s) AND minute < toDateTime(%(r{w})s)")
        columns += [f"sumIf(csat_responses, {recent})", f"sumIf(csat_satisfied, {recent})",
                    f"sumIf(csat_responses, {base})", f"sumIf(csat_satisfied, {base})"]
    rows = db.execute(
        f"SELECT channel, touchpoint, partner_id, location_id, {', '.join(columns)} "
        "FROM minute_counts WHERE minute >= toDateTime(%(start)s) AND minute < toDateTime(%(end)s) "
        "GROUP BY channel, touchpoint, partner_id, location_id", bounds)
    found: dict[tuple[str, str], dict[int, list[int]]] = {}
    for channel, touchpoint, partner, location, *sums in rows:
        for scope in scopes_of(channel, touchpoint, partner, location):
            windows = found.setdefault(scope, {w: [0, 0, 0, 0] for w in params.windows_min})
            for i, w in enumerate(params.windows_min):
                windows[w] = [a + int(b) for a, b in zip(windows[w], sums[4 * i:4 * i + 4], strict=True)]
    return {scope: {w: (c[0], c[1], c[2], c[3]) for w, c in windows.items()}
            for scope, windows in found.items()}


def test_the_windows_of_many_minutes_are_those_of_each_minute_on_its_own(
        database: ServerDatabase) -> None:
    """A catch-up's one query gives every minute the sums and the scopes of a query of its own."""
    rng = random.Random(7)
    end_s = int(time.time()) // 60 * 60
    params = DetectorParams()
    longest = max(params.windows_min) * 60 + params.baseline_s
    rows = []
    for _ in range(3000):  # 8 days of scattered minutes: deltas of any sign, some rows all zero
        minute = end_s - rng.randrange(0, longest + 2 * 3600, 60)
        counts = dict.fromkeys(COUNT_COLUMNS, 0)
        counts |= {"csat_responses": rng.randint(-2, 9), "csat_satisfied": rng.randint(-2, 7)}
        rows.append((minute, rng.choice(["web", "kiosk"]), rng.choice(["checkout", "entrance"]),
                     "purchase", rng.choice(["", "p1"]), rng.choice(["", "l1", "l2"]), "", "",
                     *counts.values(), 0))
    # a scope whose one row leaves the longest window during the minutes evaluated
    rows.append(csat_row(end_s - longest - 20 * 60, "rare", 5, 1))
    database.insert(MINUTE_TABLE, LEDGER_COLUMNS, rows)
    ends = list(range(end_s - 40 * 60, end_s + 1, 60))
    together = window_counts(database, ends, params)
    assert [window_counts(database, [e], params)[0] for e in ends[::13]] == together[::13]
    for end, found in zip(ends, together, strict=True):
        assert found == one_end_counts(database, end, params), end
    rare = ("channel_touchpoint", "web/rare")
    assert rare in together[0] and rare not in together[-1]
