"""Kiosk liveness: the bridge's device registry, its persistence, and its gauges.

The MQTT bridge (:mod:`connectors.kiosk.bridge`) records, per ``(location, device)``, when it last received
a heartbeat and a press from the device. Times are the **bridge's** clock (Unix seconds), not the
device's: liveness is about what reaches us now, device clocks drift, and a press a terminal buffered
offline and delivers late still proves the terminal is connected at delivery. (Event time of
presses is the worker's business: ``cxpulse_kiosk_last_feedback_age_seconds``.)

Gauges, evaluated at scrape time (labels ``location``, ``device``; only devices the bridge has heard
from, kept across restarts in a JSON file, forgotten after ``forget_after_s`` without a message):

- ``cxpulse_kiosk_device_last_heartbeat_seconds`` — Unix time the last heartbeat was received.
- ``cxpulse_kiosk_device_last_press_seconds`` — Unix time the last press message was received
  (any press, also suppressed or malformed ones: each proves the device is alive).
- ``cxpulse_kiosk_device_silence_seconds`` — seconds since the last message of either kind.
- ``cxpulse_kiosk_device_open`` — 1 while the device's location is inside its opening hours, else 0.
- ``cxpulse_kiosk_device_silent`` — 1 while the location is open and the device has sent nothing for
  more than ``silent_after_s`` seconds *of opening time*: silence before the current opening does
  not count, so a kiosk switched off overnight has ``silent_after_s`` after opening to come up.

Opening hours and time zones are parsed and evaluated in :mod:`connectors.kiosk.opening_hours`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric

from connectors.kiosk.opening_hours import OpeningHours, open_since
from connectors.sdk.atomic import write_atomic

log = logging.getLogger(__name__)


@dataclass
class DeviceSeen:
    """When the bridge last received a heartbeat / a press from one device (Unix s, bridge clock)."""

    last_heartbeat_s: float | None = None
    last_press_s: float | None = None

    @property
    def last_seen_s(self) -> float:
        """The later of the two (a device is only registered once one of them is set)."""
        return max(t for t in (self.last_heartbeat_s, self.last_press_s, 0.0) if t is not None)


STATE_VERSION = 1


def encode_registry(devices: dict[tuple[str, str], DeviceSeen], saved_at_s: float) -> bytes:
    """The registry file's content (JSON, one object per device, sorted for readable diffs)."""
    return orjson.dumps({
        "version": STATE_VERSION, "saved_at": saved_at_s,
        "devices": [{"location": loc, "device": dev, "last_heartbeat": seen.last_heartbeat_s,
                     "last_press": seen.last_press_s}
                    for (loc, dev), seen in sorted(devices.items())],
    }, option=orjson.OPT_INDENT_2)


def _time(entry: dict[str, object], key: str) -> float | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be Unix seconds or null, got {value!r}")
    return float(value)


def decode_registry(data: bytes) -> dict[tuple[str, str], DeviceSeen]:
    """Inverse of :func:`encode_registry`; ValueError if it is not a version-1 registry."""
    obj = orjson.loads(data)
    if not isinstance(obj, dict) or obj.get("version") != STATE_VERSION \
            or not isinstance(obj.get("devices"), list):
        raise ValueError(f"not a version-{STATE_VERSION} kiosk device registry")
    devices = {}
    for entry in obj["devices"]:
        if not isinstance(entry, dict) or not all(
                isinstance(entry.get(k), str) and entry[k] for k in ("location", "device")):
            raise ValueError(f"bad device entry {str(entry)[:80]!r}")
        seen = DeviceSeen(_time(entry, "last_heartbeat"), _time(entry, "last_press"))
        if seen.last_heartbeat_s is None and seen.last_press_s is None:
            continue
        devices[(entry["location"], entry["device"])] = seen
    return devices


