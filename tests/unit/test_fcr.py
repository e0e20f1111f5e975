"""FCR outcomes (METRICS.md) — hand-made chains, and a property test against a brute-force reference."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.fcr.outcomes import DAY_MS, KeyState, outcomes, prune
from streams.fcr.processor import FCR_COLUMNS, FcrProcessor

R = 7 * DAY_MS
LATENESS = 7 * DAY_MS
T0 = 1_795_000_000_000


def contact(eid: str, at: int, resolved: bool = True, customer: str = "c1", reason: str = "billing",
            channel: str = "web", lateness: int = 0) -> dict[str, Any]:
    return {"event_id": eid, "occurred_at": at, "received_at": at + lateness, "channel": channel,
            "source": "t", "kind": "contact", "touchpoint": "chat", "journey_stage": "support",
            "customer_id": customer, "contact_reason": reason, "resolved": resolved,
            "partner_id": "", "location_id": "", "region": "", "agent_id": "a1", "csat": None}


def final_rows(rows: list[tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
    """What ClickHouse keeps: per event_id, the row of the highest version."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        named = dict(zip(FCR_COLUMNS, row, strict=True))
        if named["event_id"] not in latest or named["version"] >= latest[named["event_id"]]["version"]:
            latest[named["event_id"]] = named
    return latest


def roles(rows: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {eid: ("repeat" if not r["is_first"] else "failure" if r["failed"] else "open")
            for eid, r in rows.items()}


def run(batches: list[list[dict[str, Any]]]) -> dict[str, str]:
    processor = FcrProcessor({})
    rows: list[tuple[Any, ...]] = []
    for batch in batches:
        rows += processor.process(batch)
    return roles(final_rows(rows))


def test_resolved_chat_then_call_two_days_later_fails_and_the_call_is_a_repeat() -> None:
    assert run([[contact("chat", T0, channel="chat")],
                [contact("call", T0 + 2 * DAY_MS, channel="call_center")]]) == {
        "chat": "failure", "call": "repeat"}


def test_repeat_after_eight_days_is_a_new_first_contact() -> None:
    assert run([[contact("a", T0)], [contact("b", T0 + 8 * DAY_MS)]]) == {"a": "open", "b": "open"}


def test_unresolved_contact_fails_at_once() -> None:
    assert run([[contact("a", T0, resolved=False)]]) == {"a": "failure"}


def test_repeat_arriving_before_the_first() -> None:
    assert run([[contact("b", T0 + DAY_MS)], [contact("a", T0)]]) == {"a": "failure", "b": "repeat"}


def test_late_repeat_turns_a_success_into_a_failure() -> None:
    first = contact("a", T0)
    late = contact("b", T0 + 6 * DAY_MS, lateness=5 * DAY_MS)  # arrives after a's window closed
    assert run([[first], [late]]) == {"a": "failure", "b": "repeat"}


def test_equal_times_are_ordered_by_event_id_and_keys_are_independent() -> None:
    same = [contact("b", T0), contact("a", T0), contact("x", T0, customer="c2")]
    assert run([same]) == {"a": "failure", "b": "repeat", "x": "open"}


def test_boundaries_are_inclusive() -> None:
    assert run([[contact("a", T0), contact("b", T0 + R)]]) == {"a": "failure", "b": "repeat"}
    assert run([[contact("a", T0), contact("b", T0 + R + 1)]]) == {"a": "open", "b": "open"}


def test_state_is_dropped_once_it_cannot_matter() -> None:
    store: dict[str, Any] = {}
    processor = FcrProcessor(store)
    processor.process([contact("a", T0)])
    assert len(store) == 1
    processor.process([contact("z", T0 + 20 * DAY_MS, customer="other")])
    assert processor.sweep() == 1
    assert list(store) == ["other\x1fbilling"]
    assert prune([], T0) == []


def test_key_state_round_trips_through_json() -> None:
    state = KeyState([(T0, "a", True, "web", "chat", "support", "", "", "", "a1")], True)
    assert KeyState.from_json(state.to_json()) == state
    assert outcomes(state.contacts)[0].decides_at == T0 + R


def reference(contacts: list[dict[str, Any]]) -> dict[str, str]:
    """METRICS.md, brute force: every pair compared, nothing incremental."""
    result = {}
    for c in contacts:
        same = [d for d in contacts if d["customer_id"] == c["customer_id"]
                and d["contact_reason"] == c["contact_reason"] and d is not c]
        order = (c["occurred_at"], c["event_id"])
        earlier = [d for d in same if (d["occurred_at"], d["event_id"]) < order
                   and d["occurred_at"] >= c["occurred_at"] - R]
        later = [d for d in same if (d["occurred_at"], d["event_id"]) > order
                 and d["occurred_at"] <= c["occurred_at"] + R]
        if earlier:
            result[c["event_id"]] = "repeat"
        else:
            result[c["event_id"]] = "open" if c["resolved"] and not later else "failure"
    return result


contact_sets = st.lists(
    st.tuples(st.sampled_from(["c1", "c2"]), st.sampled_from(["billing", "delivery"]),
              st.integers(0, 40 * 24), st.booleans()),
    min_size=1, max_size=25,
)
HOUR = 3_600_000


@settings(max_examples=150, deadline=None)
@given(items=contact_sets, data=st.data())
def test_outcomes_do_not_depend_on_arrival_order_or_batching(
        items: list[tuple[str, str, int, bool]], data: st.DataObject) -> None:
    """The same contacts, each arriving any time within the accepted lateness, in any batches."""
    base = [contact(f"e{i:02d}", T0 + hours * HOUR, resolved, customer, reason)
            for i, (customer, reason, hours, resolved) in enumerate(items)]
    expected = reference(base)
    for _ in range(3):
        late_hours = data.draw(st.lists(st.integers(0, LATENESS // HOUR), min_size=len(base),
                                        max_size=len(base)))
        # Arrival follows received_at, give or take half a day (partitions, connector clocks).
        skew = data.draw(st.lists(st.integers(-12, 12), min_size=len(base), max_size=len(base)))
        arrived = [{**c, "received_at": c["occurred_at"] + h * HOUR}
                   for c, h in zip(base, late_hours, strict=True)]
        order = [c for _, c in sorted(zip(skew, arrived, strict=True),
                                      key=lambda p: p[1]["received_at"] + p[0] * HOUR)]
        cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=5)))
        batches = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)]
        assert run([b for b in batches if b]) == expected
