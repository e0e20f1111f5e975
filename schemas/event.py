"""The canonical TouchpointEvent v1 and its validation (METRICS.md rules).

An event is a plain ``dict`` with exactly the fields of ``touchpoint_event.v2.avsc``; timestamps are
integer epoch milliseconds, UTC. ``validate_event`` turns the JSON form into that dict or raises
``InvalidEvent`` with a stable, machine-readable reason (the dead-letter reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from operator import itemgetter, sub
from typing import Any

MINUTE_MS = 60_000
DAY_MS = 86_400_000
MAX_LATENESS_MS = 7 * DAY_MS
"""An event may arrive up to 7 days after it occurred (event time vs received_at)."""
MAX_CLOCK_SKEW_MS = 5 * MINUTE_MS
"""An event may claim to occur up to 5 minutes after it was received (source clock skew)."""

CHANNELS = frozenset(
    ["web", "call_center", "retail_partner", "kiosk", "mobile_app", "email", "chat", "social", "other"]
)
KINDS = frozenset(["response", "contact"])
JOURNEY_STAGES = frozenset(
    ["awareness", "consideration", "purchase", "delivery", "usage", "support", "loyalty", "unknown"]
)
SCORE_SCALES: dict[str, tuple[int, int]] = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}
DIMENSIONS = ("channel", "touchpoint", "journey_stage", "partner_id", "location_id", "region")
"""Satisfaction dimensions; ``agent_id`` is a contact-only dimension (FCR)."""

_REQUIRED_STR = ("event_id", "source", "touchpoint")
_OPTIONAL_STR = ("customer_id", "interaction_id", "contact_reason", "comment", "language")
_DEFAULT_EMPTY_STR = ("partner_id", "location_id", "region", "agent_id")
OPTIONAL_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(_OPTIONAL_STR), **dict.fromkeys(_DEFAULT_EMPTY_STR, ""), **dict.fromkeys(SCORE_SCALES),
    "resolved": None, "complaint": False, "attributes": None, "version": 0,
}
"""What each optional field left out of an event means (``attributes``: none, an empty map)."""
FIELDS = frozenset(
    [
        *_REQUIRED_STR,
        *_OPTIONAL_STR,
        *_DEFAULT_EMPTY_STR,
        *SCORE_SCALES,
        "occurred_at",
        "received_at",
        "channel",
        "kind",
        "journey_stage",
        "resolved",
        "complaint",
        "attributes",
        "version",
    ]
)
CONTINUES_CONTACT = "continues_contact"
"""Attribute of a contact event that is a later leg of another contact (a transfer, a callback): that
contact's event id. The leg counts as no contact of its own; FCR folds it into that contact."""
MAX_ID_LENGTH = 256
MAX_VERSION = 2**63 - 1
"""Versions are Avro longs (UInt64 in ClickHouse): non-negative and below 2**63."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STORABLE_FROM_MS = int((datetime(2000, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds() * 1000)
STORABLE_UNTIL_MS = int((datetime(2100, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds() * 1000)
"""Timestamps the store can hold, with room for what is derived from them (FCR decision times,
follow-up due dates): ClickHouse's DateTime ends in 2106. Outside, reason ``timestamp_out_of_range``."""
_ONE_MS = timedelta(milliseconds=1)

TouchpointEvent = dict[str, Any]


class InvalidEvent(ValueError):
    """A record that can never become a valid event. ``reason`` is the dead-letter reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def parse_timestamp_ms(value: object, field: str) -> int:
    """ISO-8601 with an offset or ``Z``, or integer epoch milliseconds -> epoch ms (UTC)."""
    if isinstance(value, bool):
        raise InvalidEvent("invalid_timestamp", f"{field} must be ISO-8601 or epoch ms, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InvalidEvent("invalid_timestamp", f"{field} is not ISO-8601: {value[:64]!r}") from None
        if parsed.tzinfo is None:
            raise InvalidEvent("invalid_timestamp", f"{field} has no UTC offset: {value[:64]!r}")
        return (parsed - _EPOCH) // _ONE_MS
    raise InvalidEvent("invalid_timestamp", f"{field} must be ISO-8601 or epoch ms")


def _unicode(value: str, field: str) -> str:
    """``value`` if it is valid Unicode text (UTF-8 encodable: no lone surrogates), else invalid."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidEvent("invalid_unicode", f"{field} holds a lone surrogate") from None
    return value


