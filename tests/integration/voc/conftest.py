"""The VOC tests' data: five weeks of the simulator's ``fix`` scenario from 2026-10-01 (its last week
carries the emerging complaint) plus crafted comments, stored as the worker stores them, indexed.

Every version goes to ``touchpoint_events``; minute counts and FCR rows are those of the latest
versions (the report needs them). The server gets everything; chDB gets the events with a comment
(all the VOC SQL reads). Crafted: Vietnamese comments with and without diacritics for search, and an
event whose later version turns a CSAT 1 "giao hàng chậm" answer into a CSAT 5 one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.simulator import fix_time, generate_events
from cxpulse.settings import Settings
from schemas.event import validate_event
from sql import fixes as fix_api
from sql.client import ChdbDatabase, Database, ServerDatabase
from sql.migrate import migrate
from streams.fcr.processor import FCR_COLUMNS
from streams.satisfaction.contributions import EVENT_COLUMNS, event_row
from streams.sinks.checkpoints import LEDGER_COLUMNS, MINUTE_TABLE, minute_rows
from tests.conftest import unique_name
from tests.fcr_table import worker_batches
from tests.integration.conftest import fresh_database
from tests.integration.cx.reference import latest_versions
from tests.integration.test_dashboard_queries import insert_chdb
from voc.index import index

DAY = 86_400
START_S = 1_790_812_800
"""2026-10-01T00:00Z, the start of 2026Q4."""
SPAN_S = 35 * DAY
END_S = START_S + SPAN_S
FIX_AT = fix_time(START_S * 1000, SPAN_S) // 1000
MIN_N = 5


def crafted() -> list[dict[str, Any]]:
    def event(n: str, day: int, comment: str, **fields: Any) -> dict[str, Any]:
        t = (START_S + day * DAY + 3600) * 1000
        return validate_event({
            "event_id": f"voc-{n}", "occurred_at": t, "received_at": t + 1000, "channel": "web",
            "source": "voc-test", "kind": "response", "touchpoint": "order_status",
            "journey_stage": "delivery", "comment": comment, "customer_id": f"vc-{n}", **fields})

    events = [event("a", 3, "Giao hàng chậm quá, chờ cả tuần", csat=1, language="vi"),
              event("b", 4, "giao hang cham, shipper khong goi", csat=2),
              event("c", 5, "Hàng giao chậm nhưng đóng gói đẹp", csat=3, language="vi"),
              event("d", 6, "Giao hàng nhanh, rất hài lòng", csat=5, language="vi")]
    old, new = event("v", 7, "Giao hàng chậm!", csat=1), event("v", 7, "Giao hàng chậm nhưng ổn", csat=5)
    old["version"], new["version"] = 0, 9
    return [*events, old, new]


@pytest.fixture(scope="package")
def stored() -> list[dict[str, Any]]:
    simulated = [validate_event(e) for e in generate_events("fix", 11, START_S * 1000, SPAN_S, 0.008)]
    return simulated + crafted()


@pytest.fixture(scope="package")
def events(stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return latest_versions(stored)


def _rows(stored: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [event_row(e, 0, i) for i, e in enumerate(stored)]


@pytest.fixture(scope="package")
def server_data(running_stack: Settings, stored: list[dict[str, Any]],
                events: list[dict[str, Any]]) -> Iterator[ServerDatabase]:
    with fresh_database(running_stack, "voc") as db:
        db.insert("touchpoint_events", EVENT_COLUMNS, _rows(stored))
        db.insert(MINUTE_TABLE, LEDGER_COLUMNS, minute_rows(events))
        for rows in worker_batches([events]):
            db.insert("fcr_contacts", FCR_COLUMNS, rows)
        fix_api.add_fix(db, {"touchpoint": "order_status"}, FIX_AT, "courier's live position")
        index(db)
        yield db


@pytest.fixture(scope="package")
def chdb_data(stored: list[dict[str, Any]]) -> Iterator[Database]:
    db = ChdbDatabase(unique_name("voc"))
    migrate(db)
    rows = [r for r in _rows(stored) if r[EVENT_COLUMNS.index("comment")]]
    for i in range(0, len(rows), 2000):
        insert_chdb(db, "touchpoint_events", EVENT_COLUMNS, rows[i:i + 2000])
    index(db)
    yield db
    db.close()
