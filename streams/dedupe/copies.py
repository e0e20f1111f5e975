"""Which copy of an event counts (METRICS.md, "Duplicates and newer versions"): pure functions.

For one ``event_id`` the copy with the highest ``version`` counts; an equal or lower version is a
duplicate and is ignored. Copies of one event meet in one Kafka partition (the producer keys them by
customer), so the worker that owns the partition decides alone.

A copy is *applied* once the effects of its Kafka record are committed (its offset is below its
partition's checkpoint, ``streams.sinks.checkpoints``). Stored copies that are not applied were written
by an attempt that did not commit (a crash, a failed insert): they are not counted, and the record is
decided again when it is read again. The decision for a batch therefore depends only on the applied
copies and on the batch itself, never on how earlier attempts ended. What such an attempt derived
from a copy that then loses (an FCR contact under the key it had, a follow-up) is undone by the
winner's batch: each decision lists those copies (``Decision.unapplied``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

T = TypeVar("T")


class Copy(NamedTuple, Generic[T]):
    """One copy of an event: where its Kafka record is, its version, and what it carries.

    Named tuples, not frozen dataclasses: a batch makes one per event, and a frozen dataclass's
    ``__init__`` (one ``object.__setattr__`` per field) cost more than the rest of the dedupe.
    """

    event_id: str
    version: int
    partition: int
    offset: int
    payload: T
    """The event (a batch copy) or its stored row (a stored copy)."""
    place: int = 0
    """Its place in its record (an envelope holds many events)."""


class Decision(NamedTuple, Generic[T]):
    """What a batch does for one event_id whose winner is in the batch."""

    winner: Copy[T]
    replaces: Copy[Any] | None
    """The applied copy counted until now (a lower version), whose contribution is taken out."""
    already_stored: bool
    """The winner's own record is already in the event table (an attempt that did not commit)."""
    unapplied: tuple[Copy[Any], ...] = ()
    """Other stored copies no commit applied: an attempt that did not commit wrote them, and maybe
    rows derived from them (an FCR contact under another key, a follow-up) that the winner must undo."""


@dataclass
class Resolution(Generic[T]):
    """The outcome for a batch: the winners to apply and how many copies were duplicates."""

    decisions: list[Decision[T]]
    duplicates: int


def _best(copies: Iterable[Copy[Any]]) -> Copy[Any] | None:
    """Highest version; among equal versions the earliest record (lowest partition, offset)."""
    best: Copy[Any] | None = None
    for copy in copies:
        if best is None or (copy.version, -copy.partition, -copy.offset, -copy.place) > (
                best.version, -best.partition, -best.offset, -best.place):
            best = copy
    return best


def resolve(batch: list[Copy[T]], stored: Mapping[str, list[Copy[Any]]],
            applied: Callable[[int, int], bool]) -> Resolution[T]:
    """Decide every event_id of ``batch`` against its ``stored`` copies.

    ``applied(partition, offset)`` says whether a stored copy's record was committed. The batch's
    best copy of an event_id wins if no applied copy exists (a new event) or if it has a higher
    version than the applied winner (an update); every other copy is a duplicate.
    """
    if not stored and len({copy.event_id for copy in batch}) == len(batch):
        # the common case, a batch of new events each read once: every copy wins as it is
        return Resolution([Decision(copy, None, False) for copy in batch], 0)
    by_id: dict[str, list[Copy[T]]] = {}
    for copy in batch:
        by_id.setdefault(copy.event_id, []).append(copy)
    decisions: list[Decision[T]] = []
    duplicates = 0
    for event_id, copies in by_id.items():
        candidate = copies[0] if len(copies) == 1 else _best(copies)
        assert candidate is not None
        known = stored.get(event_id)
        if not known:  # the common case: a new event, one copy
            decisions.append(Decision(candidate, None, False))
            duplicates += len(copies) - 1
            continue
        current = _best(c for c in known if applied(c.partition, c.offset))
        if current is not None and candidate.version <= current.version:
            duplicates += len(copies)
            continue
        duplicates += len(copies) - 1
        already = False
        unapplied = []
        for c in known:
            if c.partition == candidate.partition and c.offset == candidate.offset \
                    and c.place == candidate.place:
                already = True
            elif not applied(c.partition, c.offset):
                unapplied.append(c)
        decisions.append(Decision(candidate, current, already, tuple(unapplied)))
    return Resolution(decisions, duplicates)
