"""The kiosk-mqtt connector: mapping, ids, bad records, the anti-misuse filter, buffered presses,
per-location opening hours and time zones in the config, the device registry and its liveness gauges.
(Opening hours themselves: test_opening_hours.py.)"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from connectors.kiosk.bridge import KioskBridge, PressFilter, counts_as_new_press
from connectors.kiosk.connector import KioskConfig, KioskMqttConnector
from connectors.kiosk.liveness import DeviceRegistry, device_state_path
from connectors.kiosk.opening_hours import parse_opening_hours
from connectors.sdk.base import InvalidRecord
from connectors.sdk.testing import ConnectorContract, FakePublisher
from schemas.event import InvalidEvent, validate_event
from tests.unit.test_opening_hours import BERLIN, VN, utc

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
NOW = 1_790_000_000_000


def press(button: Any = 3, ts: Any = NOW, seq: Any = 7, location: str = "hcm-01",
          device: str = "d1") -> tuple[str, bytes]:
    return f"kiosk/{location}/{device}/press", orjson.dumps({"button": button, "ts": ts, "seq": seq})


def _recent_iso(minutes_ago: int) -> str:
    """A device clock reading in Vietnam time, ``minutes_ago`` before now (samples stay valid)."""
    moment = datetime.fromtimestamp(time.time() - minutes_ago * 60, ZoneInfo("Asia/Ho_Chi_Minh"))
    return moment.isoformat(timespec="milliseconds")


class TestKioskContract(ConnectorContract):
    """The contract kit on presses as terminals send them: (MQTT topic, JSON payload bytes)."""

    connector_cls = KioskMqttConnector
    config = {"locations": {"hcm-q1": {"touchpoint": "store_exit", "region": "south"}}}
    good_records = [
        ("kiosk/hcm-q1/door-1/press", orjson.dumps({"button": 1, "ts": _recent_iso(3), "seq": 41})),
        ("kiosk/hcm-q1/door-1/press", orjson.dumps({"button": 4, "ts": _recent_iso(2), "seq": 42})),
        ("kiosk/hn-02/till-3/press",
         orjson.dumps({"button": 3, "ts": int(time.time() * 1000) - 3 * HOUR_MS, "seq": 7})),
    ]
    bad_records = [
        (("kiosk/hcm-q1/press", b'{"button": 2, "ts": 1, "seq": 1}'), "invalid_topic"),
        (("kiosk/hcm-q1/door-1/press", b'{"button": 2, "ts": '), "invalid_json"),
        (("kiosk/hcm-q1/door-1/press", b"[2]"), "invalid_payload"),
        (("kiosk/hcm-q1/door-1/press", orjson.dumps({"button": 5, "ts": _recent_iso(1), "seq": 1})),
         "invalid_button"),
        (("kiosk/hcm-q1/door-1/press", orjson.dumps({"button": 2, "seq": 1})), "invalid_timestamp"),
        (("kiosk/hcm-q1/door-1/press", orjson.dumps({"button": 2, "ts": _recent_iso(1), "seq": -1})),
         "invalid_seq"),
        ({"topic": "kiosk/hcm-q1/door-1/press"}, "invalid_record"),
    ]


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


def test_bridge_publishes_suppresses_and_dead_letters() -> None:
    publisher = FakePublisher("kiosk-mqtt")
    bridge = KioskBridge(KioskConfig(), publisher)
    now = int(time.time() * 1000)
    for raw in [press(ts=now, seq=1), press(ts=now + 2000, seq=2), press(ts=now + 9000, seq=3),
                press(ts=now - 3 * HOUR_MS, seq=0), press(button=9, seq=4)]:
        bridge.handle(*raw)
    assert [e["event_id"] for e in publisher.published] == [
        "kiosk/hcm-01/d1/1", "kiosk/hcm-01/d1/3", "kiosk/hcm-01/d1/0"]
    assert bridge.stats.suppressed == 1  # suppressed, not dead-lettered
    [(raw, reason, _detail)] = publisher.dead_letters
    assert reason == "invalid_button"
    assert orjson.loads(raw)["topic"] == "kiosk/hcm-01/d1/press"
    assert bridge.runtime.summary.records == 5  # the SDK runtime counted every press
    assert "suppressed 1" in bridge.summary_line()


def test_heartbeat_sets_the_gauge() -> None:
    bridge = KioskBridge(KioskConfig(), FakePublisher("kiosk-mqtt"))
    registry = CollectorRegistry()
    registry.register(bridge.gauges)
    before = time.time()
    bridge.handle("kiosk/hb-loc/dev9/heartbeat", b"{}")
    value = registry.get_sample_value("cxpulse_kiosk_device_last_heartbeat_seconds",
                                      {"location": "hb-loc", "device": "dev9"})
    assert value is not None and before <= value <= time.time()
    assert bridge.stats.heartbeats == 1


# --- kiosk config: opening hours and time zones --------------------------------------------------

def test_location_hours_and_time_zone_are_validated_and_default() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Asia/Saigonn'"):
        KioskConfig(locations={"a": {"timezone": "Asia/Saigonn"}})
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Base'"):
        KioskConfig(default_timezone="Mars/Base")
    with pytest.raises(ValidationError, match="not a time of day"):
        KioskConfig(locations={"a": {"opening_hours": "08:00-25:00"}})
    with pytest.raises(ValidationError):
        KioskConfig(locations={"a": {"opening_hour": "08:00-22:00"}})  # typo: unknown key
    with pytest.raises(ValidationError):
        KioskConfig(silent_after_s=0)
    config = KioskConfig(default_timezone="Asia/Ho_Chi_Minh", locations={
        "night": {"opening_hours": "20:00-02:00"}, "berlin": {"timezone": "Europe/Berlin"}})
    assert config.schedule_of("night") == (parse_opening_hours("20:00-02:00"), VN)
    assert config.schedule_of("berlin") == (parse_opening_hours("08:00-22:00"), BERLIN)
    assert config.schedule_of("unlisted") == (parse_opening_hours("08:00-22:00"), VN)
    assert KioskConfig().schedule_of("x")[1] == ZoneInfo("UTC") and KioskConfig().silent_after_s == 600


# --- device registry and liveness gauges ---------------------------------------------------------

T0 = utc(2026, 5, 11, 0, 0).timestamp()  # Monday 07:00 in Vietnam: shops open at 08:00


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def gauges_of(bridge: KioskBridge) -> dict[tuple[str, str, str], float]:
    registry = CollectorRegistry()
    registry.register(bridge.gauges)
    return {(m.name, s.labels["location"], s.labels["device"]): s.value
            for m in registry.collect() for s in m.samples}


def liveness_bridge(clock: Clock, devices: DeviceRegistry | None = None) -> KioskBridge:
    config = KioskConfig(default_timezone="Asia/Ho_Chi_Minh", silent_after_s=600, locations={
        "bar": {"opening_hours": "20:00-02:00"}})
    return KioskBridge(config, FakePublisher("kiosk-mqtt"), devices, clock)


def test_silent_only_while_open_and_after_silent_after_s_of_opening_time() -> None:
    clock = Clock(T0 - 3600)  # 06:00 local
    bridge = liveness_bridge(clock)
    bridge.handle("kiosk/shop/live/heartbeat", b"{}")
    bridge.handle("kiosk/shop/quiet/heartbeat", b"{}")
    bridge.handle("kiosk/bar/d1/heartbeat", b"{}")
    clock.now = T0 + 3600 + 300  # 08:05: open for 5 min, everyone quiet since 06:00
    bridge.handle("kiosk/shop/live/heartbeat", b"{}")
    g = gauges_of(bridge)
    assert g[("cxpulse_kiosk_device_open", "shop", "quiet")] == 1
    assert g[("cxpulse_kiosk_device_silent", "shop", "quiet")] == 0  # night silence does not count
    assert g[("cxpulse_kiosk_device_silence_seconds", "shop", "quiet")] == 7500
    assert g[("cxpulse_kiosk_device_open", "bar", "d1")] == 0
    clock.now = T0 + 3600 + 601  # 08:10:01: 601 s of opening time without a message
    bridge.handle("kiosk/shop/live/press", b"not even json")  # a malformed press still proves life
    g = gauges_of(bridge)
    assert g[("cxpulse_kiosk_device_silent", "shop", "quiet")] == 1
    assert g[("cxpulse_kiosk_device_silent", "shop", "live")] == 0
    assert g[("cxpulse_kiosk_device_last_press_seconds", "shop", "live")] == clock.now
    assert g[("cxpulse_kiosk_device_last_heartbeat_seconds", "shop", "live")] == T0 + 3900
    assert g[("cxpulse_kiosk_device_silent", "bar", "d1")] == 0  # closed: never silent
    assert ("cxpulse_kiosk_device_last_press_seconds", "shop", "quiet") not in g
    clock.now = T0 + 15 * 3600  # 22:00 local: the shop closes, the bar has been open for 2 h
    g = gauges_of(bridge)
    assert g[("cxpulse_kiosk_device_open", "shop", "quiet")] == 0
    assert g[("cxpulse_kiosk_device_silent", "shop", "quiet")] == 0
    assert g[("cxpulse_kiosk_device_silent", "bar", "d1")] == 1
    bridge.handle("kiosk/bar/d1/heartbeat", b"{}")
    assert gauges_of(bridge)[("cxpulse_kiosk_device_silent", "bar", "d1")] == 0


def test_registry_survives_a_restart_and_a_device_silent_meanwhile_still_alerts(tmp_path: Path) -> None:
    path = device_state_path(tmp_path / "run", "bridge/1 x")
    assert path.name == "kiosk-devices-bridge_1_x.json"
    clock = Clock(T0 + 2 * 3600)  # 09:00 local, open
    first = liveness_bridge(clock, DeviceRegistry(path))
    first.handle("kiosk/shop/d1/heartbeat", b"{}")
    first.handle("kiosk/shop/d2/press", orjson.dumps({"button": 4, "ts": 1, "seq": 1}))
    assert first.devices.save(clock.now) and not first.devices.save(clock.now)  # only when changed
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    saved = orjson.loads(path.read_bytes())
    assert saved["devices"] == [
        {"location": "shop", "device": "d1", "last_heartbeat": clock.now, "last_press": None},
        {"location": "shop", "device": "d2", "last_heartbeat": None, "last_press": clock.now}]

    clock.now += 3600  # the bridge was down for an hour; d1 and d2 sent nothing since
    devices = DeviceRegistry(path)
    assert devices.load() == 2
    second = liveness_bridge(clock, devices)
    second.handle("kiosk/shop/d2/heartbeat", b"{}")
    g = gauges_of(second)
    assert g[("cxpulse_kiosk_device_silent", "shop", "d1")] == 1
    assert g[("cxpulse_kiosk_device_silent", "shop", "d2")] == 0
    assert g[("cxpulse_kiosk_device_last_heartbeat_seconds", "shop", "d1")] == clock.now - 3600


def test_registry_forgets_devices_silent_for_forget_after_s(tmp_path: Path) -> None:
    devices = DeviceRegistry(tmp_path / "d.json", forget_after_s=86_400)
    devices.heartbeat("l", "old", 1000.0)
    devices.heartbeat("l", "new", 50_000.0)
    devices.heartbeat("l", "new", 40_000.0)  # out of order: never moves back
    assert set(devices.snapshot(90_000.0)) == {("l", "new")}
    assert devices.snapshot(90_000.0)[("l", "new")].last_heartbeat_s == 50_000.0
    assert devices.save(90_000.0)
    assert [d["device"] for d in orjson.loads((tmp_path / "d.json").read_bytes())["devices"]] == ["new"]


@pytest.mark.parametrize("content", [b"{not json", b'{"version": 2, "devices": []}',
                                     b'{"version": 1, "devices": [{"location": "l"}]}',
                                     b'{"version": 1, "devices": [{"location": "l", "device": "d", '
                                     b'"last_heartbeat": "yesterday"}]}'])
def test_unreadable_registry_is_moved_aside_and_the_bridge_starts_empty(tmp_path: Path,
                                                                       content: bytes) -> None:
    path = tmp_path / "devices.json"
    path.write_bytes(content)
    devices = DeviceRegistry(path)
    assert devices.load() == 0 and devices.snapshot(0.0) == {}
    assert not path.exists() and (tmp_path / "devices.json.corrupt").read_bytes() == content


def test_two_copies_of_the_gauges_cannot_share_a_registry() -> None:
    registry = CollectorRegistry()
    registry.register(liveness_bridge(Clock(T0)).gauges)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        registry.register(liveness_bridge(Clock(T0)).gauges)


def test_a_failed_save_is_logged_and_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "devices.json"
    blocked.mkdir()  # a folder where the file should be: the rename fails
    devices = DeviceRegistry(blocked)
    devices.heartbeat("l", "d", 1.0)
    devices.checkpoint(2.0)
    assert "could not save the kiosk device registry" in caplog.text
    assert list(tmp_path.iterdir()) == [blocked]  # no temporary file left behind
    blocked.rmdir()
    assert devices.save(3.0)  # still marked changed: the next save writes it
