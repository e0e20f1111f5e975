"""Follow-up status and recovery, queried from ClickHouse 18.16 and modern ClickHouse (chDB), are exact.

Crafted stories (recovered on another channel; the recovering response stored before the trigger; a
satisfied response before the trigger in event time; 30 days exactly vs 30 days + 1 ms vs 31 days;
CSAT 3 and NPS 10 are no recovery; anonymous; one customer with several follow-ups; open vs past SLA
per channel) plus seeded random traffic are inserted into ``touchpoint_events`` (through ``event_row``)
and ``followups`` (through the worker's processor, in shuffled batches, one batch written twice), in a
fresh database per engine. Every query must give exactly what a brute-force recomputation in this file
(written apart from the pipeline's code) gives from the raw events, on both engines, through the
Python API (bound parameters) and as board SQL (Grafana macros).
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from cxpulse.settings import Settings
from dashboards.macros import TimeRange, expand
from sql.client import ChdbDatabase, Database, ServerDatabase
from sql.followups import (
    GRAFANA_MACROS,
    followup_list,
    followup_status_sql,
    open_past_sla,
    open_past_sla_sql,
    recovery_rate,
    recovery_rate_sql,
)
from sql.migrate import migrate
from streams.followups.processor import FOLLOWUP_COLUMNS, FollowUpProcessor
from streams.followups.rules import parse_sla_spec
from streams.satisfaction.contributions import EVENT_COLUMNS, event_row
from tests.conftest import unique_name
from tests.integration.conftest import fresh_database
from tests.integration.test_dashboard_queries import insert_chdb

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
NOW_MS = int(time.time()) * 1000
SLA_HOURS = {"web": 24, "call_center": 4, "kiosk": 48}
"""The default SLAs (every other channel: 24 h)."""
Event = dict[str, Any]
Rows = list[tuple[Any, ...]]


def ev(eid: str, at: int, customer: str | None, channel: str = "web", **fields: Any) -> Event:
    base: Event = {
        "event_id": eid, "occurred_at": at, "received_at": at + 1000, "channel": channel,
        "source": "followup-test", "kind": "response", "touchpoint": "survey",
        "journey_stage": "support", "customer_id": customer, "interaction_id": None,
        "contact_reason": None, "resolved": None, "complaint": False, "csat": None, "nps": None,
        "ces": None, "comment": None, "language": None, "partner_id": "", "location_id": "",
        "region": "", "agent_id": "", "attributes": {},
    }
    return base | fields


# --- the data -----------------------------------------------------------------------------------------

def stories() -> tuple[list[Event], dict[str, str]]:
    """Crafted events, and the status (as of now) each trigger must have."""
    a, c, f = NOW_MS - 40 * DAY, NOW_MS - 45 * DAY, NOW_MS - 30 * DAY
    events = [
        # recovered on another channel three days later
        ev("a-trigger", a, "cust-a", csat=1, location_id="store-1"),
        ev("a-recovery", a + 3 * DAY, "cust-a", "call_center", csat=5),
        # the recovering response is stored before the trigger (see ``arrives_first``)
        ev("b-trigger", a + HOUR, "cust-b", "chat", nps=2, partner_id="partner-1"),
        ev("b-recovery", a + 2 * DAY, "cust-b", "web", csat=4),
        # satisfied before the trigger in event time: no recovery
        ev("b2-satisfied", a - HOUR, "cust-b2", csat=5),
        ev("b2-trigger", a, "cust-b2", csat=2, location_id="store-1"),
        # 31 days later: too late; exactly 30 days: in time; 30 days + 1 ms: too late
        ev("c-trigger", c, "cust-c", csat=1, location_id="store-2"),
        ev("c-recovery", c + 31 * DAY, "cust-c", csat=5),
        ev("c2-trigger", c - DAY, "cust-c2", csat=1, location_id="store-2"),
        ev("c2-recovery", c - DAY + 30 * DAY, "cust-c2", "mobile_app", csat=4),
        ev("c3-trigger", c - 2 * DAY, "cust-c3", csat=1, location_id="store-2"),
        ev("c3-recovery", c - 2 * DAY + 30 * DAY + 1, "cust-c3", csat=5),
        # CSAT 3 and a promoter without CSAT are no recovery
        ev("d-trigger", a, "cust-d", "email", nps=6),
        ev("d-csat3", a + DAY, "cust-d", csat=3),
        ev("d-nps10", a + 2 * DAY, "cust-d", nps=10),
        # anonymous: a follow-up, never recovered
        ev("e-trigger", a, None, "kiosk", csat=1, location_id="store-3"),
        ev("e-happy", a + HOUR, None, "kiosk", csat=5, location_id="store-3"),
        # one customer, three follow-ups: a complaint contact, a satisfied detractor, a low CSAT
        ev("f-complaint", f, "cust-f", "call_center", kind="contact", complaint=True,
           contact_reason="billing", resolved=False, agent_id="agent-7"),
        ev("f-mixed", f + 2 * DAY, "cust-f", "web", csat=4, nps=3),
        ev("f-low", f + 5 * DAY, "cust-f", "web", csat=2),
        # a satisfied response in the same millisecond is not later
        ev("g-trigger", a, "cust-g", csat=1, partner_id="partner-2"),
        ev("g-same-ms", a, "cust-g", "chat", csat=5),
        # someone else's satisfied response recovers nothing
        ev("h-trigger", a, "cust-h", csat=1, location_id="store-1"),
        ev("h-other", a + DAY, "cust-h-other", csat=5),
        # triggered three weeks ago, recovered ten days ago
        ev("k-trigger", NOW_MS - 21 * DAY, "cust-k", "retail_partner", csat=2, partner_id="partner-1"),
        ev("k-recovery", NOW_MS - 10 * DAY, "cust-k", "retail_partner", csat=5, partner_id="partner-1"),
        # recovered one second before / exactly at the 38-days-ago clock (ms precision)
        ev("m-trigger", NOW_MS - 39 * DAY, "cust-m", "chat", csat=1),
        ev("m-recovery", NOW_MS - 38 * DAY + 500, "cust-m", "chat", csat=5),
        ev("m2-trigger", NOW_MS - 39 * DAY, "cust-m2", "chat", csat=1),
        ev("m2-recovery", NOW_MS - 38 * DAY, "cust-m2", "chat", csat=5),
        # recent: open or past SLA, by channel
        ev("i-call-1h", NOW_MS - HOUR, "cust-i1", "call_center", csat=1),
        ev("i-call-5h", NOW_MS - 5 * HOUR, "cust-i2", "call_center", csat=1),
        ev("i-web-23h", NOW_MS - 23 * HOUR, "cust-i3", "web", csat=1),
        ev("i-kiosk-47h", NOW_MS - 47 * HOUR, None, "kiosk", csat=1, location_id="store-3"),
        ev("i-kiosk-49h", NOW_MS - 49 * HOUR, None, "kiosk", csat=1, location_id="store-3"),
    ]
    expected = {
        "a-trigger": "recovered", "b-trigger": "recovered", "b2-trigger": "overdue",
        "c-trigger": "overdue", "c2-trigger": "recovered", "c3-trigger": "overdue",
        "d-trigger": "overdue", "e-trigger": "overdue", "f-complaint": "recovered",
        "f-mixed": "overdue", "f-low": "overdue", "g-trigger": "overdue", "h-trigger": "overdue",
        "k-trigger": "recovered", "m-trigger": "recovered", "m2-trigger": "recovered",
        "i-call-1h": "open", "i-call-5h": "overdue", "i-web-23h": "open",
        "i-kiosk-47h": "open", "i-kiosk-49h": "overdue",
    }
    return events, expected


def random_traffic(n: int = 700, seed: int = 11) -> list[Event]:
    """Responses and contacts over 55 days; times sit 20-40 minutes off the hour before now, so no due
    time or recovery falls within minutes of the clock (the board's ``now()`` runs a little later)."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        at = NOW_MS - 30 * MINUTE - rng.randrange(2, 55 * 24) * HOUR + rng.randrange(-10, 10) * MINUTE
        customer = None if rng.random() < 0.15 else f"rnd-{rng.randrange(40)}"
        events.append(ev(
            f"rnd-{i}", at, customer, rng.choice(["web", "call_center", "kiosk", "chat", "email"]),
            kind=rng.choice(["response", "response", "contact"]), complaint=rng.random() < 0.08,
            csat=rng.choice([None, 1, 2, 3, 4, 4, 5, 5]), nps=rng.choice([None, None, 3, 6, 7, 9, 10]),
            location_id=rng.choice(["", "", "store-1", "store-2", "store-4"]),
            partner_id=rng.choice(["", "partner-1", "partner-3"]),
        ))
    return events


def arrives_first(event: Event) -> bool:
    """Events stored in an earlier part than the rest (recoveries before their triggers)."""
    return event["event_id"].endswith("recovery")


@pytest.fixture(scope="module")
def events() -> list[Event]:
    crafted, _ = stories()
    return crafted + random_traffic()


def batches(events: list[Event]) -> list[list[Event]]:
    shuffled = events[:]
    random.Random(5).shuffle(shuffled)
    return [shuffled[i::3] for i in range(3)]


def rewritten(events: list[Event]) -> set[str]:
    """Events of the batch processed again, after the chat SLA changed to 2 h (the rewrite wins)."""
    return {e["event_id"] for e in batches(events)[0]}


def followup_batches(events: list[Event]) -> list[Rows]:
    """``followups`` rows as the worker writes them: three shuffled batches, then the first one again
    by a restarted worker whose chat SLA is 2 h."""
    processor = FollowUpProcessor()
    rows = [processor.process(b).rows for b in batches(events)]
    return [*rows, FollowUpProcessor(parse_sla_spec("chat=2h")).process(batches(events)[0]).rows]


def load(db: Database, events: list[Event], insert: Any) -> None:
    first = [e for e in events if arrives_first(e)]
    rest = [e for e in events if not arrives_first(e)]
    for part, offset in ((first, 0), (rest, len(first))):
        insert(db, "touchpoint_events", EVENT_COLUMNS,
               [event_row(e, 0, offset + i) for i, e in enumerate(part)])
    for rows in followup_batches(events):  # one part each: FINAL must merge them
        insert(db, "followups", FOLLOWUP_COLUMNS, rows)


@pytest.fixture(scope="module")
def server_data(running_stack: Settings, events: list[Event]) -> Iterator[ServerDatabase]:
    with fresh_database(running_stack, "followups") as db:
        load(db, events, lambda d, table, columns, rows: d.insert(table, columns, rows))
        yield db


@pytest.fixture(scope="module")
def chdb_data(events: list[Event]) -> Iterator[ChdbDatabase]:
    db = ChdbDatabase(unique_name("followups"))
    migrate(db)
    load(db, events, insert_chdb)
    yield db
    db.close()



# --- the independent recomputation ---------------------------------------------------------------------

def reference(events: list[Event], start_ms: int, end_ms: int, as_of_ms: int,
              end_inclusive: bool = False) -> dict[str, dict[str, Any]]:
    """Every follow-up triggered in the range, recomputed by brute force from the issue's rules, with
    its status as of ``as_of_ms``. The range is ``[start, end)`` on the trigger's second (the Python
    API), or with ``end_inclusive`` ``[start, end]`` on the trigger's minute (a board)."""
    out = {}
    two_hour_chats = rewritten(events)
    for e in events:
        t, second = e["occurred_at"], e["occurred_at"] // 1000
        if end_inclusive:
            in_range = start_ms // 1000 <= second - second % 60 <= end_ms // 1000
        else:
            in_range = start_ms // 1000 <= second < end_ms // 1000
        csat, nps = e["csat"], e["nps"]
        if not in_range or not ((csat is not None and csat <= 2) or (nps is not None and nps <= 6)
                                or e["complaint"]):
            continue
        recoveries = sorted(
            r["occurred_at"] for r in events
            if e["customer_id"] and r["customer_id"] == e["customer_id"] and r["csat"] is not None
            and r["csat"] >= 4 and t < r["occurred_at"] <= t + 30 * DAY and r["occurred_at"] <= as_of_ms
        )
        hours = 2 if e["channel"] == "chat" and e["event_id"] in two_hour_chats else (
            SLA_HOURS.get(e["channel"], 24))
        due = t + hours * HOUR
        route = (f"location:{e['location_id']}" if e["location_id"] else
                 f"partner:{e['partner_id']}" if e["partner_id"] else f"channel:{e['channel']}")
        out[e["event_id"]] = {
            "route": route, "due_at_ms": due, "customer_id": e["customer_id"] or "",
            "location_id": e["location_id"], "channel": e["channel"],
            "recovered_at_ms": recoveries[0] if recoveries else None,
            "status": "recovered" if recoveries else "overdue" if due < as_of_ms else "open",
        }
    return out


def reference_rates(followups: dict[str, dict[str, Any]], by: tuple[str, ...]
                    ) -> dict[tuple[Any, ...], dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for f in followups.values():
        groups[tuple(f[k] for k in by)].append(f)
    rates = {}
    for key, members in groups.items():
        recoverable = sum(1 for f in members if f["customer_id"])
        recovered = sum(1 for f in members if f["status"] == "recovered")
        rates[key] = {
            "followups_created": len(members), "recoverable": recoverable, "recovered": recovered,
            "open_followups": sum(1 for f in members if f["status"] == "open"),
            "overdue_followups": sum(1 for f in members if f["status"] == "overdue"),
            "recovery_pct": recovered * 100 / recoverable if recoverable else None,
        }
    return rates


def reference_past_sla(followups: dict[str, dict[str, Any]]) -> dict[str, tuple[int, int]]:
    routes: dict[str, list[int]] = defaultdict(list)
    for f in followups.values():
        if f["status"] == "overdue":
            routes[f["route"]].append(f["due_at_ms"])
    return {route: (len(dues), min(dues)) for route, dues in routes.items()}


def assert_rates(rows: list[dict[str, Any]], want: dict[tuple[Any, ...], dict[str, Any]],
                 by: tuple[str, ...]) -> None:
    got = {tuple(r[k] for k in by): r for r in rows}
    assert set(got) == set(want), "groups differ"
    for key, row in got.items():
        for name, value in want[key].items():
            if value is None or row[name] is None:
                assert row[name] is None and value is None, (key, name)
            else:
                assert float(row[name]) == pytest.approx(value, abs=1e-3), (key, name)


# --- tests -------------------------------------------------------------------------------------------

WIDE = (NOW_MS - 60 * DAY, NOW_MS)
NARROW = (NOW_MS - 42 * DAY, NOW_MS - 20 * DAY)
"""Cuts stories: recoveries after its end still count; triggers before its start are not listed."""


def test_the_crafted_expectations_follow_the_rules(events: list[Event]) -> None:
    _, expected = stories()
    statuses = {k: v["status"] for k, v in reference(events, *WIDE, NOW_MS).items()}
    assert {k: statuses[k] for k in expected} == expected
    assert {k for k in statuses if not k.startswith("rnd-")} == set(expected)
    assert any(e["channel"] == "chat" for e in batches(events)[0]), "the SLA rewrite is exercised"


@pytest.mark.parametrize("window", [WIDE, NARROW], ids=["wide", "narrow"])
@pytest.mark.parametrize("clock", [0, -38 * DAY], ids=["now", "38-days-ago"])
def test_each_follow_up_has_exactly_the_recomputed_status(engine: Database, events: list[Event],
                                                          window: tuple[int, int], clock: int) -> None:
    as_of = NOW_MS + clock
    start, end = window[0], min(window[1], as_of)
    want = reference(events, start, end, as_of)
    rows = followup_list(engine, start // 1000, end // 1000, as_of // 1000, limit=100_000)
    got = {r["event_id"]: {k: r[k] for k in next(iter(want.values()))} for r in rows}
    assert len(rows) == len(got), "a follow-up is listed twice"
    assert got == want


def test_recovery_rates_and_past_sla_are_exact(engine: Database, events: list[Event]) -> None:
    want = reference(events, *WIDE, NOW_MS)
    for by in (("location_id",), ("route",), ()):
        assert_rates(recovery_rate(engine, WIDE[0] // 1000, WIDE[1] // 1000, NOW_MS // 1000, by),
                     reference_rates(want, by), by)
    past = open_past_sla(engine, WIDE[0] // 1000, WIDE[1] // 1000, NOW_MS // 1000)
    assert {r["route"]: (r["overdue_followups"], r["oldest_due_at_ms"]) for r in past} == (
        reference_past_sla(want))
    assert [r["overdue_followups"] for r in past] == sorted((r["overdue_followups"] for r in past),
                                                            reverse=True)


def test_list_filters(engine: Database, events: list[Event]) -> None:
    want = reference(events, *WIDE, NOW_MS)
    overdue = followup_list(engine, WIDE[0] // 1000, WIDE[1] // 1000, NOW_MS // 1000,
                            status="overdue", limit=100_000)
    assert {r["event_id"] for r in overdue} == {k for k, f in want.items() if f["status"] == "overdue"}
    assert [r["due_at_ms"] for r in overdue] == sorted(r["due_at_ms"] for r in overdue)
    store = followup_list(engine, WIDE[0] // 1000, WIDE[1] // 1000, NOW_MS // 1000,
                          route="location:store-1", limit=3)
    assert len(store) == 3 and all(r["route"] == "location:store-1" for r in store)
    assert followup_list(engine, WIDE[0] // 1000, WIDE[1] // 1000, route="nowhere") == []
    assert recovery_rate(engine, 0, 1, by=()) == []


A_MINUTE_S = (NOW_MS - 40 * DAY) // 60_000 * 60
EDGE = ((A_MINUTE_S + 1) * 1000, NOW_MS - 20 * DAY)
"""Starts a second into the minute of the "a" triggers: a board selects by minute, so not them."""


@pytest.mark.parametrize("window", [WIDE, EDGE], ids=["wide", "edge"])
def test_board_sql_gives_the_same_figures(engine: Database, events: list[Event],
                                          window: tuple[int, int]) -> None:
    clock = int(time.time()) * 1000  # the board's now(), to the second (no due time is this close)
    want = reference(events, *window, clock, end_inclusive=True)
    assert ("a-trigger" in want) is (window == WIDE)
    board_range = TimeRange(window[0] // 1000, window[1] // 1000)
    status = engine.query(expand(followup_status_sql(GRAFANA_MACROS), board_range, {}))
    assert {r["event_id"]: r["status"] for r in status} == {k: f["status"] for k, f in want.items()}
    rates = engine.query(expand(recovery_rate_sql(["location_id"], GRAFANA_MACROS), board_range, {}))
    assert_rates(rates, reference_rates(want, ("location_id",)), ("location_id",))
    past = engine.query(expand(open_past_sla_sql(GRAFANA_MACROS), board_range, {}))
    assert {r["route"]: (int(r["overdue_followups"]), int(r["oldest_due_at_ms"])) for r in past} == (
        reference_past_sla(want))
