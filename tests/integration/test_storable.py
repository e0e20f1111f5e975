"""Any event the validator accepts can be stored: every row the worker makes of it fits ClickHouse.

A property test over arbitrary JSON-form events (timestamps from far past to far future, any text,
any numbers): what ``validate_event`` accepts is written, as the worker writes it, into ClickHouse
18.16 and modern ClickHouse (chDB); what it refuses carries a reason. A record that passed validation
and then stopped the sink was the "one record stops everything" defect.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxpulse.settings import Settings
from schemas.event import InvalidEvent, validate_event
from sql.client import ChdbDatabase, ServerDatabase
from sql.migrate import migrate
from streams.fcr.outcomes import contact_from_event, is_eligible
from streams.fcr.processor import FCR_COLUMNS, FcrProcessor, state_key
from streams.followups.processor import FOLLOWUP_COLUMNS, FollowUpProcessor
from streams.satisfaction.contributions import EVENT_COLUMNS, event_row
from streams.sinks.checkpoints import LEDGER_COLUMNS, MINUTE_TABLE, minute_rows
from tests.conftest import unique_name
from tests.integration.conftest import fresh_database
from tests.integration.test_dashboard_queries import insert_chdb

MS_PER_YEAR = 31_556_952_000
text = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["", "\x00", "\ud800 lone", "rất hài lòng 😀", "a" * 300, "'; DROP TABLE x; --", "\\", "\u200b"])
timestamps = st.integers(-200 * MS_PER_YEAR, 300 * MS_PER_YEAR) | st.integers(
    1_700_000_000_000, 1_900_000_000_000)
events = st.fixed_dictionaries(
    {"event_id": text, "occurred_at": timestamps, "channel": st.sampled_from(["web", "kiosk", "chat"]),
     "source": text, "kind": st.sampled_from(["response", "contact"]), "touchpoint": text},
    optional={"received_at": timestamps, "customer_id": text | st.none(), "contact_reason": text,
              "resolved": st.booleans() | st.none(), "complaint": st.booleans(),
              "csat": st.integers(-5, 12), "nps": st.integers(-5, 12), "ces": st.integers(-5, 12),
              "comment": text, "language": text, "partner_id": text, "location_id": text,
              "region": text, "agent_id": text, "attributes": st.dictionaries(text, text, max_size=3)},
)


@pytest.fixture(scope="module")
def engines(running_stack: Settings) -> Iterator[tuple[ServerDatabase, ChdbDatabase]]:
    with fresh_database(running_stack, "storable") as server:
        chdb = ChdbDatabase(unique_name("storable"))
        migrate(chdb)
        yield server, chdb
        chdb.close()


def rows_of(event: dict[str, Any]) -> list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]:
    """Every row the worker writes for one new event."""
    tables = [("touchpoint_events", EVENT_COLUMNS, [event_row(event, 3, 7)]),
              (MINUTE_TABLE, LEDGER_COLUMNS, minute_rows([event])),
              ("followups", FOLLOWUP_COLUMNS, FollowUpProcessor().process([event]).rows)]
    if is_eligible(event):
        contact = (0, state_key(event["customer_id"], event["contact_reason"]),
                   contact_from_event(event))
        tables.append(("fcr_contacts", FCR_COLUMNS,
                       FcrProcessor().plan([contact], [], lambda keys, start: {}).rows))
    return tables


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(obj=events)
def test_every_event_the_validator_accepts_is_stored_by_both_engines(
        engines: tuple[ServerDatabase, ChdbDatabase], obj: dict[str, Any]) -> None:
    server, chdb = engines
    try:
        event = validate_event(obj, default_received_at=obj["occurred_at"])
    except InvalidEvent as refused:
        assert refused.reason and refused.detail
        return
    for table, columns, rows in rows_of(event):
        if rows:
            server.insert(table, columns, rows)
            insert_chdb(chdb, table, columns, rows)
