"""The CX tests' data: four days of the simulator's ``fix`` scenario plus crafted edge cases, stored
as the worker stores them in a fresh database on each engine, and the helpers that run panels on it.

Crafted: a touchpoint with too few answers to show (masked), an event whose later version turns a
CSAT 1 into a 5, an anonymous complaint, and a customer whose latest ``attributes.clv`` values are
not numbers. Every version goes to ``touchpoint_events``; minute counts and FCR rows are those of the
latest versions. Two fixes are recorded and compared: web order status (the scenario's fix) and
product page (untouched).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from connectors.simulator import fix_time
from dashboards.build import BOARDS
from dashboards.macros import TimeRange, expand
from dashboards.panels import JSON, sql_queries
from schemas.event import validate_event
from sql.client import Database
from tests.integration.board_variables import all_of
from tests.integration.test_dashboard_queries import normalise

DAY = 86_400
NOW = int(time.time())
START_MS = 1_772_409_600_000
"""2026-03-02T00:00Z: a fixed start, so the seeded history (its diurnal arrivals included) is the same
every run, and old enough that every first contact is decided. A minute start, and so is the fix (two
days later): minute buckets and seconds select alike."""
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


