import functools
import hashlib
import hmac
import unicodedata

import orjson
import pytest
from pydantic import SecretStr

import connectors.sdk.publisher as publisher_module
from connectors.sdk.base import Connector, ConnectorConfig
from connectors.sdk.privacy import (
    CUSTOMER,
    PrivacyKey,
    is_pseudonym,
    luhn_valid,
    protect_event,
    pseudonymise,
    redact,
    redact_dead_letter,
    redact_event,
)
from connectors.sdk.publisher import UNPROTECTED_CUSTOMER_ID, EventPublisher
from schemas.codec import AvroCodec
from schemas.kafka import dead_letter_headers
from schemas.topics import Topics

KEY = "test-key-0123456789abcdef-not-secret"


def test_pseudonym_is_prefixed_keyed_hmac_sha256_hex() -> None:
    expected = hmac.new(KEY.encode(), b"cust-42", hashlib.sha256).hexdigest()
    assert pseudonymise("cust-42", KEY) == "c_" + expected


def test_pseudonym_is_stable_per_key_and_differs_across_keys() -> None:
    assert pseudonymise("cust-42", KEY) == pseudonymise("cust-42", KEY.encode())
    assert pseudonymise("cust-42", KEY) == pseudonymise("cust-42", SecretStr(KEY))
    assert pseudonymise("cust-42", KEY) != pseudonymise("cust-42", KEY + "x")
    assert pseudonymise("cust-42", KEY) != pseudonymise("cust-43", KEY)


def test_pseudonym_normalises_nfc_first() -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn Văn A")
    assert pseudonymise(decomposed, KEY) == pseudonymise("Nguyễn Văn A", KEY)


def test_key_never_shown_and_short_keys_refused() -> None:
    key = PrivacyKey(KEY)
    assert KEY not in repr(key) and KEY not in str(key) and KEY not in f"{key!r} {key}"
    with pytest.raises(ValueError, match="at least 16 bytes"):
        PrivacyKey("short")
    with pytest.raises(ValueError):
        PrivacyKey("")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Liên hệ nguyen.van.a@gmail.com nhé", "Liên hệ [email] nhé"),
        ("mail: TRAN_B+cx@congty.com.vn.", "mail: [email]."),
        ("email là lê.thị@ví-dụ.vn", "email là [email]"),
        ("gọi 0912345678 giúp em", "gọi [phone] giúp em"),
        ("SĐT: +84 912 345 678", "SĐT: [phone]"),
        ("SĐT:+84912345678", "SĐT:[phone]"),
        ("+84 (0) 912 345 678", "[phone]"),
        ("0084 98 765 4321", "[phone]"),
        ("84912345678", "[phone]"),
        ("zalo 0912.345.678 ạ", "zalo [phone] ạ"),
        ("hotline cá nhân 090-123-4567", "hotline cá nhân [phone]"),
        ("0387 654 321", "[phone]"),
        ("số bàn 024 3825 1234", "số bàn [phone]"),
        ("(028) 3822 1234", "[phone]"),
        ("+84 28 3822 1234", "[phone]"),
        ("call +1 (415) 555-0100", "call [phone]"),
        ("UK +44 20 7946 0958", "UK [phone]"),
        ("gọi0912345678", "gọi[phone]"),
        ("0912345678, 0987654321", "[phone], [phone]"),
        ("thẻ 4111 1111 1111 1111 bị trừ tiền", "thẻ [card] bị trừ tiền"),
        ("4111-1111-1111-1111", "[card]"),
        ("4111111111111111", "[card]"),
        ("amex 3782 822463 10005", "amex [card]"),
        ("napas 9704 0000 0000 0018", "napas [card]"),
        ("visa 4111 1111 1111 1111 5 sao", "visa [card] 5 sao"),
    ],
)
def test_redacts_pii(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Giá 1.250.000 đ, hơi đắt",
        "tổng 12.500.000đ cho 3 món",
        "giảm 84.500.000 VND",
        "350.000đ",
        "đơn hàng DH-0912345 giao chậm",
        "mã đơn 58392017",
        "mã vận đơn 0123456789",
        "ngày 12/05/2024 lúc 09:30",
        "2024-05-12 08:30:00",
        "hẹn 05.12.2024",
        "4111 1111 1111 1112",
        "1234567890123",
        "tôi cho 5 sao, 10 điểm",
        "phòng 0902 tầng 3",
        "hotline 1900 545 415",
        "user@localhost",
    ],
)
def test_keeps_what_is_not_pii(text: str) -> None:
    assert redact(text) == text


