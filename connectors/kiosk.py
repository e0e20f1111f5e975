"""Kiosk smiley terminals over MQTT: the ``kiosk-mqtt`` connector and its bridge process.

A terminal publishes one message per button press on ``kiosk/{location}/{device}/press`` with the
JSON payload ``{"button": 1-4, "ts": <device time, ISO-8601 or epoch ms>, "seq": <device sequence>}``
and a heartbeat on ``kiosk/{location}/{device}/heartbeat``. Buttons map to CSAT per METRICS.md
(very unhappy, unhappy, happy, very happy -> 1, 2, 4, 5).

Time: ``occurred_at`` is the device's own timestamp, so presses a terminal buffered while offline and
delivers hours later count in the minute they happened; ``received_at`` is stamped by the publisher
when the bridge hands the event over. Presses older than the 7-day window are rejected by event
validation and dead-lettered.

Anti-misuse (as HappyOrNot does): repeated presses from one device within ``dedupe_interval_s`` count
once. That filter is stateful, so it lives in the bridge (:class:`PressFilter`), not in the pure
``to_events``.

Liveness: heartbeats and presses feed a device registry (kept in the run folder) and the gauges
``cxpulse_kiosk_device_{open,silent,silence_seconds,last_heartbeat_seconds,last_press_seconds}``
(defined in :mod:`connectors.kiosk_heartbeats`), served on ``metrics_port`` and judged against each
location's ``opening_hours`` in its ``timezone`` (format in :mod:`connectors.opening_hours`).
Prometheus' ``KioskSilent`` fires from them.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from pydantic import Field

from connectors.kiosk_heartbeats import DeviceGauges, DeviceRegistry, device_state_path, serving_liveness
from connectors.opening_hours import (
    OpeningHours,
    OpeningHoursText,
    TimeZoneName,
    load_timezone,
    parse_opening_hours,
)
from connectors.sdk.base import Connector, ConnectorConfig, InvalidRecord
from connectors.sdk.fields import JourneyStage
from connectors.sdk.publisher import EventPublisher, PublishSummary
from schemas.event import InvalidEvent, parse_timestamp_ms

log = logging.getLogger(__name__)

BUTTON_CSAT = {1: 1, 2: 2, 3: 4, 4: 5}
"""Smiley button (1 = very unhappy .. 4 = very happy) -> CSAT on the 1..5 scale (METRICS.md)."""

PRESSES_SUPPRESSED = Counter(
    "cxpulse_kiosk_presses_suppressed_total",
    "Kiosk presses not counted: a repeat from the same device within the anti-misuse interval",
    ["location"],
)


class KioskLocation(ConnectorConfig):
    """Where a location's kiosks sit in the journey, its region, hours and time zone (all optional)."""

    touchpoint: str | None = None
    journey_stage: JourneyStage | None = None
    region: str = ""
    opening_hours: OpeningHoursText | None = None  # None: the config's default_opening_hours
    timezone: TimeZoneName | None = None  # None: the config's default_timezone


class KioskConfig(ConnectorConfig):
    """The bridge's broker, topics, anti-misuse interval, per-location mapping and kiosk liveness.

    Liveness: ``silent_after_s`` seconds of opening time without a message make a device silent;
    ``default_opening_hours`` / ``default_timezone`` apply to locations that set none.
    """

    broker_host: str = "127.0.0.1"
    broker_port: int = Field(1883, ge=1, le=65535)
    client_id: str = Field("cxpulse-kiosk-bridge", min_length=1,
                           description="stable, so the broker keeps the QoS 1 session across restarts")
    topic_filter: str = "kiosk/+/+/press"
    heartbeat_topic: str = "kiosk/+/+/heartbeat"
    dedupe_interval_s: float = Field(5.0, ge=0)
    flush_interval_s: float = Field(1.0, gt=0)
    log_interval_s: float = Field(60.0, gt=0)
    default_touchpoint: str = Field("store_entrance", min_length=1)
    default_journey_stage: JourneyStage = "purchase"
    default_opening_hours: OpeningHoursText = "08:00-22:00"
    default_timezone: TimeZoneName = "UTC"
    silent_after_s: float = Field(600.0, gt=0, le=86_400)  # of opening time without any message
    forget_after_s: float = Field(7 * 86_400.0, gt=0)  # a device silent this long is dropped
    state_save_interval_s: float = Field(30.0, gt=0)
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(16067, ge=1, le=65535)  # None: metrics not served
    locations: dict[str, KioskLocation] = Field(default_factory=dict)

    def schedule_of(self, location: str) -> tuple[OpeningHours, ZoneInfo]:
        """The location's opening hours and time zone, or the defaults where it sets none."""
        place = self.locations.get(location)
        hours = (place.opening_hours if place else None) or self.default_opening_hours
        tz = (place.timezone if place else None) or self.default_timezone
        return parse_opening_hours(hours), load_timezone(tz)


