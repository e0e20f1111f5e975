"""Vietnamese national ids and bank accounts are redacted by their labels and formats, with and
without diacritics; labelled order numbers, prices and dates stay readable."""

from __future__ import annotations

import pytest

from connectors.sdk.privacy import protect_event
from schemas.redaction import fold, redact

KEY = "k" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # CCCD (12 digits), with its label, with and without diacritics, grouped or not
        ("Số CCCD của tôi là 079203001234 nhé", "Số CCCD của tôi là [national_id] nhé"),
        ("so cccd cua toi la 079203001234 nhe", "so cccd cua toi la [national_id] nhe"),
        ("Căn cước công dân: 001 099 012 345", "Căn cước công dân: [national_id]"),
        ("can cuoc cong dan: 001.099.012.345", "can cuoc cong dan: [national_id]"),
        ("số định danh cá nhân 036185004321", "số định danh cá nhân [national_id]"),
        # a bare number shaped like a CCCD (province 079, born 2003)
        ("em gửi 079203001234 để xác minh", "em gửi [national_id] để xác minh"),
        # CMND (9 digits) only with its label
        ("CMND 025123456", "CMND [national_id]"),
        ("chứng minh nhân dân số 123456789", "chứng minh nhân dân số [national_id]"),
        ("chung minh nhan dan so 123 456 789", "chung minh nhan dan so [national_id]"),
        ("CMT: 025.123.456, sđt 0912345678", "CMT: [national_id], sđt [phone]"),
        ("hộ chiếu B1234567", "hộ chiếu [national_id]"),
        ("ho chieu so C7654321", "ho chieu so [national_id]"),
        # bank accounts by label or bank name, any grouping, any case
        ("STK Vietcombank 0071 0001 23456", "STK Vietcombank [account]"),
        ("Số tài khoản: 19036677889012 (Techcombank)", "Số tài khoản: [account] (Techcombank)"),
        ("so tai khoan 19036677889012 techcombank", "so tai khoan [account] techcombank"),
        ("chuyển vào tk 123456789 giúp em", "chuyển vào tk [account] giúp em"),
        ("BIDV 2131-0000-123456 chủ tk Nguyễn Văn A", "BIDV [account] chủ tk Nguyễn Văn A"),
        ("account number: 000123456789", "account number: [account]"),
        ("IBAN DE89 3704 0044 0532 0130 00", "IBAN [account]"),
    ],
)
def test_national_ids_and_accounts_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected  # twice changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "Mã đơn hàng 079203001234 giao chậm",  # looks like a CCCD, but labelled as an order
        "ma don hang 079203001234 giao cham",
        "đơn hàng #DH2026112401 chưa tới",
        "mã vận đơn 0123456789 sai địa chỉ",
        "hóa đơn số 0007123456 bị tính hai lần",
        "order number 123456789012 was late",
        "tài khoản bị khóa, đơn hàng 12345",  # an account label, but no number after it
        "Giá 1.250.000 đ, hơi đắt",
        "ngày 12/05/2024 lúc 09:30",
        "mã 123456789012 không hợp lệ",  # 12 digits, not a CCCD's shape (no province 123)
        "tôi cho 5 sao, 10 điểm",
    ],
)
def test_order_numbers_prices_and_dates_stay(text: str) -> None:
    assert redact(text) == text


def test_fold_keeps_offsets() -> None:
    text = "Số Tài Khoản ĐƠN hàng"
    assert fold(text) == "so tai khoan don hang"
    assert len(fold(text)) == len(text)


def test_events_are_protected_with_the_new_rules() -> None:
    event = {"event_id": "e1", "customer_id": "cust-1", "comment": "CCCD 079203001234, STK 0071000123456",
             "attributes": {"note": "CMND 025123456"}}
    out = protect_event(event, KEY)
    assert out["comment"] == "CCCD [national_id], STK [account]"
    assert out["attributes"]["note"] == "CMND [national_id]"