def _string(obj: dict[str, Any], field: str, *, required: bool) -> str | None:
    value = obj.get(field)
    if value is None:
        if required:
            raise InvalidEvent("missing_field", f"{field} is required")
        return None
    if not isinstance(value, str):
        raise InvalidEvent("invalid_field", f"{field} must be a string")
    _unicode(value, field)
    if required and not value:
        raise InvalidEvent("missing_field", f"{field} must not be empty")
    return value


def _enum(obj: dict[str, Any], field: str, allowed: frozenset[str], default: str | None) -> str:
    value = obj.get(field, default)
    if value is None:
        raise InvalidEvent("missing_field", f"{field} is required")
    if value not in allowed:
        raise InvalidEvent("invalid_field", f"{field} {str(value)[:32]!r} is not one of {sorted(allowed)}")
    return str(value)


def _optional_bool(obj: dict[str, Any], field: str) -> bool | None:
    value = obj.get(field)
    if value is not None and not isinstance(value, bool):
        raise InvalidEvent("invalid_field", f"{field} must be true, false or null")
    return value


def _score(obj: dict[str, Any], field: str) -> int | None:
    value = obj.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent("invalid_field", f"{field} must be an integer or null")
    low, high = SCORE_SCALES[field]
    if not low <= value <= high:
        raise InvalidEvent("score_out_of_range", f"{field}={value} is outside {low}..{high}")
    return value


def _version(obj: dict[str, Any]) -> int:
    value = obj.get("version")
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_VERSION:
        raise InvalidEvent("invalid_field", "version must be a whole number from 0 to 2**63 - 1")
    return value


def _attributes(obj: dict[str, Any]) -> dict[str, str]:
    value = obj.get("attributes")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidEvent("invalid_field", "attributes must be an object of string values")
    for key, text in value.items():
        _unicode(key, "attributes")
        _unicode(text, f"attributes.{key[:32]}")
    return dict(value)


def _times(obj: dict[str, Any], default_received_at: int | None) -> tuple[int, int]:
    """(occurred_at, received_at) in epoch ms, as given (``received_at`` defaulted)."""
    if obj.get("occurred_at") is None:
        raise InvalidEvent("missing_field", "occurred_at is required")
    occurred_at = parse_timestamp_ms(obj["occurred_at"], "occurred_at")
    if obj.get("received_at") is None:
        if default_received_at is None:
            raise InvalidEvent("missing_field", "received_at is required")
        return occurred_at, default_received_at
    return occurred_at, parse_timestamp_ms(obj["received_at"], "received_at")


def _check_window(occurred_at: int, received_at: int) -> None:
    """Both times storable, and the event inside its accepted window (METRICS.md)."""
    for name, value in (("occurred_at", occurred_at), ("received_at", received_at)):
        if not STORABLE_FROM_MS <= value < STORABLE_UNTIL_MS:
            raise InvalidEvent("timestamp_out_of_range",
                               f"{name} {value} is outside 2000-01-01..2100-01-01 (epoch ms)")
    if not received_at - MAX_LATENESS_MS <= occurred_at <= received_at + MAX_CLOCK_SKEW_MS:
        raise InvalidEvent(
            "occurred_at_out_of_range",
            f"occurred_at {occurred_at} is outside [received_at - 7 days, received_at + 5 min]",
        )


