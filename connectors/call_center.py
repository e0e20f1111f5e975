"""Call center: Amazon Connect contact trace records and post-call IVR survey CSV exports.

``call-center-ctr`` maps one Amazon Connect contact trace record (CTR, the documented JSON format:
``ContactId``, ``InitiationTimestamp``, ``LastUpdateTimestamp``, ``Channel``, ``Queue``, ``Agent``,
``CustomerEndpoint``, ``Attributes``, ...) to one ``contact`` event at ``InitiationTimestamp``.

Delivery and versions: Amazon Connect delivers CTRs at least once and re-sends a CTR when it is
updated (after-contact work sets the resolution, contact attributes set later), with a later
``LastUpdateTimestamp``. The event id is ``ctr/{ContactId}`` and the event's ``version`` is that
timestamp in ms: a redelivered CTR is a duplicate, an updated one replaces the earlier version in
every figure, whatever order they arrive in. (The ``updates_are_new_events`` switch is retired.)

Transfers and callbacks: a leg created by ``InitiationMethod`` TRANSFER, QUEUE_TRANSFER or CALLBACK
continues the contact it came from (``InitialContactId``, else ``PreviousContactId``): its event carries
``attributes.continues_contact`` = that contact's event id, so it is no new contact; FCR folds the
legs into one contact, occurred at the first leg, resolved (or not) and handled by the last leg's
agent. Every leg keeps its queue (``attributes.queue``) and the contact it followed
(``attributes.previous_contact_id``), so the queue path can be read back.

Abandoned contacts (queued, never connected to an agent: a ``Queue``, but no
``Agent.ConnectedToAgentTimestamp`` and no agent username; a bot-only contact has no queue) are
marked ``attributes.abandoned`` and count as unresolved, whatever the resolution attribute says
(``abandoned: unresolved``, the default), or are kept as contacts that FCR does not judge
(``abandoned: not_judged``: no contact reason).

``call-center-ivr-survey`` maps one row of a post-call IVR survey CSV export (column names
configurable) to one ``response`` event; score scales are checked by event validation
(``score_out_of_range`` on the dead-letter topic), never clipped.

Both are file connectors: ``cxpulse connector ingest NAME FILE`` (the SDK's ``ingest_file``) feeds a
whole file (CTR JSON / JSON array / JSON lines / Firehose-concatenated JSON, or a CSV in UTF-8 with
or without BOM) through the SDK runtime; one bad record never stops the rest. ``to_events`` passes
customer ids through as found (phone numbers included); pseudonymisation is the SDK's (the
publisher's key).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any, ClassVar, Literal

import orjson
from pydantic import Field

from connectors.sdk.base import ConnectorConfig, InvalidRecord
from connectors.sdk.cells import cell_score, cell_text
from connectors.sdk.fields import Channel, JourneyStage
from connectors.sdk.files import FileConnector, FileFormat
from schemas.event import CONTINUES_CONTACT, InvalidEvent, parse_timestamp_ms

TRUE_VALUES = frozenset(["true", "yes", "y", "1"])
FALSE_VALUES = frozenset(["false", "no", "n", "0"])
MAX_CONTACT_ID = 200
"""Longer ids are rejected, so event ids stay under the schema's 256 characters."""


def normalise_touchpoint(name: str) -> str:
    """``"IVR Billing"`` / ``"Hỗ trợ-Thanh toán"`` -> ``ivr_billing`` / ``ho_tro_thanh_toan`` (ASCII)."""
    folded = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
    ascii_only = folded.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_only.lower()).strip("_")


