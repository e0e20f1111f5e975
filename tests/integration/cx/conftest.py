"""The CX tests' database on each engine, shared by the package's test modules (loaded once).

The data and how it is stored: ``tests.integration.cx.data``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.simulator import generate_events
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
from tests.integration.board_variables import MIN_N
from tests.integration.cx import reference as ref
from tests.integration.cx.data import DAY, FIX_AT, NOW, SPAN_S, START_MS, crafted
from tests.integration.dashboard_reference import fcr_roles
from tests.integration.test_dashboard_queries import insert_chdb


@pytest.fixture(scope="package")
def stored() -> list[dict[str, Any]]:
    """Every stored copy (both versions of the versioned event)."""
    simulated = [validate_event(e) for e in generate_events("fix", 21, START_MS, SPAN_S, 0.03)]
    return simulated + crafted()


@pytest.fixture(scope="package")
def events(stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return ref.latest_versions(stored)


@pytest.fixture(scope="package")
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


@pytest.fixture(scope="package")
def server_data(
    running_stack: Settings, stored: list[dict[str, Any]], events: list[dict[str, Any]]
) -> Iterator[ServerDatabase]:
    db = ServerDatabase(running_stack.clickhouse_host, running_stack.clickhouse_port, unique_name("cx"))
    db.create_database()
    load(db, stored, events, lambda d, t, c, r: d.insert(t, c, r))
    yield db
    db.drop_database()
    db.close()


@pytest.fixture(scope="package")
def chdb_data(stored: list[dict[str, Any]], events: list[dict[str, Any]]) -> Iterator[ChdbDatabase]:
    db = ChdbDatabase(unique_name("cx"))
    load(db, stored, events, _chunks)
    yield db
    db.close()