class DeviceRegistry:
    """``(location, device)`` -> :class:`DeviceSeen`, optionally persisted in a JSON file.

    Thread-safe: the bridge's message loop writes while the metrics server's thread reads.
    ``load`` at start and ``save`` periodically and at stop, so a device that went silent while the
    bridge was down is still known, and still silent, after the restart. A device with no message
    for ``forget_after_s`` is dropped (a retired kiosk stops alerting after that).
    """

    def __init__(self, path: Path | None = None, forget_after_s: float = 7 * 86_400) -> None:
        self.path = path
        self.forget_after_s = forget_after_s
        self._devices: dict[tuple[str, str], DeviceSeen] = {}
        self._lock = threading.Lock()
        self._dirty = False

    def heartbeat(self, location: str, device: str, at_s: float) -> None:
        """A heartbeat from the device was received at ``at_s`` (Unix s)."""
        with self._lock:
            seen = self._devices.setdefault((location, device), DeviceSeen())
            seen.last_heartbeat_s = max(at_s, seen.last_heartbeat_s or at_s)
            self._dirty = True

    def press(self, location: str, device: str, at_s: float) -> None:
        """A press message from the device was received at ``at_s`` (Unix s)."""
        with self._lock:
            seen = self._devices.setdefault((location, device), DeviceSeen())
            seen.last_press_s = max(at_s, seen.last_press_s or at_s)
            self._dirty = True

    def snapshot(self, now_s: float) -> dict[tuple[str, str], DeviceSeen]:
        """A copy of the devices heard from within ``forget_after_s``; older ones are forgotten."""
        with self._lock:
            return self._prune_and_copy(now_s)

    def _prune_and_copy(self, now_s: float) -> dict[tuple[str, str], DeviceSeen]:
        stale = [k for k, v in self._devices.items() if now_s - v.last_seen_s > self.forget_after_s]
        for key in stale:
            del self._devices[key]
        self._dirty = self._dirty or bool(stale)
        return {k: DeviceSeen(v.last_heartbeat_s, v.last_press_s) for k, v in self._devices.items()}

    def load(self) -> int:
        """Read the file, if any; returns how many devices it held.

        A file that is not a registry is moved aside (``*.corrupt``) with an error in the log, and
        the bridge starts empty: losing liveness history must not stop kiosk feedback. An unreadable
        file (permissions) raises OSError: a broken run folder is fatal at start-up.
        """
        if self.path is None or not self.path.exists():
            return 0
        data = self.path.read_bytes()
        try:
            devices = decode_registry(data)
        except ValueError as exc:
            aside = self.path.with_name(self.path.name + ".corrupt")
            log.error("kiosk device registry %s unreadable (%s): moved to %s, starting empty",
                      self.path, exc, aside)
            os.replace(self.path, aside)
            return 0
        with self._lock:
            self._devices.update(devices)
        return len(devices)

    def save(self, now_s: float) -> bool:
        """Write the file atomically if anything changed since the last save; whether it wrote."""
        if self.path is None:
            return False
        with self._lock:  # copy and clear together: a message arriving meanwhile marks it dirty again
            devices = self._prune_and_copy(now_s)
            if not self._dirty:
                return False
            self._dirty = False
        try:
            write_atomic(self.path, encode_registry(devices, now_s))
        except OSError:
            with self._lock:
                self._dirty = True  # try again next time
            raise
        return True

    def checkpoint(self, now_s: float) -> None:
        """:meth:`save`, logging a failure (disk full) instead of raising: retried at the next one."""
        try:
            self.save(now_s)
        except OSError as exc:
            log.warning("could not save the kiosk device registry %s: %s", self.path, exc)


_GAUGES = {
    "last_heartbeat_seconds": "Unix time the bridge last received a heartbeat",
    "last_press_seconds": "Unix time the bridge last received a press message",
    "silence_seconds": "Seconds since the bridge last received any message",
    "open": "1 while the device's location is inside its opening hours",
    "silent": "1 while open and no message for longer than silent_after_s of opening time",
}

Schedule = Callable[[str], tuple[OpeningHours, tzinfo]]
"""location -> its opening hours and time zone."""


class DeviceGauges:
    """prometheus_client collector of the ``cxpulse_kiosk_device_*`` gauges (module docstring).

    Computed at each scrape from the registry, the schedule and ``clock`` (Unix s), so ``open`` and
    ``silent`` change at the right time even when no message arrives.
    """

    def __init__(self, devices: DeviceRegistry, schedule: Schedule, silent_after_s: float,
                 clock: Callable[[], float]) -> None:
        self.devices = devices
        self.schedule = schedule
        self.silent_after_s = silent_after_s
        self.clock = clock

    @staticmethod
    def _families() -> dict[str, GaugeMetricFamily]:
        return {name: GaugeMetricFamily(f"cxpulse_kiosk_device_{name}", doc, labels=["location", "device"])
                for name, doc in _GAUGES.items()}

    def describe(self) -> Iterable[Metric]:
        """The gauges' names, so a registry refuses a second copy of this collector."""
        return list(self._families().values())

    def collect(self) -> Iterable[Metric]:
        """The gauges now."""
        now_s = self.clock()
        now = datetime.fromtimestamp(now_s, UTC)
        families = self._families()
        opened: dict[str, datetime | None] = {}
        for (location, device), seen in sorted(self.devices.snapshot(now_s).items()):
            if location not in opened:
                opened[location] = open_since(*self.schedule(location), now)
            since = opened[location]
            labels = [location, device]
            if seen.last_heartbeat_s is not None:
                families["last_heartbeat_seconds"].add_metric(labels, seen.last_heartbeat_s)
            if seen.last_press_s is not None:
                families["last_press_seconds"].add_metric(labels, seen.last_press_s)
            families["silence_seconds"].add_metric(labels, max(0.0, now_s - seen.last_seen_s))
            families["open"].add_metric(labels, 0.0 if since is None else 1.0)
            silent = since is not None and \
                now_s - max(seen.last_seen_s, since.timestamp()) > self.silent_after_s
            families["silent"].add_metric(labels, 1.0 if silent else 0.0)
        return list(families.values())


@contextmanager
def serving_liveness(gauges: DeviceGauges, registry: CollectorRegistry, host: str,
                     port: int | None) -> Iterator[None]:
    """While inside: ``gauges`` in ``registry``, served over HTTP on ``host:port`` (None: not served).

    On the way out the registry is saved, the gauges leave ``registry`` and the server stops.
    """
    registry.register(gauges)
    server = None
    try:
        if port is not None:
            server, _ = start_http_server(port, host, registry)
        yield
    finally:
        gauges.devices.checkpoint(gauges.clock())
        registry.unregister(gauges)
        if server is not None:
            server.shutdown()
            server.server_close()


def device_state_path(folder: Path, client_id: str) -> Path:
    """Where a bridge keeps its device registry: one file per MQTT client id, so bridges never share."""
    return folder / f"kiosk-devices-{re.sub(r'[^A-Za-z0-9._-]', '_', client_id)}.json"