def test_redact_normalises_to_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Rất hài lòng với dịch vụ")
    assert decomposed != "Rất hài lòng với dịch vụ"
    assert redact(decomposed) == "Rất hài lòng với dịch vụ"


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")


def test_protect_event_pseudonymises_redacts_and_leaves_input_alone() -> None:
    event = {
        "event_id": "e1", "customer_id": "cust-42", "touchpoint": unicodedata.normalize("NFD", "cửa hàng"),
        "comment": "gọi 0912 345 678 hoặc a@b.vn", "attributes": {"contact": "a@b.vn", "n": "3"},
        "csat": 4,
    }
    original = dict(event)
    out = protect_event(event, PrivacyKey(KEY))
    assert event == original
    assert out["customer_id"] == pseudonymise("cust-42", KEY)
    assert out["comment"] == "gọi [phone] hoặc [email]"
    assert out["attributes"] == {"contact": "[email]", "n": "3"}
    assert out["touchpoint"] == "cửa hàng"
    assert out["csat"] == 4


def test_protect_event_keeps_missing_customer_and_comment() -> None:
    out = protect_event({"event_id": "e1", "customer_id": None, "comment": None}, PrivacyKey(KEY))
    assert out == {"event_id": "e1", "customer_id": None, "comment": None}


# --- pseudonyms are left alone: protecting twice (runtime, then publisher) is harmless ---------------

PSEUDO_42 = pseudonymise("cust-42", KEY)


def test_is_pseudonym() -> None:
    assert is_pseudonym(PSEUDO_42)
    assert not is_pseudonym("cust-42")
    assert not is_pseudonym(PSEUDO_42.upper()) and not is_pseudonym(PSEUDO_42 + "0")
    assert not is_pseudonym(None)


def test_protect_event_is_idempotent_and_keeps_pseudonyms() -> None:
    event = {"event_id": "e1", "customer_id": "cust-42", "comment": "KH cust-42, gọi 0912 345 678",
             "attributes": {"ref": "cust-42"}}
    once = protect_event(event, PrivacyKey(KEY))
    assert once["customer_id"] == PSEUDO_42
    assert once["comment"] == f"KH {PSEUDO_42}, gọi [phone]"  # its own raw id in its text too
    assert once["attributes"] == {"ref": PSEUDO_42}
    assert protect_event(once, PrivacyKey(KEY)) == once
    assert protect_event(once, PrivacyKey(KEY + "other")) == once


def test_own_id_in_text_replaced_only_as_a_whole_token_and_only_when_long_enough() -> None:
    out = protect_event({"customer_id": "cust-42", "comment": "xcust-42 cust-421"}, PrivacyKey(KEY))
    assert out["comment"] == "xcust-42 cust-421"
    out = protect_event({"customer_id": "42", "comment": "42 phút chờ"}, PrivacyKey(KEY))
    assert out["comment"] == "42 phút chờ"


def test_redact_never_breaks_a_pseudonym() -> None:
    # hex digits that would pass for a Luhn-valid card or a phone number if redact looked inside
    fake = "c_" + "4111111111111111" + "0912345678" + "a" * 38
    assert is_pseudonym(fake)
    assert redact(f"ref {fake} / 4111 1111 1111 1111") == f"ref {fake} / [card]"


def test_redact_event_leaves_customer_id() -> None:
    out = redact_event({"customer_id": "cust-42", "comment": "a@b.vn"})
    assert out == {"customer_id": "cust-42", "comment": "[email]"}


# --- dead letters keep the raw payload with PII removed ------------------------------------------------

