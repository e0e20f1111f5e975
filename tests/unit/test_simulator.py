"""The simulator behind ``cxpulse simulate``: deterministic, valid, and realistic in the ways we rely on."""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.simulator import (
    SCENARIOS,
    SimulationOptions,
    generate_events,
    incident_window,
    run_simulation,
)
from schemas.event import FIELDS, validate_event

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
DAY0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z: a midnight, so hours of the day are easy to read

Event = dict[str, Any]


@pytest.fixture(scope="module")
def one_day() -> list[Event]:
    """A full UTC day at a mean 0.5 events/s (~43k events)."""
    return list(generate_events("steady", 7, DAY0, 86_400, 0.5))


@pytest.fixture(scope="module")
def ten_days() -> list[Event]:
    """Long enough for customers to come back after more than 7 days."""
    return list(generate_events("steady", 8, DAY0, 10 * 86_400, 0.01))


def csat_pct(events: list[Event]) -> float:
    scored = [e["csat"] for e in events if e["csat"] is not None]
    assert scored, "no CSAT responses to compute a percentage from"
    return float(sum(score >= 4 for score in scored) / len(scored) * 100)


def test_same_seed_same_events_and_other_seeds_differ() -> None:
    first = list(generate_events("incident", 42, DAY0 + 9 * HOUR_MS, 3600, 1.0))
    again = list(generate_events("incident", 42, DAY0 + 9 * HOUR_MS, 3600, 1.0))
    other = list(generate_events("incident", 43, DAY0 + 9 * HOUR_MS, 3600, 1.0))
    assert first and first == again
    assert [orjson.dumps(e) for e in first] != [orjson.dumps(e) for e in other]
    assert all(e["event_id"].startswith("sim-42-") for e in first)


def test_every_event_is_canonical_valid_and_in_received_order(one_day: list[Event]) -> None:
    end_ms = DAY0 + DAY_MS
    for event in one_day:
        assert set(event) == FIELDS
        assert validate_event(event) == event
        assert DAY0 <= event["occurred_at"] < end_ms
        assert 100 <= event["received_at"] - event["occurred_at"] < WEEK_MS
    received = [e["received_at"] for e in one_day]
    assert received == sorted(received)
    assert len({e["event_id"] for e in one_day}) == len(one_day)


def test_most_events_arrive_within_seconds_and_a_few_late_inside_the_run(
        one_day: list[Event]) -> None:
    delays = [e["received_at"] - e["occurred_at"] for e in one_day]
    late = [d for d in delays if d > 60_000]
    assert sum(d <= 3000 for d in delays) / len(delays) > 0.95
    assert late, "expected some late events"
    assert all(e["received_at"] < DAY0 + DAY_MS for e in one_day
               if e["received_at"] - e["occurred_at"] > 3000)


def test_volume_over_a_day_matches_the_mean_rate(one_day: list[Event]) -> None:
    expected = 0.5 * 86_400
    # Poisson: one standard deviation is sqrt(expected) ~ 0.5%; 3% leaves a wide margin
    assert abs(len(one_day) - expected) / expected < 0.03


