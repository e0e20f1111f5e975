"""The simulated company behind ``cxpulse simulate``: its channels, touchpoints, partners and people.

Pure data plus samplers. Every draw goes through the ``random.Random`` passed in, never the global
generator, so a seed fixes the whole output. Shares are probabilities in 0..1; a touchpoint's
``satisfied`` share is the expected CSAT % / 100 of its responses before partner, location and
incident effects.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from itertools import accumulate

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Touchpoint:
    """Where a survey is answered: which scores it asks and how happy people there tend to be."""

    name: str
    journey_stage: str
    weight: float
    satisfied: float
    nps_share: float = 0.0
    ces_share: float = 0.0
    asks_csat: bool = True


@dataclass(frozen=True)
class Partner:
    """A retail partner: its stores differ, and so do its customers' CSAT and NPS."""

    partner_id: str
    weight: float
    satisfied: float
    promoters: float
    passives: float
    stores: tuple[tuple[str, str], ...]  # (location_id, region)


@dataclass(frozen=True)
class KioskLocation:
    """A smiley-button kiosk in one of our own stores."""

    location_id: str
    region: str
    satisfied_offset: float


CHANNEL_WEIGHTS: dict[str, float] = {
    "web": 30, "call_center": 18, "retail_partner": 15, "kiosk": 20, "mobile_app": 8, "chat": 6,
    "email": 3,
}
CONTACT_SHARE: dict[str, float] = {
    "web": 0.08, "call_center": 0.75, "retail_partner": 0.15, "kiosk": 0.0, "mobile_app": 0.15,
    "chat": 0.6, "email": 0.5,
}
"""Share of a channel's events that are contacts; the rest are survey responses."""

RESPONSE_TOUCHPOINTS: dict[str, tuple[Touchpoint, ...]] = {
    # checkout carries most web answers, so a checkout incident shows on the web channel as well
    "web": (Touchpoint("checkout", "purchase", 6, 0.82, nps_share=0.1, ces_share=0.4),
            Touchpoint("product_page", "consideration", 3, 0.80),
            Touchpoint("order_status", "delivery", 2, 0.72, ces_share=0.5)),
    "call_center": (Touchpoint("agent_support", "support", 1, 0.72, nps_share=0.2, ces_share=0.6),),
    "retail_partner": (Touchpoint("partner_store", "purchase", 1, 0.75, nps_share=0.4),),
    "kiosk": (Touchpoint("store_entrance", "awareness", 3, 0.82),
              Touchpoint("store_exit", "purchase", 4, 0.78),
              Touchpoint("fitting_room", "consideration", 2, 0.68)),
    "mobile_app": (Touchpoint("app_checkout", "purchase", 2, 0.84, ces_share=0.3),
                   Touchpoint("app_home", "usage", 1, 0.80, nps_share=0.3)),
    "chat": (Touchpoint("live_chat", "support", 1, 0.76, ces_share=0.5),),
    "email": (Touchpoint("nps_survey", "loyalty", 1, 0.75, nps_share=1.0, asks_csat=False),),
}
NPS_MIX: dict[str, tuple[float, float]] = {
    "web": (0.50, 0.30), "call_center": (0.40, 0.30), "mobile_app": (0.56, 0.29),
    "chat": (0.45, 0.30), "email": (0.48, 0.32),
}
"""(promoters, passives) per channel; detractors are the rest. Partners have their own mix."""

