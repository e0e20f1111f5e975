"""Privacy at the edge: pseudonymous customer ids, redacted free text, NFC-normalised Vietnamese.

Applied to every event before it reaches Kafka — by the connector runtime, and again by
``EventPublisher`` (so ``cxpulse publish``, the simulator and any other caller are covered; applying it
twice is harmless because pseudonyms and redaction markers are left as they are):

- ``customer_id`` -> ``"c_" + hex(HMAC-SHA256(key, customer_id))``: stable per key (joins and repeat
  contacts still work), not reversible without the key. The key is never logged or repr'd. An id
  that already is a pseudonym (``c_`` + 64 lower-case hex digits) is kept.
- ``comment`` and attribute values -> emails, phone numbers (Vietnamese and international formats),
  Luhn-valid card numbers, Vietnamese national ids (CCCD 12 digits, CMND 9 digits, passports; by
  their labels, and a bare CCCD by its shape) and bank account numbers (by their labels or the bank's
  name, and IBANs) replaced by ``[email]``, ``[phone]``, ``[card]``, ``[national_id]``, ``[account]``,
  labels matched with or without diacritics; labelled order numbers are kept readable
  (``schemas.redaction``); the event's own raw customer id written in them is replaced by its pseudonym.
- every string -> Unicode NFC, so "Hài lòng" typed on two keyboards is one string.

Dead letters (``redact_dead_letter``): the dead-letter topic keeps each rejected record's raw payload
*with PII removed*, never the record untouched — no raw email, phone number or customer id may reach
Kafka, and a dead letter is as long-lived as any event. In JSON payloads the values of fields naming a
customer id (``customer_id``, ``customerId``, ``CustomerId``, ``customer``, any depth; plus the names
a connector declares in ``Connector.raw_id_fields``) are pseudonymised with the same key, so a dead
letter still joins its customer's events; other text is redacted as comments are. Payloads that are
not JSON get the same treatment for ``"name": value`` and ``name=value`` pairs, then redaction.
Connectors whose records are CSV rows keep them as JSON objects (column -> cell) for exactly this.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable
from typing import Any, Protocol

import orjson

# Text redaction is the contract layer's (the worker redacts its dead letters too); the SDK's privacy
# API offers it as its own.
from schemas.redaction import PSEUDONYM_RE
from schemas.redaction import luhn_valid as luhn_valid
from schemas.redaction import redact as redact

PSEUDONYM_PREFIX = "c_"
CUSTOMER = "[customer]"
CUSTOMER_ID_FIELDS = frozenset(["customerid", "customer"])
"""Raw field names holding a customer id, as ``field_key`` folds them (customer_id, CustomerId...)."""
MIN_ID_IN_TEXT = 4
"""Raw customer ids at least this long are also replaced where free text mentions them; shorter ones
("42") would hit prices and counts."""


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


PrivacyKeyLike = str | bytes | _Secret
"""A key as settings hold it: plain text, bytes, or a pydantic ``SecretStr``."""


class PrivacyKey:
    """The HMAC key; its ``repr``/``str`` never show the value, so it cannot leak into logs."""

    __slots__ = ("_value",)

    def __init__(self, key: PrivacyKeyLike) -> None:
        raw = key.get_secret_value() if hasattr(key, "get_secret_value") else key
        value = raw.encode() if isinstance(raw, str) else raw
        if not isinstance(value, bytes) or len(value) < 16:
            raise ValueError("the pseudonymisation key must be at least 16 bytes")
        self._value = value

    def digest(self, message: str) -> str:
        """Hex HMAC-SHA256 of ``message`` (UTF-8) under this key."""
        return hmac.new(self._value, message.encode(), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "PrivacyKey(***)"

    __str__ = __repr__


def pseudonymise(customer_id: str, key: PrivacyKeyLike | PrivacyKey) -> str:
    """``customer_id`` -> ``c_<64 hex>``; the same id and key always give the same pseudonym.

    The id is NFC-normalised and stripped first, so visually equal ids share one pseudonym.
    """
    secret = key if isinstance(key, PrivacyKey) else PrivacyKey(key)
    return PSEUDONYM_PREFIX + secret.digest(unicodedata.normalize("NFC", customer_id).strip())


def is_pseudonym(value: object) -> bool:
    """Whether ``value`` already is a pseudonym (``c_`` + 64 lower-case hex digits)."""
    return isinstance(value, str) and PSEUDONYM_RE.fullmatch(value) is not None


def field_key(name: str) -> str:
    """A field name folded for matching: ``customerId``, ``Customer ID`` -> ``customerid``."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def nfc(value: Any) -> Any:
    """Strings -> NFC; anything else unchanged."""
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def redact_event(event: dict[str, Any]) -> dict[str, Any]:
    """A copy of one event (JSON form) with ``comment`` and attribute values redacted, NFC everywhere.

    ``customer_id`` is left as it is: use ``protect_event`` whenever a key is available.
    """
    out = {field: nfc(value) for field, value in event.items()}
    if isinstance(out.get("comment"), str):
        out["comment"] = redact(out["comment"])
    attributes = out.get("attributes")
    if isinstance(attributes, dict):
        out["attributes"] = {
            nfc(k): redact(v) if isinstance(v, str) else v for k, v in attributes.items()
        }
    return out