def test_dead_letter_json_ids_at_any_depth_pseudonymised_text_redacted() -> None:
    raw = orjson.dumps({
        "customer_id": "cust-42", "comment": "em là cust-42, mail an.nguyen@example.vn",
        "nested": [{"customerId": "KH-7788"}, {"CustomerId": 99887766}, {"Customer ID": "vip-1"}],
        "customer": {"id": "KH-0001", "name": "Nguyễn Văn An", "vip": True},
        "note": "thẻ 4111 1111 1111 1111, zalo 0912.345.678, KH-7788",
    })
    safe, detail = redact_dead_letter(raw, "customer_id cust-42: call +84 912 345 678", KEY)
    out = orjson.loads(safe)
    p = functools.partial(pseudonymise, key=KEY)
    assert out == {
        "customer_id": p("cust-42"), "comment": f"em là {p('cust-42')}, mail [email]",
        "nested": [{"customerId": p("KH-7788")}, {"CustomerId": p("99887766")}, {"Customer ID": p("vip-1")}],
        "customer": {"id": p("KH-0001"), "name": p("Nguyễn Văn An"), "vip": True},
        "note": f"thẻ [card], zalo [phone], {p('KH-7788')}",
    }
    assert detail == f"customer_id {p('cust-42')}: call [phone]"


def test_dead_letter_declared_raw_fields_pseudonymised() -> None:
    ctr = {"ContactId": "c-1", "CustomerEndpoint": {"Type": "TELEPHONE_NUMBER", "Address": "+84912345678"},
           "Attributes": {"CallerRef": "R-123456"}}
    safe, _ = redact_dead_letter(orjson.dumps(ctr), "", KEY, {"CallerRef", "Address"})
    out = orjson.loads(safe)
    assert out["CustomerEndpoint"]["Address"] == pseudonymise("+84912345678", KEY)
    assert out["Attributes"]["CallerRef"] == pseudonymise("R-123456", KEY)
    assert out["ContactId"] == "c-1"


def test_dead_letter_without_pii_is_byte_identical() -> None:
    raw = b'{ "event_id" : "e1",  "csat": 7, "comment": "Xin ch\\u00e0o" }'
    assert redact_dead_letter(raw, "csat=7 is outside 1..5", KEY) == (raw, "csat=7 is outside 1..5")
    assert redact_dead_letter(b"junk {not json", "x", KEY) == (b"junk {not json", "x")
    pseudonymised = orjson.dumps({"customer_id": PSEUDO_42})
    assert redact_dead_letter(pseudonymised, "", KEY)[0] == pseudonymised


def test_dead_letter_not_json_pairs_and_mentions_pseudonymised() -> None:
    truncated = b'{"customer_id": "cust-42", "comment": "cust-42 g\xe1\xbb\x8di 0912345678", "csat'
    safe, _ = redact_dead_letter(truncated, "", KEY)
    text = safe.decode()
    assert "cust-42" not in text and "0912345678" not in text
    assert text == f'{{"customer_id": "{PSEUDO_42}", "comment": "{PSEUDO_42} gọi [phone]", "csat'
    cut = b'{"event_id": "e1", "customer_id": "cust-4'
    assert redact_dead_letter(cut, "", KEY)[0].decode().endswith(f'"{pseudonymise("cust-4", KEY)}"')
    query = b"csat=4&customer_id=cust-42&email=a%40b.vn"
    assert redact_dead_letter(query, "", KEY)[0] == f"csat=4&customer_id={PSEUDO_42}&email=a%40b.vn".encode()


def test_dead_letter_keeps_bytes_that_are_not_utf8() -> None:
    raw = "Khách hàng; an.nguyen@example.vn".encode("cp1258")  # a Windows-1258 partner file
    safe, _ = redact_dead_letter(raw, "", KEY)
    assert safe == "Khách hàng; [email]".encode("cp1258")


def test_dead_letter_without_key_masks_ids() -> None:
    safe, _ = redact_dead_letter(b'{"customer_id": "cust-42", "comment": "cust-42"}', "", None)
    assert orjson.loads(safe) == {"customer_id": CUSTOMER, "comment": CUSTOMER}


def test_dead_letter_headers_redact_detail_and_mark_redaction() -> None:
    headers = dict(dead_letter_headers("invalid_field", "from a@b.vn", "src", redacted=True))
    assert headers == {"cx.reason": b"invalid_field", "cx.detail": b"from [email]", "cx.source": b"src",
                       "cx.redacted": b"1"}
    assert "cx.redacted" not in dict(dead_letter_headers("r", "d", "worker"))


class _Mapping(ConnectorConfig):
    customer: str | None = "Mã KH"
    comment: str = "Nhận xét"


class _Config(ConnectorConfig):
    customer_id_column: str = "MemberNo"
    customer_id_from_endpoint: bool = True
    partners: dict[str, _Mapping] = {"a": _Mapping(), "b": _Mapping(customer=None)}
    touchpoint: str = "customer_desk"