PARTNERS: tuple[Partner, ...] = (
    Partner("partner-bigmart", 4, 0.85, 0.58, 0.28,
            (("bigmart-hcm-01", "south"), ("bigmart-hn-01", "north"), ("bigmart-dn-01", "central"))),
    Partner("partner-citystore", 3, 0.77, 0.50, 0.30,
            (("citystore-hcm-02", "south"), ("citystore-hn-03", "north"))),
    Partner("partner-quickshop", 2, 0.66, 0.40, 0.32, (("quickshop-hcm-05", "south"),)),
    Partner("partner-valuehub", 1, 0.57, 0.32, 0.33,
            (("valuehub-hn-07", "north"), ("valuehub-ct-01", "south"))),
)
KIOSK_LOCATIONS: tuple[KioskLocation, ...] = (
    KioskLocation("kiosk-hcm-q1", "south", 0.02),
    KioskLocation("kiosk-hcm-q7", "south", 0.0),
    KioskLocation("kiosk-hn-hoankiem", "north", 0.03),
    KioskLocation("kiosk-hn-caugiay", "north", -0.04),
    KioskLocation("kiosk-dn-haichau", "central", -0.01),
)
CONTACT_REASONS: dict[str, float] = {
    "billing": 25, "delivery": 25, "returns": 15, "product_question": 15, "account": 12,
    "technical_issue": 8,
}
_CONTACT_TOUCHPOINT = {
    "web": "help_center", "retail_partner": "partner_store", "mobile_app": "in_app_help",
    "chat": "live_chat", "email": "support_mailbox",
}
_IVR = {"billing": "ivr_billing", "delivery": "ivr_delivery"}

COMMENTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("vi", "good"): ("Nhân viên rất nhiệt tình", "Giao hàng nhanh, đóng gói cẩn thận",
                     "Thanh toán dễ dàng", "Sản phẩm đúng như mô tả", "Cửa hàng sạch sẽ, dễ tìm đồ"),
    ("vi", "neutral"): ("Tạm được", "Bình thường, không có gì đặc biệt"),
    ("vi", "bad"): ("Chờ quá lâu mới gặp được nhân viên", "Giao hàng trễ hai ngày",
                    "Không thanh toán được bằng thẻ", "Nhân viên không giải quyết được vấn đề",
                    "Phải gọi lại nhiều lần"),
    ("en", "good"): ("Friendly and helpful staff", "Quick delivery, well packed", "Checkout was easy",
                     "Exactly as described", "Solved my problem on the first call"),
    ("en", "neutral"): ("It was okay", "Nothing special"),
    ("en", "bad"): ("Waited too long on hold", "Payment failed twice at checkout",
                    "Delivery was late again", "Nobody could answer my question",
                    "Had to explain my issue three times"),
}
COMMENT_SHARE = 0.15
COMPLAINT_COMMENT_SHARE = 0.4
VIETNAMESE_SHARE = 0.6


def cumulative(weights: dict[str, float] | tuple[float, ...]) -> list[float]:
    """Cumulative weights for ``random.Random.choices(..., cum_weights=...)`` (built once, reused)."""
    values = weights.values() if isinstance(weights, dict) else weights
    return list(accumulate(values))


def contact_touchpoint(channel: str, reason: str) -> tuple[str, str]:
    """(touchpoint, journey_stage) of a contact: billing and delivery calls enter through their IVR."""
    stage = "delivery" if reason == "delivery" else "support"
    if channel == "call_center":
        return _IVR.get(reason, "agent_support"), stage
    return _CONTACT_TOUCHPOINT.get(channel, "support"), stage


def clamp_share(share: float) -> float:
    """Keep a share a probability even after several effects stack up."""
    return min(0.98, max(0.02, share))


def sample_csat(rng: random.Random, satisfied: float) -> int:
    """CSAT 1-5: mostly 4-5, with a tail of 1-2; P(score >= 4) = ``satisfied``."""
    if rng.random() < satisfied:
        return 5 if rng.random() < 0.6 else 4
    u = rng.random()
    return 3 if u < 0.4 else 2 if u < 0.65 else 1


def sample_smiley(rng: random.Random, satisfied: float) -> int:
    """A kiosk's four smiley buttons map to CSAT 1, 2, 4, 5 (METRICS.md); there is no 3."""
    if rng.random() < satisfied:
        return 5 if rng.random() < 0.55 else 4
    return 2 if rng.random() < 0.55 else 1