def protect_event(event: dict[str, Any], key: PrivacyKey) -> dict[str, Any]:
    """A copy of one event (JSON form) safe to publish: pseudonymised, redacted, NFC everywhere.

    ``customer_id`` is pseudonymised when non-empty and not a pseudonym already; ``comment`` and
    every attribute value are redacted, and the event's own raw customer id (``MIN_ID_IN_TEXT``
    characters or more) is replaced by its pseudonym where they mention it; every other string is
    NFC-normalised. Idempotent: protecting a protected event changes nothing. The input is not modified.
    """
    out = redact_event(event)
    customer = out.get("customer_id")
    if isinstance(customer, str) and customer.strip() and not is_pseudonym(customer):
        pseudonym = pseudonymise(customer, key)
        out["customer_id"] = pseudonym
        mentions = {customer.strip(): pseudonym}
        if isinstance(out.get("comment"), str):
            out["comment"] = _replace_mentions(out["comment"], mentions)
        if isinstance(out.get("attributes"), dict):
            out["attributes"] = {k: _replace_mentions(v, mentions) if isinstance(v, str) else v
                                 for k, v in out["attributes"].items()}
    return out


def _replace_mentions(text: str, replacements: dict[str, str]) -> str:
    """Whole-token occurrences of the raw ids in ``replacements`` (long enough) -> their replacement."""
    # Most texts mention no id: skip compiling a pattern per text (it dominated the publish path).
    ids = sorted((i for i in replacements if len(i) >= MIN_ID_IN_TEXT and i in text),
                 key=len, reverse=True)
    if not ids:
        return text
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, ids)) + r")(?!\w)")
    return pattern.sub(lambda m: replacements[m.group()], text)


# "name": "value" / "name": 123 in text that is not valid JSON (a truncated line, a log line); an
# unterminated string runs to the end of the text, so a truncated id is replaced too.
_QUOTED_PAIR_RE = re.compile(
    r'"(?P<name>[^"\\\n]{1,64})"\s*:\s*(?P<value>"(?:[^"\\]|\\.)*(?:"|\Z)|-?\d+)')
# name=value, as in query strings and key=value logs
_ASSIGNED_PAIR_RE = re.compile(r"(?<![\w\-])(?P<name>[A-Za-z_][\w\-]{0,63})=(?P<value>[^\s&,;\"']+)")


