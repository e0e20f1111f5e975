"""FCR outcomes (METRICS.md) — hand-made chains, and a property test against a brute-force reference."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.fcr.outcomes import DAY_MS, contact_from_event, decides_at_s, outcomes
from streams.fcr.processor import FcrProcessor, state_key
from tests.fcr_table import FcrTable, plan

R = 7 * DAY_MS
LATENESS = 7 * DAY_MS
T0 = 1_795_000_000_000


def contact(eid: str, at: int, resolved: bool = True, customer: str = "c1", reason: str = "billing",
            channel: str = "web", lateness: int = 0) -> dict[str, Any]:
    return {"event_id": eid, "occurred_at": at, "received_at": at + lateness, "channel": channel,
            "source": "t", "kind": "contact", "touchpoint": "chat", "journey_stage": "support",
            "customer_id": customer, "contact_reason": reason, "resolved": resolved,
            "partner_id": "", "location_id": "", "region": "", "agent_id": "a1", "csat": None}


def roles(rows: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {eid: ("repeat" if not r["is_first"] else "failure" if r["failed"] else "open")
            for eid, r in rows.items()}


def run(batches: list[list[dict[str, Any]]], cached: int = 1_000, table: FcrTable | None = None,
        forget_after: set[int] = frozenset()) -> dict[str, str]:  # type: ignore[assignment]
    """Batches through one processor (a cache of ``cached`` contacts), committed into ``table``."""
    processor = FcrProcessor(max_cached_contacts=cached)
    table = table or FcrTable()
    for i, batch in enumerate(batches):
        planned = plan(processor, table, batch)
        table.write(planned.rows)
        processor.commit(planned)
        if i in forget_after:  # a restart, a rebalance, a failed write
            processor.forget()
    return roles(table.counted())


def test_resolved_chat_then_call_two_days_later_fails_and_the_call_is_a_repeat() -> None:
    assert run([[contact("chat", T0, channel="chat")],
                [contact("call", T0 + 2 * DAY_MS, channel="call_center")]]) == {
        "chat": "failure", "call": "repeat"}


def test_repeat_after_eight_days_is_a_new_first_contact() -> None:
    assert run([[contact("a", T0)], [contact("b", T0 + 8 * DAY_MS)]]) == {"a": "open", "b": "open"}


def test_unresolved_contact_fails_at_once() -> None:
    assert run([[contact("a", T0, resolved=False)]]) == {"a": "failure"}


class CountingTable(FcrTable):
    """An ``FcrTable`` that counts the fetches asking for keys with stored rows (ClickHouse reads)."""

    reads = 0

    def fetch(self, keys: list[str], from_ms: int) -> dict[str, list[dict[str, Any]] | None]:
        found = super().fetch(keys, from_ms)
        self.reads += any(rows is not None for rows in found.values())
        return found


def test_late_contacts_of_a_key_first_seen_unstored_need_no_read() -> None:
    """Its first fetch found no row at all: its history is complete at any time while cached."""
    table = CountingTable()
    batches = [[contact("c", T0 + 20 * DAY_MS)], [contact("b", T0 + 10 * DAY_MS)],
               [contact("a", T0 + 9 * DAY_MS, channel="chat")]]
    expected = run([[event for batch in batches for event in batch]])
    assert expected == {"a": "failure", "b": "repeat", "c": "open"}
    assert run(batches, table=table) == expected
    assert table.reads == 0
    table = CountingTable()  # after a restart the key has rows: the late contacts read them
    assert run(batches, table=table, forget_after={0}) == expected
    assert table.reads == 2


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


def test_only_changed_outcomes_are_written_again() -> None:
    processor, table = FcrProcessor(), FcrTable()
    first = plan(processor, table, [contact("a", T0), contact("b", T0 + 8 * DAY_MS)])
    assert len(first.rows) == 2
    table.write(first.rows)
    processor.commit(first)
    # a repeat of b: b fails, c is a repeat; a is far away and is not rewritten
    second = plan(processor, table, [contact("c", T0 + 9 * DAY_MS)])
    assert sorted(r[2] for r in second.rows) == ["b", "c"]
    table.write(second.rows)
    processor.commit(second)
    # the same contact again (a redelivery): nothing changes, nothing is written
    assert plan(processor, table, [contact("c", T0 + 9 * DAY_MS)]).rows == []


def test_a_hot_key_writes_what_changed_not_its_history() -> None:
    processor, table = FcrProcessor(), FcrTable()
    history = [contact(f"h{i:04d}", T0 + i * 3_600_000) for i in range(2000)]
    planned = plan(processor, table, history)
    table.write(planned.rows)
    processor.commit(planned)
    newest = plan(processor, table, [contact("new", T0 + 2000 * 3_600_000)])
    assert sorted(r[2] for r in newest.rows) == ["new"]  # h1999 was already a repeat


def test_a_backfill_older_than_the_cache_fetches_what_it_needs() -> None:
    table = FcrTable()
    recent = [contact("r1", T0 + 30 * DAY_MS), contact("r2", T0 + 31 * DAY_MS)]
    old = [contact("o1", T0), contact("o2", T0 + 2 * DAY_MS)]
    bridge = [contact("b1", T0 + 26 * DAY_MS)]  # a repeat of nothing, repeated by r1
    got = run([recent, old, bridge], cached=1, table=table)
    assert got == {"r1": "repeat", "r2": "repeat", "o1": "failure", "o2": "repeat", "b1": "failure"}
    assert roles(table.counted()) == reference([*recent, *old, *bridge])


def test_cache_is_bounded_and_least_recently_used_keys_go_first() -> None:
    processor, table = FcrProcessor(max_cached_contacts=3), FcrTable()
    for i in range(5):
        planned = plan(processor, table, [contact(f"k{i}", T0, customer=f"c{i}")])
        table.write(planned.rows)
        processor.commit(planned)
    assert (processor.cached_contacts, processor.evicted_contacts) == (3, 2)
    processor.forget()
    assert (processor.cached_contacts, processor.evicted_contacts) == (0, 2)  # dropped, not evicted
    assert outcomes([(T0, "a", True, "web", "chat", "support", "", "", "", "a1")])[0].decides_at == T0 + R


def test_a_first_contact_is_decided_at_the_first_second_the_clock_has_passed_occurred_plus_r() -> None:
    # read at second T, a success needs T * 1000 >= occurred_at + R: never a part of a second early
    for occurred_ms in (1_000_000, 1_000_001, 1_000_500, 1_000_999):
        decides = decides_at_s(occurred_ms, R)
        assert decides * 1000 >= occurred_ms + R > (decides - 1) * 1000
    [row] = FcrProcessor(repeat_window_ms=R).plan(
        [(0, state_key("c1", "billing"), contact_from_event(contact("x", 1_000_400)))], [],
        lambda keys, since: dict.fromkeys(keys)).rows
    assert row[15] == decides_at_s(1_000_400, R) == (1_000_400 + R) // 1000 + 1


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
        # a cache from one contact (fetch nearly always) to everything; restarts between batches
        cached = data.draw(st.integers(1, 40))
        forget = set(data.draw(st.lists(st.integers(0, 6), max_size=3)))
        assert run([b for b in batches if b], cached, forget_after=forget) == expected


@settings(max_examples=60, deadline=None)
@given(items=contact_sets, data=st.data())
def test_any_order_and_redelivery_gives_the_same_outcomes(
        items: list[tuple[str, str, int, bool]], data: st.DataObject) -> None:
    """Arrival in any order at all (a shuffled backfill), with parts delivered again."""
    base = [contact(f"e{i:02d}", T0 + hours * HOUR, resolved, customer, reason)
            for i, (customer, reason, hours, resolved) in enumerate(items)]
    shuffled = data.draw(st.permutations(base))
    again = data.draw(st.lists(st.sampled_from(base), max_size=10))
    arrivals = [*shuffled, *again]
    size = data.draw(st.integers(1, 8))
    batches = [arrivals[i:i + size] for i in range(0, len(arrivals), size)]
    assert run(batches, data.draw(st.integers(1, 30))) == reference(base)


def folded_reference(events: list[dict[str, Any]]) -> dict[str, str]:
    """Transfer legs folded by hand (first leg's time and id, last leg's resolution), then METRICS.md."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for e in events:
        group = (e.get("attributes") or {}).get("continues_contact") or e["event_id"]
        groups.setdefault((e["customer_id"], e["contact_reason"], group), []).append(e)
    contacts = []
    for legs in groups.values():
        legs.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
        contacts.append({**legs[0], "resolved": legs[-1]["resolved"]})
    return reference(contacts)


