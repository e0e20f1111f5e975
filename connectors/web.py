"""Web channel: what the ingest service receives, mapped to canonical events.

Two connectors, both fed by the ingest service (``cxpulse ingest``) one item at a time. Each raw record
is a *submission*: the item as posted plus what the service knows about it::

    {"source": "<the API key's source>", "received_at": <ms>, "key": {"channel": ..., "partner_id": ...},
     "item": <the posted object>}

- ``web-survey``: the widget's compact payload (``POST /v1/surveys/web``), e.g.
  ``{"id": "<uuid>", "touchpoint": "checkout", "scale": "smiley", "score": 3, "comment": "..."}``.
  Scales: ``smiley`` (4 faces -> CSAT 1, 2, 4, 5, as kiosks per METRICS.md), ``csat`` (1-5),
  ``nps`` (0-10), ``ces`` (1-7). A browser's clock is not trusted: ``occurred_at`` is the time the
  service received the answer.
- ``ingest-api``: canonical events in JSON form (``POST /v1/events``), from back ends and partners.

Event ids are namespaced by route and by the key's source (``api/<source>/<id>``,
``widget/<source>/<id>``), so no source — nor a public widget key — can collide with, or suppress as
duplicates, the events of another source, of another route, or of another connector (whose ids start
``kiosk/``, ``ctr/``, ``ivr/``, ``rp/``). A key bound to a partner can only submit that partner's
events; a key bound to a channel only events of that channel.
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.sdk.base import Connector, ConnectorConfig, InvalidRecord
from connectors.sdk.fields import SMILEY_CSAT, JourneyStage

SCALES: dict[str, tuple[str, int, int]] = {
    "smiley": ("csat", 1, 4),
    "csat": ("csat", 1, 5),
    "nps": ("nps", 0, 10),
    "ces": ("ces", 1, 7),
}
"""Widget scale -> (canonical score field, lowest, highest)."""
_ID_RE = re.compile(r"^[A-Za-z0-9_\-.:]{8,128}$")


class WebSurveyAnswer(BaseModel):
    """The widget's compact payload, strictly typed, unknown fields rejected.

    A typo must not lose data silently, and a score sent as text is a bug in the page, not a number
    to guess.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str = Field(description="client-generated id of this answer (a UUID); retries reuse it")
    touchpoint: str = Field(min_length=1, max_length=64)
    scale: Literal["smiley", "csat", "nps", "ces"]
    score: int
    comment: str | None = Field(None, max_length=2000)
    customer: str | None = Field(None, max_length=256,
                                 description="the site's customer id; pseudonymised at the edge")
    lang: str | None = Field(None, max_length=35)
    page: str | None = Field(None, max_length=2000, description="page path; the query is dropped")
    order: str | None = Field(None, max_length=128, description="order or session id")


def _submission(raw: Any) -> tuple[str, int, dict[str, Any], Any]:
    """(source, received_at, key binding, item) of one submission, or InvalidRecord."""
    if not isinstance(raw, dict) or not isinstance(raw.get("source"), str):
        raise InvalidRecord("invalid_submission", "expected the ingest service's submission envelope")
    received = raw.get("received_at")
    if not isinstance(received, int):
        raise InvalidRecord("invalid_submission", "received_at must be epoch ms")
    key = raw.get("key")
    return str(raw["source"]), received, key if isinstance(key, dict) else {}, raw.get("item")


class WebSurveyConfig(ConnectorConfig):
    """Journey stage per touchpoint (e.g. ``checkout: purchase``); others are ``unknown``."""

    journey_stages: dict[str, JourneyStage] = {}


C = TypeVar("C", bound=ConnectorConfig)


class _SubmissionConnector(Connector[C]):
    """A connector fed the ingest service's submissions."""

    def raw_bytes(self, raw: Any) -> bytes:
        """The posted item, not the envelope, is what the dead-letter topic keeps."""
        item = raw.get("item", raw) if isinstance(raw, dict) else raw
        return orjson.dumps(item, default=str)


class WebSurveyConnector(_SubmissionConnector[WebSurveyConfig]):
    """Widget answers -> one ``response`` event each."""

    name = "web-survey"
    Config = WebSurveyConfig

    def to_events(self, raw: Any) -> list[dict[str, Any]]:
        """One answer -> one response event; a score outside its scale is ``score_out_of_range``."""
        source, received_at, key, item = _submission(raw)
        try:
            answer = WebSurveyAnswer.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "item"
            raise InvalidRecord("invalid_survey", f"{where}: {first['msg']}") from None
        if not _ID_RE.fullmatch(answer.id):
            raise InvalidRecord("invalid_survey", "id: 8-128 characters of A-Z a-z 0-9 _ - . :")
        field, low, high = SCALES[answer.scale]
        if not low <= answer.score <= high:
            raise InvalidRecord("score_out_of_range",
                                f"{answer.scale} score {answer.score} not in {low}..{high}")
        score = SMILEY_CSAT[answer.score] if answer.scale == "smiley" else answer.score
        attributes: dict[str, str] = {"scale": answer.scale}
        if answer.page:
            attributes["page"] = answer.page.split("?", 1)[0].split("#", 1)[0]
        return [{
            "event_id": f"widget/{source}/{answer.id}",
            "occurred_at": received_at,
            "received_at": received_at,
            "channel": key.get("channel") or "web",
            "source": source,
            "kind": "response",
            "touchpoint": answer.touchpoint,
            "journey_stage": self.config.journey_stages.get(answer.touchpoint, "unknown"),
            "customer_id": answer.customer or None,
            "interaction_id": answer.order,
            field: score,
            "comment": answer.comment or None,
            "language": answer.lang,
            "partner_id": key.get("partner_id") or "",
            "attributes": attributes,
        }]


class ApiEventsConfig(ConnectorConfig):
    """No options: canonical events are validated by the publisher like any other."""


class ApiEventsConnector(_SubmissionConnector[ApiEventsConfig]):
    """Canonical events posted by a back end or a partner, bound to the posting key."""

    name = "ingest-api"
    Config = ApiEventsConfig

    def to_events(self, raw: Any) -> list[dict[str, Any]]:
        """The posted event with its id namespaced and its source, channel and partner enforced."""
        source, received_at, key, item = _submission(raw)
        if not isinstance(item, dict):
            raise InvalidRecord("not_an_object", f"expected a JSON object, got {type(item).__name__}")
        event_id = item.get("event_id")
        if not isinstance(event_id, str) or not event_id.strip():
            raise InvalidRecord("missing_field", "event_id")
        if any(ch < " " or ch == "\x7f" for ch in event_id):
            raise InvalidRecord("invalid_event_id", "event_id holds control characters")
        channel, partner = key.get("channel") or "", key.get("partner_id") or ""
        if channel and item.get("channel", channel) != channel:
            raise InvalidRecord("channel_not_allowed",
                                f"this key submits {channel} events, not {item.get('channel')}")
        if partner and item.get("partner_id", partner) not in (partner, ""):
            raise InvalidRecord("partner_not_allowed",
                                f"this key submits events of partner {partner} only")
        event = {**item, "event_id": f"api/{source}/{event_id}", "source": source}
        event["received_at"] = received_at  # the service is the edge: it stamps ingest time
        if channel:
            event["channel"] = channel
        if partner:
            event["partner_id"] = partner
        return [event]