def test_raw_id_fields_default_to_the_config_fields_naming_the_customer() -> None:
    assert Connector(ConnectorConfig()).raw_id_fields() == frozenset()
    assert Connector(_Config()).raw_id_fields() == {"MemberNo", "Mã KH"}


# --- the publisher protects whatever it is given ---------------------------------------------------------

class _Sent:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes | None, dict[str, bytes]]] = []

    def __call__(self, _producer: object, topic: str, value: bytes, key: bytes | None,
                 headers: list[tuple[str, bytes]] | None, _tracker: object) -> None:
        self.records.append((topic, value, key, dict(headers or [])))


@pytest.fixture()
def sent(monkeypatch: pytest.MonkeyPatch) -> _Sent:
    recorder = _Sent()
    monkeypatch.setattr(publisher_module, "Producer", lambda _config: None)
    monkeypatch.setattr(publisher_module, "produce", recorder)
    return recorder


NOW_MS = 1_795_514_400_000
EVENT = {"event_id": "e1", "occurred_at": NOW_MS - 1000, "received_at": NOW_MS, "channel": "web",
         "kind": "contact", "touchpoint": "checkout", "customer_id": "cust-42",
         "contact_reason": "billing", "comment": "gọi 0912 345 678 hoặc an.nguyen@example.vn"}


def _publisher(key: str | None) -> EventPublisher:
    return EventPublisher("127.0.0.1:1", Topics("t."), AvroCodec(), "test", privacy_key=key,
                          raw_id_fields={"member_no"})


def test_publisher_pseudonymises_and_redacts_every_event(sent: _Sent) -> None:
    publisher = _publisher(KEY)
    assert publisher.publish_object(EVENT, orjson.dumps(EVENT))
    assert publisher.publish_object(protect_event(EVENT, PrivacyKey(KEY)), b"")  # already protected
    [(topic, value, key, _), (_, again, key_again, _)] = sent.records
    event = AvroCodec().decode(value)
    assert topic == "t.cx.touchpoints" and value == again and key == key_again
    assert event["customer_id"] == PSEUDO_42 and key == PSEUDO_42.encode()  # keyed by customer
    assert event["comment"] == "gọi [phone] hoặc [email]"


def test_publisher_dead_letters_redacted_with_header(sent: _Sent) -> None:
    publisher = _publisher(KEY)
    bad = {**EVENT, "csat": 9, "member_no": "M-001122"}
    assert not publisher.publish_object(bad, orjson.dumps(bad))
    assert not publisher.publish_json(b'{"customer_id": "cust-42", oops')
    [(topic, value, _, headers), (_, junk, _, _)] = sent.records
    assert topic == "t.cx.dlq" and headers["cx.redacted"] == b"1" and headers["cx.reason"] == b"unknown_field"
    member = pseudonymise("M-001122", KEY)
    assert orjson.loads(value) == {**bad, "customer_id": PSEUDO_42, "member_no": member,
                                   "comment": "gọi [phone] hoặc [email]"}
    assert junk == f'{{"customer_id": "{PSEUDO_42}", oops'.encode()


def test_keyless_publisher_refuses_raw_customer_ids(sent: _Sent) -> None:
    publisher = _publisher(None)
    assert not publisher.publish_object(EVENT, orjson.dumps(EVENT))
    assert publisher.publish_object({**EVENT, "customer_id": None}, b"")
    assert publisher.publish_object({**EVENT, "customer_id": PSEUDO_42}, b"")
    dead = sent.records[0]
    assert dead[3]["cx.reason"] == UNPROTECTED_CUSTOMER_ID.encode()
    assert b"cust-42" not in dead[1] and b"0912" not in dead[1]
    assert publisher.summary.accepted == 2


def test_hex_ids_are_not_mistaken_for_phones_or_cards() -> None:
    """A file's SHA-256 in a dead letter's event id once lost a digit run to [phone] (a test flake)."""
    sha = "3f" + "0912345678" + "ab" * 26
    card_like = "4111111111111111" + "c" * 16
    assert redact(f"rp/minimart/{sha}/1 or {card_like}") == f"rp/minimart/{sha}/1 or {card_like}"
    assert redact(f"{sha} call 0912345678") == f"{sha} call [phone]"