def test_diurnal_shape_is_quiet_at_night_and_busy_by_day(one_day: list[Event]) -> None:
    per_hour = Counter((e["occurred_at"] - DAY0) // HOUR_MS for e in one_day)
    night = sum(per_hour[h] for h in (2, 3, 4)) / 3
    late_morning = sum(per_hour[h] for h in (10, 11, 12)) / 3
    evening = sum(per_hour[h] for h in (19, 20, 21)) / 3
    assert night * 3 < late_morning
    assert night * 3 < evening


def test_channels_touchpoints_and_partners_are_varied(one_day: list[Event]) -> None:
    channels = Counter(e["channel"] for e in one_day)
    assert {"web", "call_center", "retail_partner", "kiosk", "mobile_app", "chat", "email"} <= set(channels)
    touchpoints = {(e["channel"], e["touchpoint"]) for e in one_day}
    assert {("web", "checkout"), ("web", "product_page"), ("web", "order_status"),
            ("call_center", "ivr_billing"), ("call_center", "ivr_delivery"),
            ("call_center", "agent_support"), ("retail_partner", "partner_store"),
            ("kiosk", "store_entrance"), ("kiosk", "store_exit"), ("kiosk", "fitting_room")} <= touchpoints
    by_partner: dict[str, list[Event]] = defaultdict(list)
    for e in one_day:
        if e["channel"] == "retail_partner":
            assert e["partner_id"] and e["location_id"] and e["region"]
            by_partner[e["partner_id"]].append(e)
    partner_pcts = [csat_pct(events) for events in by_partner.values()]
    assert len(partner_pcts) >= 3
    assert max(partner_pcts) - min(partner_pcts) > 10


def test_score_mixes_look_like_real_surveys(one_day: list[Event]) -> None:
    csat = Counter(e["csat"] for e in one_day if e["csat"] is not None and e["channel"] != "kiosk")
    responses = sum(csat.values())
    assert 0.65 < (csat[4] + csat[5]) / responses < 0.9
    assert 0.03 < (csat[1] + csat[2]) / responses < 0.25
    nps = [e["nps"] for e in one_day if e["nps"] is not None]
    promoters = sum(s >= 9 for s in nps) / len(nps)
    detractors = sum(s <= 6 for s in nps) / len(nps)
    assert 0.4 < promoters < 0.6 and 0.1 < detractors < 0.3
    ces = [e["ces"] for e in one_day if e["ces"] is not None]
    assert sum(s >= 5 for s in ces) / len(ces) > 0.6
    nps_by_channel = defaultdict(list)
    for e in one_day:
        if e["nps"] is not None:
            nps_by_channel[e["channel"]].append(e["nps"] >= 9)
    shares = [sum(v) / len(v) for v in nps_by_channel.values() if len(v) > 200]
    assert max(shares) - min(shares) > 0.05


def test_kiosks_are_anonymous_smileys(one_day: list[Event]) -> None:
    kiosk = [e for e in one_day if e["channel"] == "kiosk"]
    assert kiosk
    assert {e["csat"] for e in kiosk} == {1, 2, 4, 5}
    for e in kiosk:
        assert e["kind"] == "response" and e["customer_id"] is None
        assert e["nps"] is None and e["ces"] is None and e["comment"] is None
        assert e["location_id"] and e["region"]
    assert len({e["location_id"] for e in kiosk}) > 1


def test_contacts_carry_what_fcr_needs(one_day: list[Event]) -> None:
    contacts = [e for e in one_day if e["kind"] == "contact"]
    assert contacts
    for e in contacts:
        assert e["customer_id"] and e["contact_reason"] and isinstance(e["resolved"], bool)
        assert e["csat"] is None and e["nps"] is None
        if e["channel"] == "call_center":
            assert e["agent_id"]
    resolved = sum(e["resolved"] for e in contacts) / len(contacts)
    complaints = sum(e["complaint"] for e in contacts) / len(contacts)
    assert 0.6 < resolved < 0.8
    assert 0.02 < complaints < 0.1
    assert {"billing", "delivery", "returns", "account", "product_question"} <= {
        e["contact_reason"] for e in contacts}
    reasons_per_customer = defaultdict(set)
    for e in contacts:
        reasons_per_customer[e["customer_id"]].add(e["contact_reason"])
    assert any(len(reasons) > 1 for reasons in reasons_per_customer.values())


def test_customers_contact_again_across_channels_within_and_beyond_seven_days(
        ten_days: list[Event]) -> None:
    threads: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for e in ten_days:
        if e["kind"] == "contact":
            threads[(e["customer_id"], e["contact_reason"])].append(e)
    repeated = [sorted(t, key=lambda e: e["occurred_at"]) for t in threads.values() if len(t) > 1]
    assert repeated
    assert any(len({e["channel"] for e in thread}) > 1 for thread in repeated)
    gaps = [b["occurred_at"] - a["occurred_at"] for t in repeated for a, b in pairwise(t)]
    assert any(gap > WEEK_MS for gap in gaps)
    assert any(gap <= 2 * DAY_MS for gap in gaps)


def test_comments_in_english_and_vietnamese(one_day: list[Event]) -> None:
    commented = [e for e in one_day if e["comment"] is not None]
    assert 0 < len(commented) < len(one_day) / 2
    assert {e["language"] for e in commented} == {"en", "vi"}
    assert any(not e["comment"].isascii() for e in commented if e["language"] == "vi")


def test_incident_drops_web_checkout_csat_in_its_window_only() -> None:
    start, duration = DAY0 + 8 * HOUR_MS, 6 * 3600
    begin, end = incident_window(start, duration)
    assert start < begin < end < start + duration * 1000

    def inside_outside(scenario: str) -> tuple[float, float]:
        checkout = [e for e in generate_events(scenario, 5, start, duration, 0.7)
                    if e["channel"] == "web" and e["touchpoint"] == "checkout"]
        inside = [e for e in checkout if begin <= e["occurred_at"] < end]
        outside = [e for e in checkout if not begin <= e["occurred_at"] < end]
        return csat_pct(inside), csat_pct(outside)

    inside, outside = inside_outside("incident")
    assert outside - inside > 15
    steady_inside, steady_outside = inside_outside("steady")
    assert abs(steady_outside - steady_inside) < 10


def test_unknown_scenario_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="steady") as info:
        list(generate_events("meltdown", 1, DAY0, 60, 1.0))
    assert all(name in str(info.value) for name in SCENARIOS)


def options(**overrides: Any) -> SimulationOptions:
    values: dict[str, Any] = {"rate": 5.0, "duration_s": 600.0, "scenario": "steady", "seed": 3,
                              "output": None, "start_ms": DAY0 + 10 * HOUR_MS}
    values.update(overrides)
    return SimulationOptions(**values)


def test_file_mode_writes_the_generators_events_as_json_lines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.jsonl"
    assert run_simulation(options(output=str(path))) == 0
    lines = path.read_bytes().splitlines()
    events = [orjson.loads(line) for line in lines]
    assert events == list(generate_events("steady", 3, DAY0 + 10 * HOUR_MS, 600, 5.0))
    assert all(validate_event(e) == e for e in events)
    assert f"wrote {len(lines)} events to {path}" in capsys.readouterr().out


def test_file_mode_to_stdout_keeps_stdout_pure_json(capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    assert run_simulation(options(output="-", duration_s=60.0)) == 0
    captured = capfdbinary.readouterr()
    lines = captured.out.splitlines()
    assert lines and all(validate_event(orjson.loads(line)) for line in lines)
    assert f"wrote {len(lines)} events to stdout".encode() in captured.err


@pytest.mark.parametrize(("overrides", "message"), [
    ({"duration_s": 0.0}, "duration"),
    ({"scenario": "meltdown"}, "incident"),
    ({"rate": 0.0}, "rate"),
])
def test_bad_options_are_rejected_before_anything_runs(
        tmp_path: Path, overrides: dict[str, Any], message: str) -> None:
    path = tmp_path / "never.jsonl"
    with pytest.raises(ValueError, match=message):
        run_simulation(options(output=str(path), **overrides))
    assert not path.exists()
