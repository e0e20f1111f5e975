"""What `make demo` adds for the CX layer, on the real stack: history with a fix, the fix recorded and
judged, and the live view with the journey map."""

from __future__ import annotations

import pytest

from cxpulse import console, wiring
from cxpulse.commands import demo
from cxpulse.settings import Settings
from cxpulse.top import screen
from sql import fixes


def test_demo_history_records_a_fix_that_improved_and_top_shows_the_journey(
        running_stack: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    settings = running_stack.model_copy(update={"demo_backfill_hours": 2.0, "demo_rate": 8.0})
    start_ms = demo.backfill(settings)
    assert start_ms is not None
    assert not any(wiring.drain(settings, timeout=300).values())
    demo.record_fix(settings, start_ms)
    out = capsys.readouterr().out
    assert "verdict: improved" in out and "CSAT %" in out
    db = wiring.database(settings)
    try:
        fixed = {"channel": "web", "touchpoint": "order_status"}
        [fix] = [f for f in fixes.list_fixes(db)
                 if f.scope == fixed and start_ms // 1000 <= f.at <= start_ms // 1000 + 7200]
        assert fixes.stored_verdicts(db)[fix.fix_id]["verdict"] == "improved"
        text = console.render(screen(db, None, settings.min_n, journey=True))
    finally:
        db.close()
    assert "journey map, last 24 h" in text and "order_status" in text and "checkout" in text