def leg(eid: str, at: int, of: str | None, resolved: bool, customer: str = "c1") -> dict[str, Any]:
    event = {**contact(eid, at, resolved, customer), "agent_id": f"agent-{eid}"}
    if of:
        event["attributes"] = {"continues_contact": of}
    return event


def test_a_transferred_call_is_one_contact_whatever_order_its_legs_arrive_in() -> None:
    legs = [leg("call", T0, None, False), leg("call-2", T0 + 60_000, "call", False),
            leg("call-3", T0 + 120_000, "call", True)]
    for order in (legs, legs[::-1], [legs[1], legs[2], legs[0]]):
        assert run([[e] for e in order], cached=1) == {"call": "open"}  # resolved by its last leg
    assert run([legs[:2]]) == {"call": "failure"}  # until the last leg comes, unresolved
    table = FcrTable()
    run([[legs[2]], [legs[0]], [legs[1]]], table=table)
    assert {e: r["removed"] for e, r in table.rows.items()} == {"call": 0, "call-2": 2, "call-3": 2}


def decide_versions(arrivals: list[dict[str, Any]], batch: int, cached: int,
                    forget: set[int]) -> dict[str, str]:
    """Versions through the processor as the pipeline feeds it: the winner per event_id so far
    replaces the one it supersedes (removed from its old key when the key changed)."""
    processor, table = FcrProcessor(max_cached_contacts=cached), FcrTable()
    winners: dict[str, dict[str, Any]] = {}
    for n, start in enumerate(range(0, len(arrivals), batch)):
        upserts, removals = [], []
        best: dict[str, dict[str, Any]] = {}  # one decision per event_id and batch, as dedupe makes
        for e in arrivals[start:start + batch]:
            if e["event_id"] not in best or e["version"] > best[e["event_id"]]["version"]:
                best[e["event_id"]] = e
        for i, e in enumerate(best.values()):
            old = winners.get(e["event_id"])
            if old is not None and old["version"] >= e["version"]:
                continue
            winners[e["event_id"]] = e
            key = state_key(e["customer_id"], e["contact_reason"])
            if old is not None and state_key(old["customer_id"], old["contact_reason"]) != key:
                removals.append((i, state_key(old["customer_id"], old["contact_reason"]),
                                 old["event_id"], old["occurred_at"]))
            upserts.append((i, key, contact_from_event(e)))
        planned = processor.plan(upserts, removals, table.fetch)
        table.write(planned.rows)
        processor.commit(planned)
        if n in forget:
            processor.forget()
    return roles(table.counted())