class _DeadLetterScrubber:
    """One dead letter's redaction: the raw ids found so far and what replaces each."""

    def __init__(self, key: PrivacyKey | None, id_fields: frozenset[str]) -> None:
        self.key, self.id_fields = key, id_fields
        self.replacements: dict[str, str] = {}

    def replace_id(self, raw_id: str) -> str:
        """The pseudonym of ``raw_id`` (``[customer]`` without a key); pseudonyms and blanks are kept."""
        if is_pseudonym(raw_id) or not raw_id.strip():
            return raw_id
        if raw_id not in self.replacements:
            self.replacements[raw_id] = pseudonymise(raw_id, self.key) if self.key else CUSTOMER
            self.replacements.setdefault(unicodedata.normalize("NFC", raw_id).strip(),
                                         self.replacements[raw_id])
        return self.replacements[raw_id]

    def collect(self, value: Any, inside_id: bool = False) -> None:
        """First pass over parsed JSON: note every id, so text anywhere can be checked for it."""
        if isinstance(value, dict):
            for name, item in value.items():
                self.collect(item, inside_id or field_key(name) in self.id_fields)
        elif isinstance(value, list):
            for item in value:
                self.collect(item, inside_id)
        elif inside_id and isinstance(value, str | int) and not isinstance(value, bool):
            self.replace_id(str(value))

    def json(self, value: Any, inside_id: bool = False) -> Any:
        """Second pass: ids -> pseudonyms (every scalar under an id field), other strings -> ``text``."""
        if isinstance(value, dict):
            return {self.text(name): self.json(item, inside_id or field_key(name) in self.id_fields)
                    for name, item in value.items()}
        if isinstance(value, list):
            return [self.json(item, inside_id) for item in value]
        if inside_id and isinstance(value, str | int) and not isinstance(value, bool):
            return self.replace_id(str(value))
        return self.text(value) if isinstance(value, str) else value

    def text(self, text: str) -> str:
        """Free text: id pairs pseudonymised, known ids replaced where mentioned, then ``redact``."""
        text = _QUOTED_PAIR_RE.sub(self._quoted_pair, text)
        text = _ASSIGNED_PAIR_RE.sub(self._assigned_pair, text)
        return redact(_replace_mentions(text, self.replacements))

    def _quoted_pair(self, match: re.Match[str]) -> str:
        if field_key(match["name"]) not in self.id_fields:
            return match.group()
        value = match["value"]
        if value.startswith('"'):
            body = value[1:-1] if len(value) > 1 and value.endswith('"') else value[1:]
            try:
                raw_id = orjson.loads(f'"{body}"')
            except orjson.JSONDecodeError:
                raw_id = body
            replaced = '"' + self.replace_id(str(raw_id)) + '"'
        else:
            replaced = self.replace_id(value)
        return match.group()[: match.start("value") - match.start()] + replaced

    def _assigned_pair(self, match: re.Match[str]) -> str:
        if field_key(match["name"]) not in self.id_fields:
            return match.group()
        return f"{match['name']}={self.replace_id(match['value'])}"


def redact_dead_letter(raw: bytes, detail: str, key: PrivacyKeyLike | PrivacyKey | None,
                       id_fields: Iterable[str] = ()) -> tuple[bytes, str]:
    """A rejected record and its reason's detail, safe to keep on the dead-letter topic.

    Guarantees: no email, phone number or Luhn-valid card number survives in either; the values of
    customer-id fields (``CUSTOMER_ID_FIELDS`` plus ``id_fields``, names matched by ``field_key``, any
    depth; every scalar inside an object held by such a field) become their pseudonym under ``key``
    — or ``[customer]`` without a key — and so do those ids wherever other text mentions them. A JSON
    payload stays valid JSON; it is returned byte for byte when nothing in it needed changing (so a
    record sent twice dead-letters identical bytes). Bytes that are not UTF-8 (a Windows-1258 file)
    pass through unchanged; only the PII found around them is replaced.
    """
    secret = key if key is None or isinstance(key, PrivacyKey) else PrivacyKey(key)
    scrubber = _DeadLetterScrubber(secret, CUSTOMER_ID_FIELDS | {field_key(f) for f in id_fields})
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        text = raw.decode("utf-8", "surrogateescape")  # lossless for bytes that are not UTF-8
        safe = scrubber.text(text).encode("utf-8", "surrogateescape")
    else:
        scrubber.collect(parsed)
        clean = scrubber.json(parsed)
        safe = raw if clean == parsed else orjson.dumps(clean)
    return safe, scrubber.text(detail)
