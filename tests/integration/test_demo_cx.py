"""What `make demo` adds for the CX layer, on the real server: history with a fix, the fix recorded and
judged, and the live view with the journey map.

The demo's history (``demo.history``: what ``backfill`` publishes) is stored here as the worker stores
it, in a database of this test's own: published to the shared stack it would change the figures
other tests check over recent windows. The live view's journey map is rendered over the history.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.simulator.connector import SimulatorConnector
from cxpulse import console, cx_view, wiring
from cxpulse.commands import demo
from cxpulse.settings import Settings
from schemas.event import validate_event
from sql import fixes
from sql.client import ServerDatabase
from sql.journey import cells
from sql.migrate import migrate
from streams.fcr.processor import FCR_COLUMNS
from streams.satisfaction.contributions import EVENT_COLUMNS, event_row
from streams.sinks.checkpoints import LEDGER_COLUMNS, MINUTE_TABLE, minute_rows
from tests.conftest import unique_name
from tests.fcr_table import worker_batches

HISTORY_END_MS = 1_772_420_400_000
"""2026-03-02T03:00Z: a fixed clock, so the seeded history is the same every run."""


@pytest.fixture()
def demo_settings(running_stack: Settings) -> Iterator[Settings]:
    settings = running_stack.model_copy(update={"demo_backfill_hours": 2.0, "demo_rate": 8.0,
                                                "clickhouse_database": unique_name("demo")})
    db = ServerDatabase(settings.clickhouse_host, settings.clickhouse_port, settings.clickhouse_database)
    db.create_database()
    yield settings
    db.drop_database()
    db.close()


def test_demo_history_records_a_fix_that_improved_and_top_shows_the_journey(
        demo_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    config = demo.history(demo_settings, HISTORY_END_MS, seed=5)
    events = [validate_event(e) for e, _cursor in SimulatorConnector(config).poll(None)]
    db = wiring.database(demo_settings)
    try:
        migrate(db)
        db.insert("touchpoint_events", EVENT_COLUMNS, [event_row(e, 0, i) for i, e in enumerate(events)])
        db.insert(MINUTE_TABLE, LEDGER_COLUMNS, minute_rows(events))
        for rows in worker_batches([events]):
            db.insert("fcr_contacts", FCR_COLUMNS, rows)
        assert config.start_ms is not None
        demo.record_fix(demo_settings, config.start_ms)
        out = capsys.readouterr().out
        assert "verdict: improved" in out and "CSAT %" in out
        [fix] = fixes.list_fixes(db)
        assert fix.scope == {"channel": "web", "touchpoint": "order_status"}
        assert fix.at == config.start_ms // 1000 + 3600  # half-way through the two hours
        assert fixes.stored_verdicts(db)[fix.fix_id]["verdict"] == "improved"
        # what `cxpulse top --journey` draws below the channels (there: the last 24 h up to now)
        start_s = config.start_ms // 1000
        text = console.render(cx_view.compact_journey(cells(db, start_s, start_s + 7200, 5), 5))
    finally:
        db.close()
    assert all(touchpoint in text for touchpoint in ("order_status", "checkout", "store_entrance"))
