"""The detector sees a batch through ``clock_events``: the same clock and liveness as all its events."""

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.alerts.engine import AlertEngine
from streams.pipeline import clock_events

NOW_MS = 1_795_514_400_000

events = st.lists(st.fixed_dictionaries({
    "channel": st.sampled_from(["kiosk", "web", "call_center"]),
    "location_id": st.sampled_from(["", "store-1", "store-2", "store-3"]),
    "occurred_at": st.integers(NOW_MS - 3 * 86_400_000, NOW_MS + 86_400_000),
}), max_size=60)


def engine_state(batches: list[list[dict[str, object]]]) -> tuple[object, ...]:
    engine = AlertEngine(connect=lambda: None, publish=lambda alerts: None)  # type: ignore[arg-type,return-value]
    for batch in batches:
        engine.observe(batch, NOW_MS)
    return engine.clock_s, engine.first_s, engine.kiosk_last_seen_ms


@settings(max_examples=200, deadline=None)
@given(st.lists(events, max_size=4))
def test_clock_events_move_the_detector_as_every_event_would(batches: list[list[dict[str, object]]]) -> None:
    slim = [clock_events(batch) for batch in batches]  # type: ignore[arg-type]
    assert engine_state(slim) == engine_state(batches)  # type: ignore[arg-type]
    assert all(len(s) <= 5 for s in slim)
