"""The kiosk MQTT bridge process: terminals' messages -> the ``kiosk-mqtt`` connector -> Kafka.

It subscribes to presses and heartbeats (``connectors.kiosk.connector`` has the format and the pure mapping),
runs every press through the SDK runtime (dead letters with reasons, per-connector counters,
retries), and acknowledges an MQTT message only after Kafka acknowledged what became of it, so a
crash loses nothing (the broker redelivers; event ids make redeliveries duplicates).

Anti-misuse (as HappyOrNot does): repeated presses from one device within ``dedupe_interval_s`` count
once. That filter is state, so it lives here (:class:`PressFilter`), not in the pure ``to_events``.
Heartbeats and presses also feed the device registry and liveness gauges of
:mod:`connectors.kiosk.liveness`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter

from connectors.kiosk.connector import KioskConfig, KioskMqttConnector, parse_topic
from connectors.kiosk.liveness import DeviceGauges, DeviceRegistry, device_state_path, serving_liveness
from connectors.sdk.base import InvalidRecord
from connectors.sdk.publisher import BasePublisher, EventPublisher, PublishSummary
from connectors.sdk.runtime import ConnectorRuntime

log = logging.getLogger(__name__)

PRESSES_SUPPRESSED = Counter(
    "cxpulse_kiosk_presses_suppressed_total",
    "Kiosk presses not counted: a repeat from the same device within the anti-misuse interval",
    ["location"],
)


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


class _AdmittedPresses(KioskMqttConnector):
    """The bridge's connector: a press the anti-misuse filter does not admit yields no event.

    The filter is state (the last counted press per device), so it lives here, in the bridge, and
    ``KioskMqttConnector.to_events`` stays pure.
    """

    def __init__(self, config: KioskConfig, admitted: PressFilter, stats: BridgeStats) -> None:
        super().__init__(config)
        self._admitted, self._stats = admitted, stats

    def to_events(self, raw: Any) -> list[dict[str, Any]]:
        """The press's event, or none when it repeats the device's last press too soon."""
        events = super().to_events(raw)
        event = events[0]
        location, device = event["location_id"], event["attributes"]["device_id"]
        if self._admitted.admit(location, device, event["occurred_at"],
                                int(event["attributes"]["seq"])):
            return events
        self._stats.suppressed += 1
        PRESSES_SUPPRESSED.labels(location).inc()
        return []


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

    def __init__(self, config: KioskConfig, publisher: BasePublisher,
                 devices: DeviceRegistry | None = None, clock: Callable[[], float] = time.time) -> None:
        self.publisher = publisher
        self.filter = PressFilter(int(config.dedupe_interval_s * 1000))
        self.stats = BridgeStats()
        self.runtime = ConnectorRuntime(_AdmittedPresses(config, self.filter, self.stats), publisher)
        """The SDK runtime: dead letters with reasons, per-connector counters, retries."""
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
            pass  # to_events rejects the topic again, and the runtime dead-letters it
        self.runtime.process((topic, payload))

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


def run(connector: KioskMqttConnector, publisher: EventPublisher, stop: threading.Event,
        progress: Callable[[str], None], state_dir: Path | None) -> PublishSummary:
    """``cxpulse connector run kiosk-mqtt``: the bridge for ``connector``'s config until ``stop``.

    The device registry is kept in ``state_dir`` (None: in memory only). Presses carry no customer
    id; the publisher's key pseudonymises any id a dead-lettered payload may hold.
    """
    config = connector.config
    state_path = device_state_path(state_dir, config.client_id) if state_dir is not None else None
    return run_bridge(config, publisher, stop, progress, state_path=state_path)