def parse_flag(value: object, what: str) -> bool | None:
    """true/false/yes/no/1/0 (any case, or a JSON bool) -> bool; absent or empty -> None."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if not text:
        return None
    if text in TRUE_VALUES:
        return True
    if text in FALSE_VALUES:
        return False
    raise InvalidRecord(f"invalid_{what}", f"{what} must be true/false/yes/no/1/0, got {text[:32]!r}")


def _timestamp(value: object, name: str, missing: str) -> int:
    """A required timestamp (ISO-8601 with offset or epoch ms) -> epoch ms UTC; else InvalidRecord."""
    if value is None or value == "":
        raise InvalidRecord(missing, f"{name} is required")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    try:
        return parse_timestamp_ms(value, name)
    except InvalidEvent as exc:
        raise InvalidRecord("invalid_timestamp", exc.detail) from None


class CtrConfig(ConnectorConfig):
    """Which CTR contact attributes carry the customer, reason, resolution and complaint."""

    customer_id_attribute: str = "CustomerId"
    customer_id_from_endpoint: bool = Field(
        True, description="fall back on CustomerEndpoint.Address (the caller's number)")
    contact_reason_attribute: str = "ContactReason"
    resolved_attribute: str = "Resolved"
    complaint_attribute: str | None = "Complaint"
    channels: dict[str, Channel] = Field(
        default_factory=lambda: {"VOICE": "call_center", "CHAT": "chat", "TASK": "other",
                                 "EMAIL": "email"})
    default_touchpoint: str = Field("ivr", min_length=1, description="when the CTR has no queue")
    journey_stage: JourneyStage = "support"
    abandoned: Literal["unresolved", "not_judged"] = Field(
        "unresolved", description="a contact never connected to an agent: an unresolved contact, or "
        "a contact FCR does not judge")


def _object(ctr: dict[str, Any], name: str) -> dict[str, Any]:
    """A nested CTR object (``Queue``, ``Agent``...): {} when null, InvalidRecord when not an object."""
    value = ctr.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRecord("invalid_ctr", f"{name} must be an object or null")
    return value


def _contact_id(ctr: dict[str, Any]) -> str:
    contact_id = ctr.get("ContactId")
    if contact_id is None or contact_id == "":
        raise InvalidRecord("missing_contact_id", "ContactId is required")
    if not isinstance(contact_id, str) or len(contact_id) > MAX_CONTACT_ID:
        raise InvalidRecord("invalid_ctr", f"ContactId must be a string of <= {MAX_CONTACT_ID} chars")
    return contact_id


class AmazonConnectCtrConnector(FileConnector[CtrConfig]):
    """Amazon Connect contact trace records -> ``contact`` events (see the module docstring)."""

    name = "call-center-ctr"
    Config = CtrConfig
    file_format: ClassVar[FileFormat] = "json"

    def raw_id_fields(self) -> frozenset[str]:
        """Also ``CustomerEndpoint.Address``: the caller's number or address (a SIP URI too)."""
        return super().raw_id_fields() | {"Address"}

    def to_events(self, raw: Any) -> list[dict[str, Any]]:
        """One CTR (a parsed JSON object) -> one contact event. Pure.

        Raises InvalidRecord: ``invalid_ctr`` (not an object, bad nested objects, unknown channel),
        ``missing_contact_id``, ``missing_initiation_timestamp``, ``missing_last_update_timestamp``,
        ``invalid_timestamp``, ``invalid_resolved``, ``invalid_complaint``.
        """
        if not isinstance(raw, dict):
            raise InvalidRecord("invalid_ctr", f"expected a JSON object, got {type(raw).__name__}")
        cfg = self.config
        contact_id = _contact_id(raw)
        started = _timestamp(raw.get("InitiationTimestamp"), "InitiationTimestamp",
                             "missing_initiation_timestamp")
        updated = _timestamp(raw.get("LastUpdateTimestamp"), "LastUpdateTimestamp",
                             "missing_last_update_timestamp")
        attrs = _object(raw, "Attributes")
        queue = cell_text(_object(raw, "Queue").get("Name"))
        channel = cfg.channels.get(str(raw.get("Channel") or "VOICE"))
        if channel is None:
            raise InvalidRecord("invalid_ctr", f"Channel {str(raw.get('Channel'))[:32]!r} is not mapped")
        complaint = attrs.get(cfg.complaint_attribute) if cfg.complaint_attribute else None
        agent = _object(raw, "Agent")
        reason = cell_text(attrs.get(cfg.contact_reason_attribute))
        resolved = parse_flag(attrs.get(cfg.resolved_attribute), "resolved")
        queued = bool(_object(raw, "Queue"))
        abandoned = queued and not agent.get("ConnectedToAgentTimestamp") and not cell_text(
            agent.get("Username"))
        if abandoned:
            resolved, reason = (False, reason) if cfg.abandoned == "unresolved" else (resolved, None)
        return [{
            "event_id": f"ctr/{contact_id}",
            "version": updated,
            "occurred_at": started,
            "channel": channel,
            "source": self.name,
            "kind": "contact",
            "touchpoint": normalise_touchpoint(queue or "") or cfg.default_touchpoint,
            "journey_stage": cfg.journey_stage,
            "customer_id": self._customer(raw, attrs),
            "interaction_id": _initial_contact(raw) or contact_id,
            "contact_reason": reason,
            "resolved": resolved,
            "complaint": parse_flag(complaint, "complaint"),
            "agent_id": cell_text(agent.get("Username")) or "",
            "attributes": _ctr_attributes(raw, queue, abandoned),
        }]

    def _customer(self, ctr: dict[str, Any], attrs: dict[str, Any]) -> str | None:
        """The configured attribute, else (if allowed) the caller's endpoint address."""
        found = cell_text(attrs.get(self.config.customer_id_attribute))
        if found is None and self.config.customer_id_from_endpoint:
            found = cell_text(_object(ctr, "CustomerEndpoint").get("Address"))
        return found