def validate_event(obj: object, *, default_received_at: int | None = None) -> TouchpointEvent:
    """Validate one event in JSON form and return it in canonical form (epoch-ms timestamps).

    ``default_received_at`` (epoch ms) fills a missing ``received_at``, as a connector does at
    ingest; a ``received_at`` present in the record is kept as-is (file replays).
    The accepted window is measured against the event's own ``received_at``.
    """
    if not isinstance(obj, dict):
        raise InvalidEvent("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    unknown = obj.keys() - FIELDS
    if unknown:
        raise InvalidEvent("unknown_field", f"unknown field(s): {sorted(unknown)[:5]}")
    event: TouchpointEvent = {}
    for field in _REQUIRED_STR:
        event[field] = _string(obj, field, required=True)
    if len(event["event_id"]) > MAX_ID_LENGTH:
        raise InvalidEvent("invalid_field", f"event_id is longer than {MAX_ID_LENGTH} characters")
    occurred_at, received_at = _times(obj, default_received_at)
    event["channel"] = _enum(obj, "channel", CHANNELS, None)
    event["kind"] = _enum(obj, "kind", KINDS, None)
    event["journey_stage"] = _enum(obj, "journey_stage", JOURNEY_STAGES, "unknown")
    for field in _OPTIONAL_STR:
        event[field] = _string(obj, field, required=False)
    for field in _DEFAULT_EMPTY_STR:
        event[field] = _string(obj, field, required=False) or ""
    event["resolved"] = _optional_bool(obj, "resolved")
    event["complaint"] = bool(_optional_bool(obj, "complaint"))
    for field in SCORE_SCALES:
        event[field] = _score(obj, field)
    event["attributes"] = _attributes(obj)
    event["version"] = _version(obj)
    _check_window(occurred_at, received_at)
    event["occurred_at"] = occurred_at
    event["received_at"] = received_at
    return event


def validate_decoded(event: TouchpointEvent) -> TouchpointEvent:
    """``validate_event`` for an event the Avro codec decoded: the same rules, checked faster.

    The schema already fixed every field's type (strings are UTF-8 text, enums are their symbols,
    attributes a string map), so only what a type cannot say is checked: required strings not
    empty, the id's length, score scales, the version, and the times (storable, inside the accepted
    window). Same reasons as ``validate_event``; the event is returned as it is.
    """
    for field in _REQUIRED_STR:
        if not event[field]:
            raise InvalidEvent("missing_field", f"{field} must not be empty")
    if len(event["event_id"]) > MAX_ID_LENGTH:
        raise InvalidEvent("invalid_field", f"event_id is longer than {MAX_ID_LENGTH} characters")
    for field, (low, high) in SCORE_SCALES.items():
        value = event[field]
        if value is not None and not low <= value <= high:
            raise InvalidEvent("score_out_of_range", f"{field}={value} is outside {low}..{high}")
    if not 0 <= event["version"] <= MAX_VERSION:
        raise InvalidEvent("invalid_field", "version must be a whole number from 0 to 2**63 - 1")
    _check_window(event["occurred_at"], event["received_at"])
    return event


_CHECKED = itemgetter(*_REQUIRED_STR, *SCORE_SCALES, "version", "occurred_at", "received_at")
"""The fields ``validate_decoded`` checks, in the order ``all_valid_decoded`` unpacks them."""


def all_valid_decoded(events: Sequence[TouchpointEvent]) -> bool:
    """True only if ``validate_decoded`` accepts every one of ``events`` (an envelope's, decoded).

    The same checks, each over a whole field at once (C-level ``all``, ``min``, ``max``): a third of
    the time of ``validate_decoded`` per event. False says only that some event may be invalid: the
    caller then validates each one, for its reason.
    """
    if not events:
        return True
    columns = list(zip(*map(_CHECKED, events), strict=True))
    required = columns[:len(_REQUIRED_STR)]
    scored = columns[len(_REQUIRED_STR):len(_REQUIRED_STR) + len(SCORE_SCALES)]
    versions, occurred, received = columns[-3:]
    ids = required[_REQUIRED_STR.index("event_id")]
    if not all(map(all, required)) or max(map(len, ids)) > MAX_ID_LENGTH:
        return False
    for (low, high), values in zip(SCORE_SCALES.values(), scored, strict=True):
        scores = [v for v in values if v is not None]
        if scores and not (low <= min(scores) and max(scores) <= high):
            return False
    if not (0 <= min(versions) and max(versions) <= MAX_VERSION):
        return False
    for times in (occurred, received):
        if not (STORABLE_FROM_MS <= min(times) and max(times) < STORABLE_UNTIL_MS):
            return False
    early: list[int] = list(map(sub, occurred, received))  # occurred_at - received_at of each event
    return -MAX_LATENESS_MS <= min(early) and max(early) <= MAX_CLOCK_SKEW_MS
