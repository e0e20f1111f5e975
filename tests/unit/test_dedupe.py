"""Which copy of an event counts: the highest version, applied copies only, any arrival order."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.dedupe.copies import Copy, resolve


def copy(event_id: str, version: int = 0, partition: int = 0, offset: int = 0) -> Copy[Any]:
    return Copy(event_id, version, partition, offset, (offset, {"event_id": event_id}))


def applied_below(checkpoint: int) -> Any:
    return lambda partition, offset: offset < checkpoint


def test_a_new_event_wins_and_later_copies_in_the_batch_are_duplicates() -> None:
    result = resolve([copy("a", offset=5), copy("b", offset=6), copy("a", offset=7)], {},
                     applied_below(5))
    assert [(d.winner.event_id, d.winner.offset, d.replaces) for d in result.decisions] == [
        ("a", 5, None), ("b", 6, None)]
    assert result.duplicates == 1


def test_an_applied_copy_makes_every_equal_or_lower_version_a_duplicate() -> None:
    stored = {"a": [copy("a", version=3, offset=1)]}
    result = resolve([copy("a", version=3, offset=9), copy("a", version=2, offset=10)], stored,
                     applied_below(5))
    assert result.decisions == [] and result.duplicates == 2


def test_a_higher_version_replaces_the_applied_one_whatever_order_they_arrive_in() -> None:
    stored = {"a": [copy("a", version=1, offset=1)]}
    result = resolve([copy("a", version=4, offset=12), copy("a", version=2, offset=11)], stored,
                     applied_below(5))
    [decision] = result.decisions
    assert decision.winner.version == 4 and decision.replaces == stored["a"][0]
    assert result.duplicates == 1


def test_a_stored_copy_not_yet_applied_is_decided_again_and_not_stored_twice() -> None:
    # an attempt stored the event row, then died before its commit (offset 7 >= checkpoint 5)
    stored = {"a": [copy("a", offset=7)]}
    [decision] = resolve([copy("a", offset=7)], stored, applied_below(5)).decisions
    assert decision.replaces is None and decision.already_stored


def test_the_winner_lists_the_other_stored_copies_no_commit_applied() -> None:
    # an attempt stored versions 1 (offset 6) and 3 (offset 8), then died; version 2 was committed
    stored = {"a": [copy("a", version=2, offset=2), copy("a", version=1, offset=6),
                    copy("a", version=3, offset=8)]}
    [decision] = resolve([copy("a", version=1, offset=6), copy("a", version=3, offset=8)], stored,
                         applied_below(5)).decisions
    assert decision.winner.version == 3 and decision.already_stored
    assert decision.replaces == stored["a"][0]
    assert decision.unapplied == (stored["a"][1],)  # its rows elsewhere are the winner's to undo


def test_equal_versions_keep_the_earliest_record() -> None:
    stored = {"a": [copy("a", offset=3), copy("a", partition=1, offset=1)]}
    result = resolve([copy("a", version=1, offset=8)], stored, lambda p, o: True)
    [decision] = result.decisions
    assert decision.replaces is not None and (decision.replaces.partition, decision.replaces.offset) == (0, 3)


@settings(max_examples=200, deadline=None)
@given(versions=st.lists(st.integers(0, 5), min_size=1, max_size=12), data=st.data())
def test_the_counted_version_is_the_highest_in_any_order_and_batching(
        versions: list[int], data: st.DataObject) -> None:
    """Copies of one event in any order, cut into batches: what ends up counted is the max version."""
    order = data.draw(st.permutations(list(enumerate(versions))))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=4)))
    stored: dict[str, list[Copy[Any]]] = {}
    counted: Copy[Any] | None = None
    offset = 0
    for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True):
        batch = []
        for _, version in order[a:b]:
            batch.append(copy("e", version, offset=offset))
            offset += 1
        checkpoint = offset - len(batch)
        for decision in resolve(batch, stored, applied_below(checkpoint)).decisions:
            assert decision.replaces == counted  # what comes out is what was counted
            counted = decision.winner
            stored.setdefault("e", []).append(decision.winner)
    assert counted is not None and counted.version == max(versions)