CONTINUING_METHODS = frozenset(["TRANSFER", "QUEUE_TRANSFER", "CALLBACK"])
"""Initiation methods of a leg that continues an earlier contact rather than starting one."""


def _initial_contact(ctr: dict[str, Any]) -> str | None:
    """The contact a continuing leg belongs to (``InitialContactId``, else the previous one)."""
    if str(ctr.get("InitiationMethod") or "").upper() not in CONTINUING_METHODS:
        return None
    found = cell_text(ctr.get("InitialContactId")) or cell_text(ctr.get("PreviousContactId"))
    return None if found == cell_text(ctr.get("ContactId")) else found


def _ctr_attributes(ctr: dict[str, Any], queue: str | None, abandoned: bool) -> dict[str, str]:
    """Queue, initiation method, disconnect reason, the previous leg, the contact continued."""
    initial = _initial_contact(ctr)
    pairs = {"queue": queue, "initiation_method": cell_text(ctr.get("InitiationMethod")),
             "disconnect_reason": cell_text(ctr.get("DisconnectReason")),
             "previous_contact_id": cell_text(ctr.get("PreviousContactId")),
             CONTINUES_CONTACT: f"ctr/{initial}" if initial else None,
             "abandoned": "true" if abandoned else None}
    return {k: v for k, v in pairs.items() if v}


class IvrSurveyConfig(ConnectorConfig):
    """Column names of the IVR survey export (None: the export has no such column)."""

    contact_id_column: str | None = "ContactId"
    timestamp_column: str = "Timestamp"
    customer_id_column: str | None = "CustomerId"
    csat_column: str | None = "CSAT"
    nps_column: str | None = "NPS"
    ces_column: str | None = "CES"
    comment_column: str | None = "Comment"
    language_column: str | None = "Language"
    agent_column: str | None = "Agent"
    touchpoint: str = Field("post_call_survey", min_length=1)
    journey_stage: JourneyStage = "support"


def row_hash(row: dict[str, Any]) -> str:
    """SHA-256 of a row's content (sorted columns): the id of a survey row without a contact id."""
    return hashlib.sha256(orjson.dumps(row, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


class IvrSurveyCsvConnector(FileConnector[IvrSurveyConfig]):
    """Post-call IVR survey CSV rows -> ``response`` events on channel call_center."""

    name = "call-center-ivr-survey"
    Config = IvrSurveyConfig
    file_format: ClassVar[FileFormat] = "csv"

    def to_events(self, raw: Any) -> list[dict[str, Any]]:
        """One CSV row (column -> text) -> one response event. Pure.

        Event id ``ivr/{contact id}`` (one survey per contact), else ``ivr/sha256:{row hash}``.
        Raises InvalidRecord: ``invalid_row`` (not a row, or more cells than the header),
        ``missing_timestamp``, ``invalid_timestamp``, ``invalid_score``, ``empty_response``.
        """
        if not isinstance(raw, dict) or None in raw:
            raise InvalidRecord("invalid_row", "expected a CSV row with no more cells than the header")
        cfg = self.config

        def column(name: str | None) -> str | None:
            return cell_text(raw.get(name)) if name else None

        occurred_at = _timestamp(column(cfg.timestamp_column), cfg.timestamp_column,
                                 "missing_timestamp")
        scores = {k: cell_score(column(getattr(cfg, f"{k}_column")), getattr(cfg, f"{k}_column"))
                  for k in ("csat", "nps", "ces")}
        comment = column(cfg.comment_column)
        if all(v is None for v in scores.values()) and comment is None:
            raise InvalidRecord("empty_response", "no score and no comment")
        contact_id = column(cfg.contact_id_column)
        if contact_id is not None and len(contact_id) > MAX_CONTACT_ID:
            raise InvalidRecord("invalid_row", f"contact id longer than {MAX_CONTACT_ID} characters")

        return [{
            "event_id": f"ivr/{contact_id}" if contact_id else f"ivr/sha256:{row_hash(raw)}",
            "occurred_at": occurred_at, "channel": "call_center", "source": self.name,
            "kind": "response", "touchpoint": cfg.touchpoint, "journey_stage": cfg.journey_stage,
            "customer_id": column(cfg.customer_id_column), "interaction_id": contact_id,
            "agent_id": column(cfg.agent_column) or "", "comment": comment,
            "language": column(cfg.language_column), **scores,
        }]