def parse_topic(topic: str, kind: str) -> tuple[str, str]:
    """``kiosk/{location}/{device}/{kind}`` -> (location, device); else InvalidRecord."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "kiosk" or parts[3] != kind or not parts[1] or not parts[2]:
        raise InvalidRecord("invalid_topic", f"expected kiosk/{{location}}/{{device}}/{kind}: "
                            f"{topic[:128]!r}")
    return parts[1], parts[2]


def _int_field(payload: dict[str, Any], name: str, reason: str) -> int:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRecord(reason, f"{name} must be an integer, got {str(value)[:32]!r}")
    return value


def parse_press(payload: bytes) -> tuple[int, int, int]:
    """A press payload -> (button, device time in epoch ms, sequence number); else InvalidRecord."""
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord("invalid_json", str(exc)) from None
    if not isinstance(obj, dict):
        raise InvalidRecord("invalid_payload", f"expected a JSON object, got {type(obj).__name__}")
    button = _int_field(obj, "button", "invalid_button")
    if button not in BUTTON_CSAT:
        raise InvalidRecord("invalid_button", f"button {button} is not one of 1..4")
    if obj.get("ts") is None:
        raise InvalidRecord("invalid_timestamp", "ts (device time) is required")
    try:
        ts_ms = parse_timestamp_ms(obj["ts"], "ts")
    except InvalidEvent as exc:
        raise InvalidRecord("invalid_timestamp", exc.detail) from None
    seq = _int_field(obj, "seq", "invalid_seq")
    if seq < 0:
        raise InvalidRecord("invalid_seq", f"seq must not be negative, got {seq}")
    return button, ts_ms, seq


def press_event_id(location: str, device: str, seq: int) -> str:
    """Deterministic id of a press. ``/`` cannot occur inside an MQTT topic level, so ids never collide."""
    return f"kiosk/{location}/{device}/{seq}"


class KioskMqttConnector(Connector[KioskConfig]):
    """Smiley-terminal presses (MQTT topic, payload) -> anonymous kiosk CSAT responses."""

    name = "kiosk-mqtt"
    Config = KioskConfig

    def to_events(self, raw: Any) -> list[dict[str, Any]]:
        """``(topic, payload bytes)`` of one press -> one canonical event (JSON form). Pure.

        Raises InvalidRecord with reason ``invalid_record``, ``invalid_topic``, ``invalid_json``,
        ``invalid_payload``, ``invalid_button``, ``invalid_timestamp`` or ``invalid_seq``.
        """
        if (not isinstance(raw, tuple) or len(raw) != 2 or not isinstance(raw[0], str)
                or not isinstance(raw[1], bytes | bytearray)):
            raise InvalidRecord("invalid_record", "expected (topic: str, payload: bytes)")
        location, device = parse_topic(raw[0], "press")
        button, ts_ms, seq = parse_press(bytes(raw[1]))
        place = self.config.locations.get(location, KioskLocation())
        return [{
            "event_id": press_event_id(location, device, seq),
            "occurred_at": ts_ms,
            "channel": "kiosk",
            "source": self.name,
            "kind": "response",
            "touchpoint": place.touchpoint or self.config.default_touchpoint,
            "journey_stage": place.journey_stage or self.config.default_journey_stage,
            "customer_id": None,
            "location_id": location,
            "region": place.region,
            "csat": BUTTON_CSAT[button],
            "attributes": {"device_id": device, "button": str(button), "seq": str(seq)},
        }]


def counts_as_new_press(last: tuple[int, int] | None, ts_ms: int, seq: int, interval_ms: int) -> bool:
    """Anti-misuse rule: whether a press at device time ``ts_ms`` counts, given the last counted one.

    ``last`` is (device time, seq) of the last counted press (None: none yet). A press counts when it
    is at least ``interval_ms`` away from it, in either direction (buffered presses may arrive out of
    order). A redelivery of the counted press itself (same seq and time, MQTT QoS 1) passes: it has the
    same event id, so the worker drops the copy.
    """
    if last is None or last == (ts_ms, seq):
        return True
    return abs(ts_ms - last[0]) >= interval_ms


@dataclass
class PressFilter:
    """Per-device state of the anti-misuse rule (in memory: a restarted bridge starts afresh)."""

    interval_ms: int
    last: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)

    def admit(self, location: str, device: str, ts_ms: int, seq: int) -> bool:
        """Whether this press counts; remembers it if so."""
        key = (location, device)
        if not counts_as_new_press(self.last.get(key), ts_ms, seq, self.interval_ms):
            return False
        previous = self.last.get(key)
        if previous is None or ts_ms >= previous[0]:
            self.last[key] = (ts_ms, seq)
        return True


@dataclass
class BridgeStats:
    """What the bridge did with every message (beyond the publisher's accepted/rejected)."""

    suppressed: int = 0
    heartbeats: int = 0


class KioskBridge:
    """Message handling of the bridge, without the MQTT client (so it is testable on its own).

    Suppressed repeat presses are *not* dead-lettered: they are well-formed presses a person really
    made, just not counted (anti-misuse), so they only increment ``cxpulse_kiosk_presses_suppressed_total``.
    """

    def __init__(self, config: KioskConfig, publisher: EventPublisher,
                 devices: DeviceRegistry | None = None, clock: Callable[[], float] = time.time) -> None:
        self.connector = KioskMqttConnector(config)
        self.publisher = publisher
        self.filter = PressFilter(int(config.dedupe_interval_s * 1000))
        self.stats = BridgeStats()
        self.clock = clock
        """Wall clock, Unix seconds: the receive time of heartbeats and presses."""
        self.devices = devices if devices is not None else DeviceRegistry()
        self.gauges = DeviceGauges(self.devices, config.schedule_of, config.silent_after_s, clock)
        """The ``cxpulse_kiosk_device_*`` gauges; whoever serves metrics registers it."""

    def handle(self, topic: str, payload: bytes) -> None:
        """One MQTT message: a heartbeat, or a press to publish, suppress or dead-letter."""
        if topic.endswith("/heartbeat"):
            self._heartbeat(topic)
            return
        try:  # any press, even a malformed one, shows the device is alive
            self.devices.press(*parse_topic(topic, "press"), self.clock())
        except InvalidRecord:
            pass  # to_events rejects the topic again below, and that dead-letters it
        try:
            [event] = self.connector.to_events((topic, payload))
        except InvalidRecord as exc:
            self.publisher.dead_letter(_raw_record(topic, payload), exc.reason, exc.detail)
            return
        location, device = event["location_id"], event["attributes"]["device_id"]
        seq = int(event["attributes"]["seq"])
        if not self.filter.admit(location, device, event["occurred_at"], seq):
            self.stats.suppressed += 1
            PRESSES_SUPPRESSED.labels(location).inc()
            return
        self.publisher.publish_object(event, _raw_record(topic, payload))

    def _heartbeat(self, topic: str) -> None:
        try:
            location, device = parse_topic(topic, "heartbeat")
        except InvalidRecord:
            log.warning("ignoring heartbeat on unexpected topic %r", topic[:128])
            return
        self.stats.heartbeats += 1
        self.devices.heartbeat(location, device, self.clock())

    def summary_line(self) -> str:
        """Progress line: the publisher's summary plus suppressed presses and heartbeats."""
        return (f"kiosk-mqtt: {self.publisher.summary.line()}, suppressed {self.stats.suppressed}, "
                f"heartbeats {self.stats.heartbeats}")


def _raw_record(topic: str, payload: bytes) -> bytes:
    """What a dead-letter keeps: the topic (where the device and location are) and the payload."""
    return orjson.dumps({"topic": topic, "payload": payload.decode("utf-8", "replace")})


Message = tuple[str, bytes, int, int]
"""(topic, payload, mid, qos) of one received MQTT message, acknowledged after Kafka acknowledged."""


def _mqtt_client(config: KioskConfig, inbox: queue.Queue[Message]) -> Any:
    """A paho client with a persistent session that queues messages and acknowledges them manually."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=config.client_id,
                         clean_session=False, manual_ack=True)

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.error("MQTT connect refused: %s", reason)
            return
        client.subscribe([(config.topic_filter, 1), (config.heartbeat_topic, 1)])
        log.info("subscribed to %s and %s", config.topic_filter, config.heartbeat_topic)

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        inbox.put((msg.topic, bytes(msg.payload), msg.mid, msg.qos))

    client.on_connect = on_connect
    client.on_message = on_message
    client.reconnect_delay_set(1, 30)
    return client


def run_bridge(config: KioskConfig, publisher: EventPublisher, stop: threading.Event | None = None,
               progress: Callable[[str], None] = log.info, *, state_path: Path | None = None,
               registry: CollectorRegistry = REGISTRY) -> PublishSummary:
    """Subscribe (QoS 1) and publish every counted press until ``stop`` is set; return the summary.

    ``progress`` gets a summary line every ``log_interval_s`` and a final one at the stop.

    A message is acknowledged to the broker only after Kafka acknowledged what it became, so a crash
    loses nothing: the broker redelivers, and the deterministic event id makes the copy a duplicate.

    The device registry is loaded from ``state_path`` (None: kept in memory only) at the start and
    saved every ``state_save_interval_s`` and at the stop; its gauges join ``registry``, which is
    served on ``metrics_port`` unless that is None.
    """
    stop = stop or threading.Event()
    inbox: queue.Queue[Message] = queue.Queue()
    devices = DeviceRegistry(state_path, config.forget_after_s)
    if known := devices.load():
        log.info("kiosk device registry: %d device(s) from %s", known, state_path)
    bridge = KioskBridge(config, publisher, devices)
    client = _mqtt_client(config, inbox)
    with serving_liveness(bridge.gauges, registry, config.metrics_host, config.metrics_port):
        client.connect_async(config.broker_host, config.broker_port, keepalive=30)
        client.loop_start()
        try:
            _pump(bridge, client, inbox, stop, config, progress)
        finally:
            client.disconnect()
            client.loop_stop()
    progress(f"{bridge.summary_line()} (stopped)")
    return publisher.summary


def _pump(bridge: KioskBridge, client: Any, inbox: queue.Queue[Message], stop: threading.Event,
          config: KioskConfig, progress: Callable[[str], None]) -> None:
    """Handle messages; flush and acknowledge when idle or every ``flush_interval_s``."""
    pending: list[tuple[int, int]] = []
    last_flush = last_log = last_save = time.monotonic()
    while not stop.is_set():
        try:
            topic, payload, mid, qos = inbox.get(timeout=0.1)
            bridge.handle(topic, payload)
            pending.append((mid, qos))
        except queue.Empty:
            pass
        now = time.monotonic()
        if pending and (inbox.empty() or now - last_flush >= config.flush_interval_s):
            _flush_and_ack(bridge, client, pending)
            last_flush = now
        if now - last_log >= config.log_interval_s:
            progress(bridge.summary_line())
            last_log = now
        if now - last_save >= config.state_save_interval_s:
            bridge.devices.checkpoint(bridge.clock())
            last_save = now
    _flush_and_ack(bridge, client, pending)


def _flush_and_ack(bridge: KioskBridge, client: Any, pending: list[tuple[int, int]]) -> None:
    """Wait for Kafka's acknowledgement, then acknowledge the MQTT messages (raises if Kafka failed)."""
    bridge.publisher.flush()
    for mid, qos in pending:
        if qos > 0:
            client.ack(mid, qos)
    pending.clear()


def run_from_settings(settings: Any, config: KioskConfig | None = None,
                      state_dir: Path | None = None, privacy_key: Any = None) -> PublishSummary:
    """``cxpulse connector run kiosk-mqtt``: the bridge against the configured stack, until SIGTERM/Ctrl-C.

    Without a config, the broker is the local stack's Mosquitto (``settings.mqtt_port``). The device
    registry is kept in ``state_dir`` (the run folder; None: in memory only). Presses carry no
    customer id; ``privacy_key`` pseudonymises any id a dead-lettered payload may hold.
    """
    from schemas.codec import AvroCodec
    from schemas.topics import Topics

    config = config or KioskConfig(broker_port=settings.mqtt_port)
    topics = Topics(settings.topic_prefix)
    codec = AvroCodec(registry_url=settings.schema_registry_url,
                      subject=f"{topics.touchpoints}-value")
    publisher = EventPublisher(settings.bootstrap, topics, codec, KioskMqttConnector.name,
                               privacy_key=privacy_key)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    state_path = device_state_path(state_dir, config.client_id) if state_dir is not None else None
    return run_bridge(config, publisher, stop, progress=lambda line: print(line, flush=True),
                      state_path=state_path)
