"""Kiosk smiley terminals over MQTT: the message format, the config and the ``kiosk-mqtt`` connector.

A terminal publishes one message per button press on ``kiosk/{location}/{device}/press`` with the
JSON payload ``{"button": 1-4, "ts": <device time, ISO-8601 or epoch ms>, "seq": <device sequence>}``
and a heartbeat on ``kiosk/{location}/{device}/heartbeat``. Buttons map to CSAT per METRICS.md
(very unhappy, unhappy, happy, very happy -> 1, 2, 4, 5).

Time: ``occurred_at`` is the device's own timestamp, so presses a terminal buffered while offline and
delivers hours later count in the minute they happened; ``received_at`` is stamped by the publisher
when the bridge hands the event over. Presses older than the 7-day window are rejected by event
validation and dead-lettered.

The bridge process (MQTT client, anti-misuse filter, acknowledgements) is :mod:`connectors.kiosk.bridge`.
Liveness: heartbeats and presses feed a device registry (kept in the run folder) and the gauges
``cxpulse_kiosk_device_{open,silent,silence_seconds,last_heartbeat_seconds,last_press_seconds}``
(defined in :mod:`connectors.kiosk.liveness`), served on ``metrics_port`` and judged against each
location's ``opening_hours`` in its ``timezone`` (format in :mod:`connectors.kiosk.opening_hours`).
Prometheus' ``KioskSilent`` fires from them.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import orjson
from pydantic import Field

from connectors.kiosk.opening_hours import (
    OpeningHours,
    OpeningHoursText,
    TimeZoneName,
    load_timezone,
    parse_opening_hours,
)
from connectors.sdk.base import Connector, ConnectorConfig, InvalidRecord
from connectors.sdk.fields import SMILEY_CSAT, JourneyStage
from schemas.event import InvalidEvent, parse_timestamp_ms


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
    if button not in SMILEY_CSAT:
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
    kind = "bridge"
    runner = "connectors.kiosk.bridge:run"

    def raw_bytes(self, raw: Any) -> bytes:
        """A dead-lettered press keeps its topic (device and location are there) and payload."""
        if isinstance(raw, tuple) and len(raw) == 2 and isinstance(raw[1], bytes | bytearray):
            return raw_record(str(raw[0]), bytes(raw[1]))
        return super().raw_bytes(raw)

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
            "csat": SMILEY_CSAT[button],
            "attributes": {"device_id": device, "button": str(button), "seq": str(seq)},
        }]


def raw_record(topic: str, payload: bytes) -> bytes:
    """What a dead-letter keeps: the topic (where the device and location are) and the payload."""
    return orjson.dumps({"topic": topic, "payload": payload.decode("utf-8", "replace")})