@settings(max_examples=120, deadline=None)
@given(items=st.lists(st.tuples(st.integers(0, 30 * 24), st.lists(
    st.tuples(st.sampled_from(["billing", "delivery"]), st.booleans()), min_size=1, max_size=3)),
    min_size=1, max_size=12), data=st.data())
def test_only_the_latest_version_of_each_contact_counts_in_any_order(
        items: list[tuple[int, list[tuple[str, bool]]]], data: st.DataObject) -> None:
    """Each contact has versions that change its resolution or its reason (so its key)."""
    versions = [{**contact(f"e{i:02d}", T0 + hours * HOUR, resolved, "c1", reason), "version": v}
                for i, (hours, changes) in enumerate(items) for v, (reason, resolved) in enumerate(changes)]
    latest = {e["event_id"]: e for e in sorted(versions, key=lambda e: e["version"])}
    arrivals = [*data.draw(st.permutations(versions)), *data.draw(st.lists(st.sampled_from(versions),
                                                                            max_size=5))]
    got = decide_versions(arrivals, data.draw(st.integers(1, 6)), data.draw(st.integers(1, 20)),
                          set(data.draw(st.lists(st.integers(0, 8), max_size=3))))
    assert got == reference(list(latest.values()))


@settings(max_examples=100, deadline=None)
@given(calls=st.lists(st.tuples(st.integers(0, 20 * 24), st.lists(st.booleans(), min_size=1, max_size=3)),
                      min_size=1, max_size=10), data=st.data())
def test_transfer_legs_fold_into_one_contact_in_any_order(
        calls: list[tuple[int, list[bool]]], data: st.DataObject) -> None:
    events = []
    for i, (hours, leg_resolutions) in enumerate(calls):
        root = f"call{i:02d}"
        for n, resolved in enumerate(leg_resolutions):
            events.append(leg(root if n == 0 else f"{root}-leg{n}", T0 + hours * HOUR + n * 90_000,
                              root if n else None, resolved))
    order = data.draw(st.permutations(events))
    size = data.draw(st.integers(1, 5))
    table = FcrTable()
    got = run([order[i:i + size] for i in range(0, len(order), size)], data.draw(st.integers(1, 15)),
              table, forget_after=set(data.draw(st.lists(st.integers(0, 6), max_size=2))))
    assert got == folded_reference(events)
    last: dict[str, dict[str, Any]] = {}  # each call's row holds its last leg's resolution and agent
    for e in sorted(events, key=lambda e: (e["occurred_at"], e["event_id"])):
        last[(e.get("attributes") or {}).get("continues_contact") or e["event_id"]] = e
    assert {root: (bool(r["resolved"]), r["agent_id"]) for root, r in table.counted().items()} == {
        root: (e["resolved"], e["agent_id"]) for root, e in last.items()}


def test_a_stored_row_its_legs_disagree_with_is_rewritten_once_a_change_reaches_it() -> None:
    """A contact row written by an older rule (its first leg's agent, not its last's): the next
    worker to fetch the key rewrites it when a change reaches it, though its role is unchanged."""
    table = FcrTable()
    legs = [leg("call", T0, None, True), leg("call-2", T0 + 60_000, "call", True)]
    run([legs], table=table)
    [stored] = [r for r in table.latest.values() if r["event_id"] == "call"]
    stored["agent_id"] = "agent-call"
    run([[contact("later", T0 + 8 * DAY_MS)]], table=table)
    assert table.counted()["call"]["agent_id"] == "agent-call-2"
