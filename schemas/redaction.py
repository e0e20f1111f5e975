"""Text redaction: emails, phone numbers, card, national id and bank account numbers in free text.

Part of the contract both sides of Kafka share: connectors redact comments and dead letters with it
(``connectors.sdk.privacy`` builds event and dead-letter protection on it), and the worker redacts
the detail of the dead letters it writes itself (``schemas.kafka.dead_letter_headers``). Pure: no
key, no I/O.

- emails -> ``[email]``; phone numbers (Vietnamese and international formats) -> ``[phone]``;
  Luhn-valid card numbers of 13-19 digits -> ``[card]``;
- Vietnamese national ids -> ``[national_id]``: a number of 9 (CMND) or 12 (CCCD) digits after its
  label (CCCD, CMND, CMT, căn cước, chứng minh nhân dân, số định danh, hộ chiếu, ID card ...), and a
  bare 12-digit number shaped like a CCCD (a province code 001-096 of the official list, then a
  century/sex digit 0-3); a passport number (a letter and 7 digits) after its label;
- bank account numbers -> ``[account]``: 6-19 digits (grouped or not) after an account label (STK,
  số tài khoản, tài khoản ngân hàng, account number, A/C, IBAN, or a bank's name: Vietcombank, BIDV,
  Techcombank ...), and IBANs whose mod-97 check holds;
- labels are matched with and without diacritics, in any case ("so tai khoan", "Số Tài Khoản"), and
  the label stays readable: "STK: [account]";
- a number labelled as an order (mã đơn, đơn hàng, mã vận đơn, hóa đơn, order number ...) is kept
  whatever it looks like, so "mã đơn hàng 079203001234" stays readable;
- prices ("1.250.000 đ"), dates, short order numbers and non-Luhn long numbers are kept, and so are
  pseudonyms (``c_`` + 64 lower-case hex digits), so redacting twice changes nothing;
- the text is Unicode NFC-normalised.
"""

from __future__ import annotations

import re
import unicodedata

EMAIL, PHONE, CARD = "[email]", "[phone]", "[card]"
NATIONAL_ID, ACCOUNT = "[national_id]", "[account]"
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
    pieces = _split_orders(text)  # odd pieces: labelled order numbers, kept as they are
    pieces[::2] = [_redact_numbers(piece) for piece in pieces[::2]]
    return "".join(pieces)


def _redact_numbers(text: str) -> str:
    text = _labelled(text)
    text = _CCCD_RE.sub(NATIONAL_ID, text)
    text = _IBAN_RE.sub(_iban, text)
    text = _CARD_RE.sub(_card, text)
    return _PHONE_RE.sub(PHONE, text)


def fold(text: str) -> str:
    """``text`` lower-cased without diacritics, one character for each of ``text``'s (same offsets).

    "Số Tài Khoản" -> "so tai khoan", "Đơn" -> "don": labels are matched on this, and the spans
    found are replaced in the original text.
    """
    return "".join(_fold_char(c) for c in text)


def _fold_char(char: str) -> str:
    if char in "đĐ":
        return "d"
    base = unicodedata.normalize("NFD", char)[0].lower()
    return base if len(base) == 1 and not unicodedata.combining(base) else char


# Labels, on folded text. A label ends at a word boundary; up to 20 characters of filler ("số",
# "là", "của tôi", ":") may stand between it and the number, but no digit, comma or sentence end.
_FILLER = r"[^\d\n.!?;,]{0,20}?"
_ID_LABEL = (r"cccd|cmnd|cmt|can cuoc(?: cong dan)?|the can cuoc|chung minh(?: nhan dan| thu)?|"
             r"so dinh danh(?: ca nhan)?|dinh danh ca nhan|national id|citizen id|id card|identity card|"
             r"id number")
_PASSPORT_LABEL = r"ho chieu|passport"
_ACCOUNT_LABEL = (r"stk|so tk|tk|so tai khoan|tai khoan(?: ngan hang)?|account(?: number| no)?|acct(?: no)?|"
                  r"a/c|bank account|vietcombank|vcb|vietinbank|bidv|agribank|techcombank|tcb|mb ?bank|"
                  r"acb|vpbank|sacombank|tpbank|hdbank|shb|vib|ocb|msb|seabank")
_ORDER_LABEL = (r"ma don(?: hang)?|don hang|don so|ma van don|van don|hoa don|ma giao dich|"
                r"order(?: number| no| id)?|tracking(?: number)?|invoice")


def _after(label: str, number: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w/])(?:{label})(?![\w/]){_FILLER}(?<![\w])(?P<number>{number})(?![\w])")


_GROUPED = r"[ .\-]?"
_ID_AFTER_LABEL = _after(_ID_LABEL, rf"\d(?:{_GROUPED}\d){{11}}|\d(?:{_GROUPED}\d){{8}}")
_PASSPORT_AFTER_LABEL = _after(_PASSPORT_LABEL, r"[a-z]\d{7}")
_ACCOUNT_AFTER_LABEL = _after(_ACCOUNT_LABEL, rf"\d(?:{_GROUPED}\d){{5,18}}")
_ORDER_AFTER_LABEL = _after(_ORDER_LABEL + r"|#", r"[a-z]{0,4}[\-#]?\d[\d\-]{2,24}")
_PROVINCES = ("001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 034 "
              "035 036 037 038 040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 067 068 "
              "070 072 074 075 077 079 080 082 083 084 086 087 089 091 092 093 094 095 096").split()
# A CCCD: province code, century/sex digit (0-3: born 1900-2099), two digits of the birth year, six more.
_CCCD_RE = re.compile(rf"(?<![\d.\-])(?:{'|'.join(_PROVINCES)})[0-3]\d{{8}}(?![\d])(?![.\-]\d)")
_IBAN_RE = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])")


def _labelled(text: str) -> str:
    """Numbers after a national id, passport or account label -> their marker; the label stays."""
    for pattern, marker in ((_ID_AFTER_LABEL, NATIONAL_ID), (_PASSPORT_AFTER_LABEL, NATIONAL_ID),
                            (_ACCOUNT_AFTER_LABEL, ACCOUNT)):
        spans = [m.span("number") for m in pattern.finditer(fold(text))]
        for start, end in reversed(spans):
            text = text[:start] + marker + text[end:]
    return text


def _split_orders(text: str) -> list[str]:
    """``text`` cut around labelled order numbers: even pieces to redact, odd pieces kept."""
    pieces, pos = [], 0
    for match in _ORDER_AFTER_LABEL.finditer(fold(text)):
        start, end = match.span("number")
        pieces += [text[pos:start], text[start:end]]
        pos = end
    return [*pieces, text[pos:]]


def _iban(match: re.Match[str]) -> str:
    """An IBAN passes ISO 13616's check: the rearranged number mod 97 is 1."""
    compact = match.group().replace(" ", "")
    digits = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    return ACCOUNT if len(compact) >= 15 and int(digits) % 97 == 1 else match.group()
