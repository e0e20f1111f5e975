"""What the simulator does for the CX layer: CLV attributes, complaints and recoveries, the fix scenario."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from connectors.simulator import fix_time, generate_events
from connectors.simulator.customers import customer_clv

DAY0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY_MS = 86_400_000
Event = dict[str, Any]


@pytest.fixture(scope="module")
def month() -> list[Event]:
    return list(generate_events("steady", 11, DAY0, 30 * 86_400, 0.05))


def is_problem(e: Event) -> bool:
    nps = e["nps"] if e["nps"] is not None else 10
    response = e["kind"] == "response" and ((e["csat"] or 5) <= 2 or nps <= 6 or (e["ces"] or 7) <= 3)
    return response or (e["kind"] == "contact" and e["complaint"])


def test_customers_carry_one_clv_each_on_most_crm_channels(month: list[Event]) -> None:
    clvs: dict[str, set[str]] = defaultdict(set)
    crm = [e for e in month if e["customer_id"] and e["channel"] in ("web", "call_center", "email")]
    for e in crm:
        if "clv" in e["attributes"]:
            clvs[e["customer_id"]].add(e["attributes"]["clv"])
    assert 0.7 < sum("clv" in e["attributes"] for e in crm) / len(crm) < 0.9
    assert all(len(values) == 1 for values in clvs.values())  # a customer's CLV is one value
    assert all(float(next(iter(v))) == customer_clv(c) > 0 for c, v in clvs.items())
    assert not any("clv" in e["attributes"] for e in month if e["channel"] == "kiosk")
    values = sorted(customer_clv(c) for c in clvs)
    assert 100 < values[len(values) // 2] < 500  # a plausible median lifetime value


def test_unhappy_customers_complain_and_recover_or_stay_silent(month: list[Event]) -> None:
    by_customer: dict[str, list[Event]] = defaultdict(list)
    for e in month:
        if e["customer_id"]:
            by_customer[e["customer_id"]].append(e)
    complained, recovered_complainants, silent = 0, 0, 0
    for events in by_customer.values():
        events.sort(key=lambda e: e["occurred_at"])
        problems = [e["occurred_at"] for e in events if is_problem(e)]
        if not problems:
            continue
        happy_after = any(e["kind"] == "response" and (e["csat"] or 0) >= 4
                          and problems[-1] < e["occurred_at"] <= problems[-1] + 30 * DAY_MS for e in events)
        if any(e["kind"] == "contact" and e["complaint"] for e in events):
            complained += 1
            recovered_complainants += happy_after
        else:
            silent += 1
    assert complained > 50 and silent > 2 * complained  # most unhappy customers never complain
    assert 0.2 < recovered_complainants / complained < 0.8
    followups = [e for e in month if e["touchpoint"] == "followup_survey"]
    assert followups and all((e["csat"] or 0) >= 4 for e in followups)
    assert any(e["contact_reason"] == "complaint" and e["complaint"] for e in month)


def test_the_fix_scenario_improves_its_touchpoint_from_the_fix_on_only() -> None:
    duration = 4 * 86_400
    events = list(generate_events("fix", 5, DAY0, duration, 0.3))
    at = fix_time(DAY0, duration)
    assert at == DAY0 + duration * 500

    def csat(channel: str, touchpoint: str, after: bool) -> float:
        scores = [e["csat"] for e in events if (e["channel"], e["touchpoint"]) == (channel, touchpoint)
                  and e["csat"] is not None and (e["occurred_at"] >= at) == after]
        return 100 * sum(s >= 4 for s in scores) / len(scores)

    assert csat("web", "order_status", True) - csat("web", "order_status", False) > 10
    assert abs(csat("web", "checkout", True) - csat("web", "checkout", False)) < 5
    steady = list(generate_events("steady", 5, DAY0, duration, 0.3))
    assert len(steady) == pytest.approx(len(events), rel=0.05)
