"""Kiosk presses on the stack's Mosquitto -> bridge -> Kafka -> worker -> `cxpulse metrics --by location_id`.

The presses sit at now-5min..now-3min and (a device-buffered one) now-6d: outside the per-channel
windows other tests compare ([now-3d, now-3h) and [now-150min, now-1h)).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import REGISTRY

from connectors.kiosk import KioskConfig, run_bridge
from connectors.sdk.publisher import EventPublisher
from cxpulse.settings import Settings
from schemas.codec import AvroCodec
from schemas.topics import Topics
from tests.integration.test_end_to_end import cxpulse, dead_letters, metrics

MIN_MS = 60_000
DAY_MS = 86_400_000


def start_bridge(settings: Settings, tag: str) -> tuple[threading.Thread, threading.Event, list[str]]:
    topics = Topics(settings.topic_prefix)
    codec = AvroCodec(registry_url=settings.schema_registry_url, subject=f"{topics.touchpoints}-value")
    publisher = EventPublisher(settings.bootstrap, topics, codec, "kiosk-mqtt")
    config = KioskConfig(broker_port=settings.mqtt_port, client_id=f"bridge-{tag}",
                         locations={f"{tag}-b": {"touchpoint": "checkout", "region": "south"}})
    stop, lines = threading.Event(), []
    thread = threading.Thread(target=run_bridge, args=(config, publisher, stop, lines.append),
                              daemon=True)
    thread.start()
    return thread, stop, lines


def mqtt_publisher(settings: Settings, tag: str) -> Any:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"kiosks-{tag}")
    client.connect("127.0.0.1", settings.mqtt_port)
    client.loop_start()
    return client


def send(client: Any, topic: str, payload: bytes) -> None:
    client.publish(topic, payload, qos=1).wait_for_publish(10)


def wait_until_subscribed(client: Any, location: str) -> None:
    """Heartbeats until the bridge's gauge shows one: from then on its subscription is live."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        send(client, f"kiosk/{location}/d1/heartbeat", b"{}")
        if REGISTRY.get_sample_value("cxpulse_kiosk_device_last_heartbeat_seconds",
                                     {"location": location, "device": "d1"}):
            return
        time.sleep(0.2)
    raise AssertionError("the bridge never received a heartbeat")


def press(button: int, at: int, seq: int) -> bytes:
    return orjson.dumps({"button": button, "ts": at, "seq": seq})


def test_kiosk_presses_counted_in_their_minute_once_with_dead_letters(
        running_stack: Settings, cli_env: dict[str, str]) -> None:
    now = int(time.time() * 1000)
    tag = f"kiosk{now}"
    a, b = f"{tag}-a", f"{tag}-b"
    thread, stop, lines = start_bridge(running_stack, tag)
    client = mqtt_publisher(running_stack, tag)
    wait_until_subscribed(client, a)
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
