"""Deduplication by ``event_id``: the first copy of an event counts, every later copy is ignored."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")


def first_copies(items: Sequence[T], event_id: Callable[[T], str]) -> tuple[list[T], int]:
    """Keep the first item of each event_id in arrival order; return them and the duplicates dropped."""
    seen: set[str] = set()
    kept: list[T] = []
    for item in items:
        key = event_id(item)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept, len(items) - len(kept)


def not_yet_stored(items: Iterable[T], event_id: Callable[[T], str], stored: set[str]) -> list[T]:
    """Drop items whose event_id is already stored (a redelivery, a replay, a re-send)."""
    return [item for item in items if event_id(item) not in stored]
