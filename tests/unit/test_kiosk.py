"""The kiosk-mqtt connector: mapping, ids, bad records, the anti-misuse filter, buffered presses."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from connectors.kiosk import (
    KioskBridge,
    KioskConfig,
    KioskMqttConnector,
    PressFilter,
    counts_as_new_press,
)
from connectors.sdk.base import InvalidRecord
from connectors.sdk.publisher import PublishSummary
from schemas.event import InvalidEvent, validate_event

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
NOW = 1_790_000_000_000


def press(button: Any = 3, ts: Any = NOW, seq: Any = 7, location: str = "hcm-01",
          device: str = "d1") -> tuple[str, bytes]:
    return f"kiosk/{location}/{device}/press", orjson.dumps({"button": button, "ts": ts, "seq": seq})


@pytest.fixture()
def connector() -> KioskMqttConnector:
    return KioskMqttConnector(KioskConfig(locations={
        "hn-02": {"touchpoint": "checkout", "journey_stage": "purchase", "region": "north"}}))


def test_buttons_map_to_csat_1_2_4_5(connector: KioskMqttConnector) -> None:
    scores = [connector.to_events(press(button=b, seq=b))[0]["csat"] for b in (1, 2, 3, 4)]
    assert scores == [1, 2, 4, 5]


def test_event_is_an_anonymous_kiosk_response_valid_against_the_schema(
        connector: KioskMqttConnector) -> None:
    [event] = connector.to_events(press())
    assert event["event_id"] == "kiosk/hcm-01/d1/7"
    assert (event["channel"], event["kind"], event["source"]) == ("kiosk", "response", "kiosk-mqtt")
    assert event["customer_id"] is None and event["location_id"] == "hcm-01"
    assert (event["touchpoint"], event["journey_stage"], event["region"]) == (
        "store_entrance", "purchase", "")
    validated = validate_event(event, default_received_at=NOW + 1000)
    assert validated["occurred_at"] == NOW and validated["received_at"] == NOW + 1000


def test_per_location_mapping(connector: KioskMqttConnector) -> None:
    [event] = connector.to_events(press(location="hn-02"))
    assert (event["touchpoint"], event["journey_stage"], event["region"]) == (
        "checkout", "purchase", "north")


def test_ids_are_deterministic_and_distinct(connector: KioskMqttConnector) -> None:
    assert connector.to_events(press()) == connector.to_events(press())
    ids = {connector.to_events(press(location=loc, device=dev, seq=seq))[0]["event_id"]
           for loc, dev, seq in [("a-b", "c", 1), ("a", "b-c", 1), ("a", "b", 1), ("a", "b", 2)]}
    assert len(ids) == 4


def test_iso_device_time_is_the_event_time(connector: KioskMqttConnector) -> None:
    iso = datetime.fromtimestamp(NOW / 1000, UTC).isoformat()
    assert connector.to_events(press(ts=iso))[0]["occurred_at"] == NOW


def test_offline_buffered_press_counts_in_its_own_minute(connector: KioskMqttConnector) -> None:
    pressed = NOW - 5 * HOUR_MS
    [event] = connector.to_events(press(ts=pressed))
    validated = validate_event(event, default_received_at=NOW)  # delivered 5 hours later
    assert validated["occurred_at"] == pressed and validated["received_at"] == NOW


def test_press_older_than_seven_days_is_rejected_by_validation(connector: KioskMqttConnector) -> None:
    [event] = connector.to_events(press(ts=NOW - 8 * DAY_MS))
    with pytest.raises(InvalidEvent) as info:
        validate_event(event, default_received_at=NOW)
    assert info.value.reason == "occurred_at_out_of_range"


@pytest.mark.parametrize(("raw", "reason"), [
    (("kiosk/hcm-01/press", b"{}"), "invalid_topic"),
    (("kiosk//d1/press", b"{}"), "invalid_topic"),
    (("shop/hcm-01/d1/press", b"{}"), "invalid_topic"),
    (("kiosk/hcm-01/d1/heartbeat", b"{}"), "invalid_topic"),
    (("kiosk/hcm-01/d1/press", b"{not json"), "invalid_json"),
    (("kiosk/hcm-01/d1/press", b"[1, 2]"), "invalid_payload"),
    (press(button=0), "invalid_button"),
    (press(button=5), "invalid_button"),
    (press(button="3"), "invalid_button"),
    (press(button=True), "invalid_button"),
    (press(ts=None), "invalid_timestamp"),
    (press(ts="yesterday"), "invalid_timestamp"),
    (press(ts="2026-01-01T10:00:00"), "invalid_timestamp"),
    (press(seq=None), "invalid_seq"),
    (press(seq=-1), "invalid_seq"),
    ("kiosk/hcm-01/d1/press", "invalid_record"),
])
def test_bad_records_are_rejected_with_a_reason(connector: KioskMqttConnector, raw: Any,
                                                reason: str) -> None:
    with pytest.raises(InvalidRecord) as info:
        connector.to_events(raw)
    assert info.value.reason == reason


def test_config_is_strict() -> None:
    with pytest.raises(ValidationError):
        KioskConfig(broker="x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        KioskConfig(default_journey_stage="shopping")
    with pytest.raises(ValidationError):
        KioskConfig(locations={"a": {"journey_stage": "nope"}})
    assert KioskConfig().dedupe_interval_s == 5
    assert KioskConfig().topic_filter == "kiosk/+/+/press"


def test_counts_as_new_press_rule() -> None:
    assert counts_as_new_press(None, NOW, 1, 5000)
    assert not counts_as_new_press((NOW, 1), NOW + 4999, 2, 5000)
    assert counts_as_new_press((NOW, 1), NOW + 5000, 2, 5000)
    assert not counts_as_new_press((NOW, 1), NOW - 1000, 0, 5000)  # out of order, still a repeat
    assert counts_as_new_press((NOW, 1), NOW, 1, 5000)  # QoS 1 redelivery of the counted press


def test_press_filter_is_per_device_and_keeps_the_latest() -> None:
    f = PressFilter(5000)
    assert f.admit("l", "d1", NOW, 1)
    assert f.admit("l", "d2", NOW + 1000, 1)  # another device
    assert not f.admit("l", "d1", NOW + 1000, 2)
    assert not f.admit("l", "d1", NOW + 4000, 3)  # measured from the last *counted* press
    assert f.admit("l", "d1", NOW + 6000, 4)
    assert f.admit("l", "d1", NOW - 3 * HOUR_MS, 0)  # buffered long ago: counts
    assert f.last[("l", "d1")] == (NOW + 6000, 4)


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []
        self.dead: list[tuple[bytes, str]] = []
        self.summary = PublishSummary()

    def publish_object(self, obj: dict[str, Any], raw: bytes, received_at: int | None = None) -> bool:
        self.published.append(obj)
        return True

    def dead_letter(self, raw: bytes, reason: str, detail: str) -> None:
        self.dead.append((raw, reason))


def test_bridge_publishes_suppresses_and_dead_letters() -> None:
    publisher = FakePublisher()
    bridge = KioskBridge(KioskConfig(), publisher)  # type: ignore[arg-type]
    for raw in [press(ts=NOW, seq=1), press(ts=NOW + 2000, seq=2), press(ts=NOW + 9000, seq=3),
                press(ts=NOW - 3 * HOUR_MS, seq=0), press(button=9, seq=4)]:
        bridge.handle(*raw)
    assert [e["event_id"] for e in publisher.published] == [
        "kiosk/hcm-01/d1/1", "kiosk/hcm-01/d1/3", "kiosk/hcm-01/d1/0"]
    assert bridge.stats.suppressed == 1  # suppressed, not dead-lettered
    [(raw, reason)] = publisher.dead
    assert reason == "invalid_button"
    assert orjson.loads(raw)["topic"] == "kiosk/hcm-01/d1/press"
    assert "suppressed 1" in bridge.summary_line()


def test_heartbeat_sets_the_gauge() -> None:
    bridge = KioskBridge(KioskConfig(), FakePublisher())  # type: ignore[arg-type]
    before = time.time()
    bridge.handle("kiosk/hb-loc/dev9/heartbeat", b"{}")
    value = REGISTRY.get_sample_value("cxpulse_kiosk_device_last_heartbeat_seconds",
                                      {"location": "hb-loc", "device": "dev9"})
    assert value is not None and before <= value <= time.time()
    assert bridge.stats.heartbeats == 1
