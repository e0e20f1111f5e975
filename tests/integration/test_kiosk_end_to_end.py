"""Kiosks on the stack's Mosquitto -> bridge -> Kafka -> worker -> `cxpulse metrics --by location_id`,
and heartbeats -> the bridge's device registry -> its metrics endpoint (live, silent, closed kiosks).

The presses sit at now-5min..now-3min and (a device-buffered one) now-6d: outside the per-channel
windows other tests compare ([now-3d, now-3h) and [now-150min, now-1h)).
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families

from connectors.kiosk.bridge import run_bridge
from connectors.kiosk.connector import KioskConfig
from connectors.sdk.publisher import EventPublisher
from cxpulse.settings import Settings
from cxpulse.wiring import privacy_key
from schemas.codec import AvroCodec
from schemas.topics import Topics
from tests.conftest import free_port, run_tag
from tests.integration.test_end_to_end import cxpulse, dead_letters, metrics

MIN_MS = 60_000
DAY_MS = 86_400_000


def start_bridge(settings: Settings, config: KioskConfig, state_path: Path | None = None,
                 ) -> tuple[threading.Thread, threading.Event, list[str]]:
    topics = Topics(settings.topic_prefix)
    codec = AvroCodec(registry_url=settings.schema_registry_url, subject=f"{topics.touchpoints}-value")
    publisher = EventPublisher(settings.bootstrap, topics, codec, "kiosk-mqtt",
                               privacy_key=privacy_key(settings))
    stop, lines = threading.Event(), []
    thread = threading.Thread(target=run_bridge, args=(config, publisher, stop, lines.append),
                              kwargs={"state_path": state_path}, daemon=True)
    thread.start()
    return thread, stop, lines


Gauges = dict[tuple[str, str, str], float]
"""(metric, location, device) -> value of the bridge's cxpulse_kiosk_device_* gauges."""


def scrape(port: int) -> Gauges:
    """The bridge's metrics endpoint, as Prometheus would read it (retried while it starts)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                text = response.read().decode()
            break
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return {(s.name, s.labels["location"], s.labels["device"]): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if s.name.startswith("cxpulse_kiosk_device_")}


def mqtt_publisher(settings: Settings, tag: str) -> Any:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"kiosks-{tag}")
    client.connect("127.0.0.1", settings.mqtt_port)
    client.loop_start()
    return client


def send(client: Any, topic: str, payload: bytes) -> None:
    client.publish(topic, payload, qos=1).wait_for_publish(10)


def wait_until_subscribed(client: Any, location: str, port: int, device: str = "d1") -> None:
    """Heartbeats until the bridge's endpoint shows one: from then on its subscription is live."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        send(client, f"kiosk/{location}/{device}/heartbeat", b"{}")
        if ("cxpulse_kiosk_device_last_heartbeat_seconds", location, device) in scrape(port):
            return
        time.sleep(0.2)
    raise AssertionError("the bridge never received a heartbeat")


def press(button: int, at: int, seq: int) -> bytes:
    return orjson.dumps({"button": button, "ts": at, "seq": seq})


def test_kiosk_presses_counted_in_their_minute_once_with_dead_letters(
        running_stack: Settings, cli_env: dict[str, str]) -> None:
    now = int(time.time() * 1000)
    tag = run_tag("kiosk")
    a, b = f"{tag}-a", f"{tag}-b"
    port = free_port()
    thread, stop, lines = start_bridge(running_stack, KioskConfig(
        broker_port=running_stack.mqtt_port, client_id=f"bridge-{tag}", metrics_port=port,
        locations={b: {"touchpoint": "checkout", "region": "south"}}))
    client = mqtt_publisher(running_stack, tag)
    wait_until_subscribed(client, a, port)
    presses = [
        (f"kiosk/{a}/d1/press", press(4, now - 5 * MIN_MS, 1)),
        (f"kiosk/{a}/d1/press", press(1, now - 5 * MIN_MS + 2000, 2)),  # repeat within 5 s: once
        (f"kiosk/{a}/d1/press", press(1, now - 4 * MIN_MS, 3)),
        (f"kiosk/{a}/d2/press", press(2, now - 6 * DAY_MS, 1)),  # buffered on the device for 6 days
        (f"kiosk/{a}/d2/press", press(2, now - 6 * DAY_MS, 1)),  # QoS 1 redelivery: a duplicate
        (f"kiosk/{b}/d1/press", press(3, now - 3 * MIN_MS, 1)),
        (f"kiosk/{b}/d1/press", press(7, now - 2 * MIN_MS, 2)),  # malformed: no such button
        (f"kiosk/{b}/d1/press", f"{{oops {tag}".encode()),  # not JSON
        (f"kiosk/{b}/d2/press", press(4, now - 8 * DAY_MS, 9)),  # older than the 7-day window
    ]
    for topic, payload in presses:
        send(client, topic, payload)
    time.sleep(2)  # let the bridge take and flush the last messages
    stop.set()
    thread.join(30)
    client.loop_stop()
    client.disconnect()
    assert not thread.is_alive()
    assert "accepted 5, rejected 3" in lines[-1] and "suppressed 1" in lines[-1]
    cxpulse(cli_env, "drain", "--timeout", "180")

    figures = metrics(cli_env, "location_id", now - 7 * DAY_MS, now + MIN_MS)
    got = {loc: {k: figures[loc][k] for k in ("events", "csat_responses", "csat_satisfied", "csat_sum")}
           for loc in (a, b)}
    assert got == {a: {"events": 3, "csat_responses": 3, "csat_satisfied": 1, "csat_sum": 8},
                   b: {"events": 1, "csat_responses": 1, "csat_satisfied": 1, "csat_sum": 4}}
    buffered = metrics(cli_env, "location_id", now - 6 * DAY_MS - MIN_MS, now - 6 * DAY_MS + MIN_MS)
    assert buffered[a]["csat_responses"] == 1 and buffered[a]["csat_sum"] == 2  # its own minute

    dlq = dead_letters(running_stack, tag)
    reasons = Counter({(orjson.loads(raw)["topic"], reason): n for (raw, reason), n in dlq.items()})
    assert reasons == {(f"kiosk/{b}/d1/press", "invalid_button"): 1,
                       (f"kiosk/{b}/d1/press", "invalid_json"): 1,
                       (f"kiosk/{b}/d2/press", "occurred_at_out_of_range"): 1}


