"""The OpenAPI 3.1 document of the ingest service, built from the models it validates against.

The event schema is derived from the current ``schemas/touchpoint_event.v*.avsc`` and the survey schema from
``WebSurveyAnswer``, so the document cannot drift from what the service accepts.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson

from connectors.web import WebSurveyAnswer
from schemas.codec import CURRENT_SCHEMA, SCHEMA_DIR

AVSC = SCHEMA_DIR / CURRENT_SCHEMA
_TIMESTAMP = {"oneOf": [{"type": "string", "format": "date-time"},
                        {"type": "integer", "description": "epoch milliseconds"}]}
_PRIMITIVE = {"string": "string", "int": "integer", "long": "integer", "boolean": "boolean"}


def _avro_to_json_schema(avro_type: Any) -> dict[str, Any]:
    if isinstance(avro_type, list):
        return {"oneOf": [_avro_to_json_schema(t) for t in avro_type]}
    if avro_type == "null":
        return {"type": "null"}
    if isinstance(avro_type, str):
        return {"type": _PRIMITIVE[avro_type]}
    if avro_type.get("logicalType") == "timestamp-millis":
        return dict(_TIMESTAMP)
    if avro_type["type"] == "enum":
        return {"type": "string", "enum": avro_type["symbols"]}
    if avro_type["type"] == "map":
        return {"type": "object", "additionalProperties": _avro_to_json_schema(avro_type["values"])}
    raise ValueError(f"no JSON schema for Avro type {avro_type!r}")


@cache
def event_schema() -> dict[str, Any]:
    """JSON schema of a canonical event in JSON form (what ``POST /v1/events`` takes)."""
    avsc = orjson.loads(AVSC.read_bytes())
    properties, required = {}, []
    for f in avsc["fields"]:
        prop = _avro_to_json_schema(f["type"])
        if "doc" in f:
            prop["description"] = f["doc"]
        properties[f["name"]] = prop
        if "default" not in f and f["name"] != "received_at":
            required.append(f["name"])
    properties["received_at"]["description"] = "ignored: the service stamps the time it received it"
    properties["source"]["description"] = "ignored: the API key's source"
    return {"type": "object", "properties": properties,
            "required": [r for r in required if r != "source"]}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _post(summary: str, item_ref: str, security: list[dict[str, list[str]]]) -> dict[str, Any]:
    one_or_many = {"oneOf": [{"$ref": item_ref}, {"type": "array", "items": {"$ref": item_ref}},
                             {"type": "object", "required": ["events"],
                              "properties": {"events": {"type": "array",
                                                        "items": {"$ref": item_ref}}}}]}
    result = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Results"}}}}
    return {
        "summary": summary,
        "security": security,
        "requestBody": {"required": True, "content": {"application/json": {"schema": one_or_many}}},
        "responses": {
            "200": {"description": "stored (acknowledged by Kafka); one result per item", **result},
            "422": {"description": "every item rejected (each sent to the dead-letter topic)",
                    **result},
            "400": _error("body is not JSON, or no items"),
            "401": _error("missing_key, unknown_key, stale_timestamp or bad_signature"),
            "403": _error("key_not_allowed (browser key off its route) or origin_not_allowed"),
            "409": _error("replayed_request: this signed request was already received"),
            "413": _error("body_too_large (checked before reading) or too_many_items"),
            "429": _error("rate_limited; see Retry-After"),
            "503": _error("kafka_unavailable: nothing stored, retry with the same ids"),
        },
    }


def openapi_document(max_body_bytes: int, max_items: int) -> dict[str, Any]:
    """The whole document; limits are those of the running service."""
    signed: list[dict[str, list[str]]] = [{"apiKey": [], "timestamp": [], "signature": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cxpulse ingest API", "version": "1",
            "description": (
                "Touchpoint events and web survey answers into cxpulse. Server keys sign every "
                "request: X-Cx-Signature = 'sha256=' + hex HMAC-SHA256(secret, timestamp + '\\n' + "
                "METHOD + '\\n' + path + '\\n' + body), X-Cx-Timestamp = unix seconds (within 300 s; "
                "a signature is accepted once). Browser keys (the widget) need no signature but only "
                f"post surveys from their allowed origins. Bodies are capped at {max_body_bytes} "
                f"bytes and {max_items} items; each item costs one token of the key's rate limit. "
                "Event ids are namespaced: 'api/<source>/<id>' and 'widget/<source>/<id>'."),
        },
        "paths": {
            "/v1/events": {"post": _post("Canonical touchpoint events (server keys)",
                                         "#/components/schemas/TouchpointEvent", signed)},
            "/v1/surveys/web": {"post": _post(
                "Web survey answers, the widget's compact payload",
                "#/components/schemas/WebSurveyAnswer", [*signed, {"apiKey": []}])},
            "/health": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics",
                                 "responses": {"200": {"description": "text exposition"}}}},
            "/widget.js": {"get": {"summary": "The embeddable survey widget",
                                   "responses": {"200": {"description": "JavaScript"}}}},
        },
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Cx-Key"},
                "timestamp": {"type": "apiKey", "in": "header", "name": "X-Cx-Timestamp"},
                "signature": {"type": "apiKey", "in": "header", "name": "X-Cx-Signature"},
            },
            "schemas": {
                "TouchpointEvent": event_schema(),
                "WebSurveyAnswer": WebSurveyAnswer.model_json_schema(),
                "Error": {"type": "object", "required": ["error", "message"],
                          "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
                "Results": {"type": "object", "properties": {
                    "accepted": {"type": "integer"}, "duplicates": {"type": "integer"},
                    "rejected": {"type": "integer"},
                    "results": {"type": "array", "items": {"type": "object", "properties": {
                        "index": {"type": "integer"},
                        "status": {"enum": ["accepted", "duplicate", "rejected"]},
                        "event_id": {"type": "string"}, "reason": {"type": "string"},
                        "detail": {"type": "string"}}}}}},
            },
        },
    }
