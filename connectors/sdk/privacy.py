"""Privacy at the edge: pseudonymous customer ids, redacted free text, NFC-normalised Vietnamese.

Applied by the runtime to every event a connector produces, before it reaches Kafka:

- ``customer_id`` -> ``"c_" + hex(HMAC-SHA256(key, customer_id))``: stable per key (joins and repeat
  contacts still work), not reversible without the key. The key is never logged or repr'd.
- ``comment`` and attribute values -> emails, phone numbers (Vietnamese and international formats)
  and Luhn-valid card numbers replaced by ``[email]``, ``[phone]``, ``[card]``.
- every string -> Unicode NFC, so "Hài lòng" typed on two keyboards is one string.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import Any, Protocol

PSEUDONYM_PREFIX = "c_"
EMAIL, PHONE, CARD = "[email]", "[phone]", "[card]"


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


_EMAIL_RE = re.compile(r"[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[^\W\d_]{2,}")

# Cards: 13-19 digits, contiguous or in groups split by one space/dash (4-4-4-4[-n], Amex 4-6-5).
_CARD_RE = re.compile(
    r"(?<!\d)(?<!\d[ \-])"
    r"(?:\d{4}[ \-]\d{6}[ \-]\d{4,5}|\d{4}(?:[ \-]\d{4}){2,3}(?:[ \-]\d{1,4})?|\d{13,19})"
    r"(?!\d)(?![\-]\d)"
)

_SEP = r"[ .\-]?"
# Vietnamese subscriber numbers after the country code / trunk 0: mobiles 3|5|7|8|9 + 8 digits,
# landlines 2 + 9 digits (area code included).
_VN_SUBSCRIBER = rf"(?:[35789](?:{_SEP}\d){{8}}|2(?:{_SEP}\d){{9}})"
_PHONE_RE = re.compile(
    rf"""
    (?<![\d+])(?<!\d[.\-])              # not the tail of a longer number, a price or a date
    (?:
        (?:\+|00)84{_SEP}(?:\(0\){_SEP})?{_VN_SUBSCRIBER}   # +84 912 345 678, +84 (0) 912...
      | 84{_SEP}{_VN_SUBSCRIBER}                            # 84912345678
      | 0{_VN_SUBSCRIBER}                                   # 0912.345.678, 090-123-4567
      | \(0?2\d\)[ .\-]?\d(?:{_SEP}\d){{7}}                 # (024) 3825 1234
      | \+[1-9](?:[ .\-()]{{0,2}}\d){{7,14}}                 # +1 (415) 555-0100, +44 20 ...
    )
    (?!\d)(?![.\-]\d)
    """,
    re.VERBOSE,
)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number carries."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    text = match.group()
    digits = re.sub(r"\D", "", text)
    if 13 <= len(digits) <= 19 and luhn_valid(digits):
        return CARD
    # "4111 1111 1111 1111 5 sao": a valid card followed by a stray group.
    head, sep, tail = text.rpartition(" " if " " in text else "-")
    head_digits = re.sub(r"\D", "", head)
    if sep and 13 <= len(head_digits) <= 19 and luhn_valid(head_digits):
        return CARD + sep + tail
    return text


def redact(text: str) -> str:
    """Replace emails, phone numbers and card numbers in ``text``; NFC-normalise the rest.

    Prices ("1.250.000 đ"), dates, short order numbers and non-Luhn long numbers are kept.
    """
    text = unicodedata.normalize("NFC", text)
    text = _EMAIL_RE.sub(EMAIL, text)
    text = _CARD_RE.sub(_card, text)
    return _PHONE_RE.sub(PHONE, text)


def nfc(value: Any) -> Any:
    """Strings -> NFC; anything else unchanged."""
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def protect_event(event: dict[str, Any], key: PrivacyKey) -> dict[str, Any]:
    """A copy of one event (JSON form) safe to publish: pseudonymised, redacted, NFC everywhere.

    ``customer_id`` is pseudonymised when non-empty; ``comment`` and every attribute value are
    redacted; every other string is NFC-normalised. The input is not modified.
    """
    out = {field: nfc(value) for field, value in event.items()}
    customer = out.get("customer_id")
    if isinstance(customer, str) and customer.strip():
        out["customer_id"] = pseudonymise(customer, key)
    if isinstance(out.get("comment"), str):
        out["comment"] = redact(out["comment"])
    attributes = out.get("attributes")
    if isinstance(attributes, dict):
        out["attributes"] = {
            nfc(k): redact(v) if isinstance(v, str) else v for k, v in attributes.items()
        }
    return out
