"""Text redaction: emails, phone numbers and payment card numbers replaced in free text.

Part of the contract both sides of Kafka share: connectors redact comments and dead letters with it
(``connectors.sdk.privacy`` builds event and dead-letter protection on it), and the worker redacts
the detail of the dead letters it writes itself (``schemas.kafka.dead_letter_headers``). Pure: no
key, no I/O.

- emails -> ``[email]``; phone numbers (Vietnamese and international formats) -> ``[phone]``;
  Luhn-valid card numbers of 13-19 digits -> ``[card]``;
- prices ("1.250.000 đ"), dates, short order numbers and non-Luhn long numbers are kept, and so are
  pseudonyms (``c_`` + 64 lower-case hex digits), so redacting twice changes nothing;
- the text is Unicode NFC-normalised.
"""

from __future__ import annotations

import re
import unicodedata

EMAIL, PHONE, CARD = "[email]", "[phone]", "[card]"
PSEUDONYM_RE = re.compile(r"c_[0-9a-f]{64}")
"""A pseudonymised customer id (``connectors.sdk.privacy.pseudonymise``)."""
# A pseudonym inside text is kept whole: its hex digits could otherwise look like a card or a phone.
# So is any other long hex token (a file's SHA-256, an id hash): machine ids, not personal data, and a
# digit run inside one (…a0912345678f…) once turned a file's hash in its dead letters into [phone].
_PSEUDONYM_IN_TEXT_RE = re.compile(
    r"(?<![0-9A-Za-z_])(c_[0-9a-f]{64}|[0-9a-f]{32,}|[0-9A-F]{32,})(?![0-9A-Za-z_])")


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

    Prices ("1.250.000 đ"), dates, short order numbers and non-Luhn long numbers are kept, and so
    are pseudonyms (so redacting twice changes nothing).
    """
    parts = _PSEUDONYM_IN_TEXT_RE.split(unicodedata.normalize("NFC", text))
    parts[::2] = [_redact_plain(part) for part in parts[::2]]  # odd parts: the pseudonyms
    return "".join(parts)


def _redact_plain(text: str) -> str:
    text = _EMAIL_RE.sub(EMAIL, text)
    text = _CARD_RE.sub(_card, text)
    return _PHONE_RE.sub(PHONE, text)
