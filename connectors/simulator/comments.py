"""What simulated customers write: comments about the touchpoint they used, in their tone.

A comment starts from the generic phrase of its tone (``model.COMMENTS``, drawn from the run's main
generator as before); this module, drawing from a generator of its own so the rest of a seeded run
is unchanged, makes it sound like real feedback:

- most comments talk about the touchpoint (``TOPICS``): unhappy checkout answers mention payment
  errors and discount codes, order status ones slow delivery and tracking, partner stores stock-outs
  and queues; so the terms unhappy customers use differ by touchpoint;
- some mix tones ("... nhưng ..."), as people do, so sentiment is not a lookup;
- many Vietnamese comments are typed without diacritics ("giao hang cham");
- from ``emerging_from_ms`` on, unhappy app and checkout customers start reporting the e-wallet
  payment freezing (:data:`EMERGING`): a term that is new this week.
"""

from __future__ import annotations

import random
import unicodedata
from typing import Final

_VI, _EN = "vi", "en"
TOPICS: Final[dict[str, dict[tuple[str, str], tuple[str, ...]]]] = {
    "checkout": {
        (_VI, "bad"): ("Thanh toán bị lỗi nhiều lần", "Không áp dụng được mã giảm giá",
                       "Phí vận chuyển quá cao"),
        (_EN, "bad"): ("Payment failed at checkout", "Discount code did not work", "Shipping fee too high"),
        (_VI, "good"): ("Thanh toán nhanh gọn", "Áp dụng mã giảm giá dễ dàng"),
        (_EN, "good"): ("Checkout was quick", "Easy to apply the discount code"),
    },
    "order_status": {
        (_VI, "bad"): ("Giao hàng chậm, không cập nhật trạng thái đơn", "Không biết đơn hàng đang ở đâu",
                       "Shipper không gọi trước khi giao"),
        (_EN, "bad"): ("Delivery was slow and tracking never updated", "No idea where my order is",
                       "Courier did not call before delivery"),
        (_VI, "good"): ("Theo dõi đơn hàng rõ ràng", "Giao hàng đúng hẹn"),
        (_EN, "good"): ("Tracking was clear", "Delivered on time"),
    },
    "agent_support": {
        (_VI, "bad"): ("Chờ máy quá lâu", "Nhân viên không giải quyết được vấn đề", "Phải gọi lại nhiều lần"),
        (_EN, "bad"): ("Waited too long on hold", "Had to call back several times",
                       "Agent could not solve my problem"),
        (_VI, "good"): ("Nhân viên tư vấn nhiệt tình", "Giải quyết ngay trong cuộc gọi đầu"),
        (_EN, "good"): ("Agent was friendly and solved it", "Fixed on the first call"),
    },
    "partner_store": {
        (_VI, "bad"): ("Cửa hàng hết hàng", "Nhân viên cửa hàng thiếu thân thiện", "Xếp hàng thanh toán lâu"),
        (_EN, "bad"): ("Store was out of stock", "Long queue at the till", "Staff were unfriendly"),
        (_VI, "good"): ("Cửa hàng sạch sẽ, dễ tìm đồ", "Nhân viên cửa hàng thân thiện"),
        (_EN, "good"): ("Store was tidy", "Friendly staff in the store"),
    },
    "product_page": {
        (_VI, "bad"): ("Mô tả sản phẩm không rõ ràng", "Hình ảnh khác thực tế"),
        (_EN, "bad"): ("Product description unclear", "Photos look different from the product"),
        (_VI, "good"): ("Sản phẩm đúng như mô tả", "Hình ảnh rõ nét"),
        (_EN, "good"): ("Exactly as described", "Clear product photos"),
    },
    "app_home": {
        (_VI, "bad"): ("Ứng dụng chạy chậm", "Đăng nhập ứng dụng bị lỗi"),
        (_EN, "bad"): ("App is slow", "Cannot log in to the app"),
        (_VI, "good"): ("Ứng dụng dễ dùng",),
        (_EN, "good"): ("App is easy to use",),
    },
    "nps_survey": {
        (_VI, "bad"): ("Giá cao hơn chỗ khác", "Chương trình khuyến mãi khó hiểu"),
        (_EN, "bad"): ("Prices higher than elsewhere", "Confusing promotions"),
        (_VI, "good"): ("Sẽ giới thiệu cho bạn bè", "Giá hợp lý"),
        (_EN, "good"): ("Would recommend to friends", "Fair prices"),
    },
}
TOPICS["app_checkout"] = TOPICS["checkout"]
TOPICS["live_chat"] = TOPICS["agent_support"]
EMERGING: Final = {_VI: "Ứng dụng bị treo khi thanh toán bằng ví điện tử",
                   _EN: "App freezes when paying with the e-wallet"}
EMERGING_TOUCHPOINTS: Final = frozenset({"checkout", "app_checkout", "app_home"})
TOPIC_SHARE: Final = 0.7
MIXED_SHARE: Final = 0.12
WITHOUT_DIACRITICS_SHARE: Final = 0.3
EMERGING_SHARE: Final = 0.5
_BUT: Final = {_VI: "nhưng", _EN: "but"}
_OPPOSITE: Final = {"good": "bad", "bad": "good", "neutral": "bad"}


def without_diacritics(text: str) -> str:
    """``text`` as typed on a keyboard without Vietnamese input: "Giao hàng chậm" -> "Giao hang cham"."""
    stripped = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return stripped.replace("đ", "d").replace("Đ", "D")


def _fragment(rng: random.Random, language: str, tone: str, touchpoint: str, base: str) -> str:
    topic = TOPICS.get(touchpoint, {}).get((language, tone))
    return rng.choice(topic) if topic and rng.random() < TOPIC_SHARE else base


def compose(rng: random.Random, language: str, tone: str, base: str, touchpoint: str,
            emerging: bool) -> str:
    """A comment of ``tone`` about ``touchpoint``; ``base`` is the generic phrase already drawn."""
    if emerging and tone == "bad" and touchpoint in EMERGING_TOUCHPOINTS and rng.random() < EMERGING_SHARE:
        text = EMERGING.get(language, EMERGING[_EN])
    else:
        text = _fragment(rng, language, tone, touchpoint, base)
    if rng.random() < MIXED_SHARE:
        other = _fragment(rng, language, _OPPOSITE[tone], touchpoint, "")
        if other:
            text = f"{text}, {_BUT.get(language, 'but')} {other[0].lower()}{other[1:]}"
    if language == _VI and rng.random() < WITHOUT_DIACRITICS_SHARE:
        text = without_diacritics(text).lower()
    return text
