from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.event import InvalidEvent, parse_timestamp_ms, validate_event

NOW = 1_795_514_400_000


def good(**overrides: object) -> dict[str, object]:
    event: dict[str, object] = {
        "event_id": "e1", "occurred_at": NOW - 1000, "received_at": NOW, "channel": "web",
        "source": "test", "kind": "response", "touchpoint": "checkout", "csat": 4,
    }
    event.update(overrides)
    return event


def reason(obj: object) -> str:
    with pytest.raises(InvalidEvent) as info:
        validate_event(obj)
    return info.value.reason


def test_valid_event_gets_canonical_defaults() -> None:
    event = validate_event(good())
    assert event["journey_stage"] == "unknown"
    assert event["partner_id"] == "" and event["attributes"] == {}
    assert event["complaint"] is False and event["nps"] is None


@pytest.mark.parametrize(("field", "value"), [("csat", 0), ("csat", 6), ("nps", -1), ("nps", 11),
                                              ("ces", 0), ("ces", 8)])
def test_score_outside_its_scale_is_rejected_not_clipped(field: str, value: int) -> None:
    assert reason(good(**{field: value})) == "score_out_of_range"


@pytest.mark.parametrize(("field", "value"), [("csat", 1), ("csat", 5), ("nps", 0), ("nps", 10),
                                              ("ces", 1), ("ces", 7)])
def test_scale_bounds_are_accepted(field: str, value: int) -> None:
    assert validate_event(good(**{field: value}))[field] == value


def test_accepted_window_is_measured_against_received_at() -> None:
    week = 7 * 86_400_000
    assert validate_event(good(occurred_at=NOW - week))["occurred_at"] == NOW - week
    assert reason(good(occurred_at=NOW - week - 1)) == "occurred_at_out_of_range"
    assert validate_event(good(occurred_at=NOW + 300_000))
    assert reason(good(occurred_at=NOW + 300_001)) == "occurred_at_out_of_range"


def test_missing_received_at_takes_the_connectors_clock() -> None:
    event = good()
    del event["received_at"]
    assert reason(event) == "missing_field"
    assert validate_event(event, default_received_at=NOW)["received_at"] == NOW


@pytest.mark.parametrize("obj", [[1, 2], "text", 3, None])
def test_non_objects_are_rejected(obj: object) -> None:
    assert reason(obj) == "not_an_object"


@pytest.mark.parametrize("field", ["event_id", "occurred_at", "channel", "kind", "touchpoint", "source"])
def test_required_fields(field: str) -> None:
    event = good()
    del event[field]
    assert reason(event) == "missing_field"


def test_bad_types_and_enums_and_unknown_fields() -> None:
    assert reason(good(channel="fax")) == "invalid_field"
    assert reason(good(csat=True)) == "invalid_field"
    assert reason(good(csat="4")) == "invalid_field"
    assert reason(good(resolved="yes")) == "invalid_field"
    assert reason(good(attributes={"a": 1})) == "invalid_field"
    assert reason(good(colour="red")) == "unknown_field"
    assert reason(good(occurred_at="yesterday")) == "invalid_timestamp"
    assert reason(good(occurred_at="2026-11-24T10:00:00")) == "invalid_timestamp"


def test_timestamps_iso_with_offset_and_epoch_ms_agree() -> None:
    assert parse_timestamp_ms("2026-11-24T10:00:00.123Z", "t") == 1_795_514_400_123
    assert parse_timestamp_ms("2026-11-24T17:00:00.123+07:00", "t") == 1_795_514_400_123
    assert parse_timestamp_ms(1_795_514_400_123, "t") == 1_795_514_400_123


def test_vietnamese_comment_is_kept() -> None:
    assert validate_event(good(comment="Nhân viên rất nhiệt tình"))["comment"] == "Nhân viên rất nhiệt tình"


@settings(max_examples=300, deadline=None)
@given(obj=st.fixed_dictionaries(
    {"event_id": st.text(max_size=300), "occurred_at": st.integers(-10**12, 5 * 10**12),
     "received_at": st.integers(-10**12, 5 * 10**12), "channel": st.sampled_from(["web", "kiosk"]),
     "source": st.text(max_size=3), "kind": st.sampled_from(["response", "contact"]),
     "touchpoint": st.text(max_size=3)},
    optional={"csat": st.integers(-2, 8), "nps": st.integers(-2, 12), "ces": st.integers(-2, 9),
              "version": st.integers(-5, 2**64)}))
def test_the_worker_fast_check_agrees_with_full_validation(obj: dict[str, Any]) -> None:
    """What the worker checks after Avro decoding (validate_decoded) is validate_event's verdict."""
    from schemas.event import validate_decoded

    canonical = {"journey_stage": "unknown", "customer_id": None, "interaction_id": None,
                 "contact_reason": None, "resolved": None, "complaint": False, "csat": None,
                 "nps": None, "ces": None, "comment": None, "language": None, "partner_id": "",
                 "location_id": "", "region": "", "agent_id": "", "attributes": {}, "version": 0,
                 **obj}
    try:
        expected: Any = validate_event(obj)
    except InvalidEvent as exc:
        expected = exc.reason
    try:
        got: Any = validate_decoded(dict(canonical))
    except InvalidEvent as exc:
        got = exc.reason
    if isinstance(expected, str) and isinstance(got, str):
        return  # both refuse (with one of the event's faults; the order of checks may differ)
    assert got == expected


decoded_events = st.fixed_dictionaries(
    {"event_id": st.text(max_size=300), "occurred_at": st.integers(-10**12, 5 * 10**12),
     "received_at": st.integers(-10**12, 5 * 10**12), "source": st.text(max_size=2),
     "touchpoint": st.text(max_size=2), "csat": st.none() | st.integers(-1, 7),
     "nps": st.none() | st.integers(-1, 11), "ces": st.none() | st.integers(0, 8),
     "version": st.integers(-2, 2**64)})
near_now = st.fixed_dictionaries(  # mostly valid: the envelopes a worker sees
    {"event_id": st.text(min_size=1, max_size=5),
     "occurred_at": st.integers(NOW - 8 * 86_400_000, NOW + 400_000), "received_at": st.just(NOW),
     "source": st.just("s"), "touchpoint": st.just("t"),
     "csat": st.none() | st.integers(1, 5), "nps": st.none() | st.integers(0, 10),
     "ces": st.none() | st.integers(1, 7), "version": st.integers(0, 3)})


@settings(max_examples=400, deadline=None)
@given(st.lists(decoded_events | near_now, min_size=1, max_size=6))
def test_an_envelope_checked_as_a_whole_is_valid_exactly_when_each_event_is(
        batch: list[dict[str, Any]]) -> None:
    from schemas.event import all_valid_decoded, validate_decoded

    def valid(event: dict[str, Any]) -> bool:
        try:
            validate_decoded(dict(event))
        except InvalidEvent:
            return False
        return True

    assert all_valid_decoded(batch) == all(valid(e) for e in batch)


def test_the_optional_defaults_are_what_validation_fills_in() -> None:
    from schemas.event import FIELDS, OPTIONAL_DEFAULTS

    minimal = {k: v for k, v in good().items() if k != "csat"}
    assert set(OPTIONAL_DEFAULTS) == FIELDS - set(minimal) - {"journey_stage"}
    event = validate_event(minimal)
    assert {k: event[k] for k in OPTIONAL_DEFAULTS} == {**OPTIONAL_DEFAULTS, "attributes": {}}