_DETRACTOR_CUM = list(accumulate((1, 1, 1, 2, 3, 5, 7)))  # detractors mostly give 5-6, rarely 0


def sample_nps(rng: random.Random, promoters: float, passives: float) -> int:
    """NPS 0-10 with the given promoter (9-10) and passive (7-8) shares."""
    u = rng.random()
    if u < promoters:
        return 10 if rng.random() < 0.45 else 9
    if u < promoters + passives:
        return 8 if rng.random() < 0.55 else 7
    return rng.choices(range(7), cum_weights=_DETRACTOR_CUM)[0]


_CES_EASY_CUM = list(accumulate((3, 4, 6, 12, 20, 28, 27)))
_CES_HARD_CUM = list(accumulate((6, 8, 11, 17, 22, 21, 15)))


def sample_ces(rng: random.Random, hard: bool) -> int:
    """CES 1-7 (7 = very easy), skewed easy; phone support is a little harder."""
    return rng.choices(range(1, 8), cum_weights=_CES_HARD_CUM if hard else _CES_EASY_CUM)[0]


def mood(csat: int | None, nps: int | None) -> str:
    """How a comment should sound for these scores: good, neutral or bad (no score: a complaint)."""
    if csat is not None:
        return "good" if csat >= 4 else "neutral" if csat == 3 else "bad"
    if nps is not None:
        return "good" if nps >= 9 else "neutral" if nps >= 7 else "bad"
    return "bad"


def sample_comment(rng: random.Random, language: str, tone: str, share: float) -> str | None:
    """A short free-text comment in ``language`` and ``tone``, or None (most people skip it)."""
    if rng.random() >= share:
        return None
    return rng.choice(COMMENTS[(language, tone)])


def repeat_gap_ms(rng: random.Random) -> int:
    """How long until a customer contacts again about the same reason: hours, ~2 days or ~8 days.

    The ~8-day share lands beyond the 7-day FCR window on purpose: those are new first contacts.
    """
    u = rng.random()
    if u < 0.35:
        return int(rng.uniform(15 * MINUTE_MS, 8 * HOUR_MS))
    if u < 0.75:
        return int(rng.uniform(1 * DAY_MS, 3 * DAY_MS))
    return int(rng.uniform(7.5 * DAY_MS, 10 * DAY_MS))


def resolve_probability(channel: str, agent_id: str, repeat: bool) -> float:
    """~70% of contacts are resolved; trainees and self-service resolve less, repeats get escalated."""
    share = {"call_center": 0.74, "chat": 0.66, "email": 0.62, "web": 0.58}.get(channel, 0.68)
    if agent_id.endswith(("-001", "-002", "-003", "-004")):  # trainees
        share -= 0.15
    return share + 0.08 if repeat else share


def _diurnal_shape(hour: float) -> float:
    """Quiet at night, a late-morning peak, an afternoon shoulder and an evening peak (UTC hours)."""

    def bump(centre: float, width: float) -> float:
        distance = min(abs(hour - centre), 24 - abs(hour - centre))  # the day wraps around
        return math.exp(-0.5 * (distance / width) ** 2)

    return 0.08 + bump(11, 2.2) + 0.45 * bump(15, 2.5) + 0.85 * bump(20, 2.0)


_SHAPE = [_diurnal_shape(m / 60) for m in range(1440)]
_SHAPE_MEAN = sum(_SHAPE) / len(_SHAPE)
DIURNAL_BY_MINUTE: tuple[float, ...] = tuple(s / _SHAPE_MEAN for s in _SHAPE)
"""Rate factor per minute of the UTC day; its mean over a day is exactly 1."""
DIURNAL_MAX = max(DIURNAL_BY_MINUTE)


def diurnal_factor(t_ms: float) -> float:
    """Traffic at event time ``t_ms`` (epoch ms) relative to the daily mean (1.0 = the mean rate)."""
    return DIURNAL_BY_MINUTE[int(t_ms // MINUTE_MS) % 1440]
