import hashlib
import hmac
import unicodedata

import pytest
from pydantic import SecretStr

from connectors.sdk.privacy import PrivacyKey, luhn_valid, protect_event, pseudonymise, redact

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
