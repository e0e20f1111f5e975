import math

from streams.alerts.detector import (
    Detector,
    DetectorParams,
    MinuteHistory,
    lower_tail,
    scopes_of,
    wilson,
)

T0 = 1_795_478_400


def test_exact_lower_tail_matches_a_brute_force_sum() -> None:
    n, p = 30, 0.8
    brute = sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(0, 19))
    assert math.isclose(lower_tail(18, n, p), brute, rel_tol=1e-9)
    assert lower_tail(30, 30, 0.8) == 1.0 or math.isclose(lower_tail(30, 30, 0.8), 1.0)


def test_wilson_interval_contains_the_share() -> None:
    low, high = wilson(40, 50)
    assert low < 80 < high and 0 <= low and high <= 100


def test_scopes_of_a_row() -> None:
    assert scopes_of("kiosk", "store_entrance", "", "k1") == [
        ("channel", "kiosk"), ("channel_touchpoint", "kiosk/store_entrance"), ("location", "k1")]


def feed(history: MinuteHistory, start: int, minutes: int, per_min: int, satisfied: int) -> None:
    for m in range(minutes):
        history.add(start + 60 * m, "web", "checkout", "", "", per_min, satisfied)


def test_a_clear_drop_fires_once_with_evidence_and_resolves_once() -> None:
    params = DetectorParams()
    history = MinuteHistory()
    feed(history, T0, 360, 30, 24)                    # 6 h at 80 %
    feed(history, T0 + 360 * 60, 30, 30, 15)          # 30 min at 50 %
    feed(history, T0 + 390 * 60, 90, 30, 24)          # back to 80 %
    detector = Detector(params, board_url="http://grafana:3000/")
    alerts = []
    for end in range(T0 + 300 * 60, T0 + 480 * 60 + 1, 60):
        alerts += detector.evaluate(end, history.window_counts(end, params))
    web = [a for a in alerts if a["scope"] == "web"]
    assert [a["status"] for a in web] == ["FIRING", "RESOLVED"]
    firing = web[0]
    assert T0 + 360 * 60 < firing["at"] <= T0 + 370 * 60
    assert firing["baseline_pct"] == 80.0 and firing["recent_pct"] < 70
    assert firing["recent_interval"][1] < firing["baseline_pct"]
    assert firing["effect_pts"] >= params.min_effect_pts
    assert firing["link"] == "http://grafana:3000/d/cxpulse-ops-overview?var-channel=web"
    assert web[1]["at"] <= T0 + 390 * 60 + 30 * 60
    assert web[1]["alert_id"] == firing["alert_id"]


def test_noise_and_small_samples_do_not_fire() -> None:
    params = DetectorParams()
    history = MinuteHistory()
    for m in range(360):  # a kiosk: 2 presses a minute, 75 % happy
        history.add(T0 + 60 * m, "kiosk", "store_entrance", "", "k1", 2, 2 if m % 2 else 1)
    for m in range(360, 370):  # ten minutes at 50 %: a dip well inside chance at this volume
        history.add(T0 + 60 * m, "kiosk", "store_entrance", "", "k1", 2, 1)
    detector = Detector(params)
    for end in range(T0 + 300 * 60, T0 + 371 * 60, 60):
        assert detector.evaluate(end, history.window_counts(end, params)) == []


def test_a_small_dip_below_the_minimum_effect_does_not_fire() -> None:
    params = DetectorParams()
    history = MinuteHistory()
    feed(history, T0, 360, 400, 320)                  # 80 %
    feed(history, T0 + 360 * 60, 30, 400, 300)        # 75 %: significant, but only 5 points
    detector = Detector(params)
    for end in range(T0 + 300 * 60, T0 + 391 * 60, 60):
        assert detector.evaluate(end, history.window_counts(end, params)) == []