def test_heartbeats_tell_live_silent_and_closed_kiosks_apart_across_a_bridge_restart(
        running_stack: Settings, tmp_path: Path) -> None:
    """Kiosk `live` keeps sending heartbeats, `quiet` sends one and stops; one location is open around
    the clock (Vietnamese time), the other closed right now. With silent_after_s = 1 s, `quiet` turns
    silent within seconds; a restarted bridge reloads its registry and still reports it silent."""
    tag = run_tag("hb")
    opened, closed = f"{tag}-open", f"{tag}-closed"
    hour = datetime.now(UTC).hour  # the closed location opens in 2 hours (UTC) for one hour
    port = free_port()
    config = KioskConfig(
        broker_port=running_stack.mqtt_port, client_id=f"bridge-{tag}", metrics_port=port,
        silent_after_s=1.0, state_save_interval_s=0.2,
        locations={opened: {"opening_hours": "00:00-24:00", "timezone": "Asia/Ho_Chi_Minh"},
                   closed: {"opening_hours": f"{(hour + 2) % 24:02d}:00-{(hour + 3) % 24:02d}:00"}})
    state = tmp_path / "kiosk-devices.json"
    thread, stop, _ = start_bridge(running_stack, config, state)
    client = mqtt_publisher(running_stack, tag)
    try:
        wait_until_subscribed(client, opened, port, device="live")
        send(client, f"kiosk/{opened}/quiet/heartbeat", b"{}")
        send(client, f"kiosk/{closed}/quiet/heartbeat", b"{}")
        deadline = time.monotonic() + 10
        while True:  # only `live` keeps talking, every 0.2 s, until `quiet` is reported silent
            send(client, f"kiosk/{opened}/live/heartbeat", b"{}")
            time.sleep(0.2)
            gauges = scrape(port)
            if gauges.get(("cxpulse_kiosk_device_silent", opened, "quiet")) or time.monotonic() > deadline:
                break
        expected = {(opened, "live"): (1, 0), (opened, "quiet"): (1, 1), (closed, "quiet"): (0, 0)}
        assert {key: (gauges[("cxpulse_kiosk_device_open", *key)],
                      gauges[("cxpulse_kiosk_device_silent", *key)]) for key in expected} == expected
        assert gauges[("cxpulse_kiosk_device_silence_seconds", opened, "quiet")] > 1
        assert gauges[("cxpulse_kiosk_device_silence_seconds", opened, "live")] < 1
        last_quiet = gauges[("cxpulse_kiosk_device_last_heartbeat_seconds", opened, "quiet")]
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    saved = orjson.loads(state.read_bytes())["devices"]
    assert {(d["location"], d["device"]) for d in saved} == set(expected)

    # Restarted (on another metrics port): nothing arrives, yet `quiet` is still known and silent.
    port = free_port()
    thread, stop, _ = start_bridge(running_stack, config.model_copy(update={"metrics_port": port}),
                                   state)
    try:
        gauges = scrape(port)
        assert gauges[("cxpulse_kiosk_device_silent", opened, "quiet")] == 1
        assert gauges[("cxpulse_kiosk_device_last_heartbeat_seconds", opened, "quiet")] == last_quiet
        assert gauges[("cxpulse_kiosk_device_open", closed, "quiet")] == 0
    finally:
        stop.set()
        thread.join(30)
        client.loop_stop()
        client.disconnect()
    assert not thread.is_alive()
