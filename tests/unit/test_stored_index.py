"""The worker's index of stored rows: exactly the rows added or loaded, whatever the order and runs."""

import hashlib
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.stored_index import StoredIndex, event_second, key_hashes


def key_hash(key: str) -> int:
    return int(key_hashes([key])[0])

keys = st.text(alphabet="abcdef0123456789-", min_size=1, max_size=6)
rows = st.lists(st.tuples(keys, st.integers(0, 2**32 - 1)), max_size=40)


def held(batches: list[list[tuple[str, int]]]) -> dict[str, list[int]]:
    expected: dict[str, list[int]] = defaultdict(list)
    for batch in batches:
        for key, value in batch:
            expected[key].append(value)
    return expected


@settings(max_examples=300, deadline=None)
@given(st.lists(rows, max_size=12), st.lists(keys, max_size=30), rows)
def test_values_of_are_every_value_added_for_the_key(batches: list[list[tuple[str, int]]],
                                                     asked: list[str],
                                                     loaded: list[tuple[str, int]]) -> None:
    index = StoredIndex()
    index.load([[(key_hash(k), v) for k, v in loaded[:5]], [(key_hash(k), v) for k, v in loaded[5:]]])
    for batch in batches:
        index.add([k for k, _ in batch], [v for _, v in batch])
    expected = held([loaded, *batches])
    wanted = asked + [k for batch in batches for k, _ in batch[:2]]
    found = index.values_of(wanted)
    assert {k: sorted(v) for k, v in found.items()} == {k: sorted(expected[k]) for k in set(wanted)
                                                         if k in expected}
    assert len(index) == sum(map(len, expected.values()))


def test_runs_stay_few_as_batches_add_up() -> None:
    index = StoredIndex()
    for batch in range(1000):
        index.add([f"e{batch}-{i}" for i in range(10)], [batch] * 10)
    assert len(index._runs) <= 12  # about log2(rows / batch), not one per batch
    assert index.values_of(["e0-0", "e999-9", "e500-5", "nope"]) == {"e0-0": [0], "e999-9": [999],
                                                                      "e500-5": [500]}


def test_the_hash_is_clickhouse_half_md5() -> None:
    # halfMD5('abc') on ClickHouse 18.16 and a modern server
    assert key_hash("abc") == 10376663631224000432
    assert key_hash("é") == int.from_bytes(hashlib.md5("é".encode()).digest()[:8], "big")


def test_event_second_is_the_stored_datetime() -> None:
    assert event_second(1_795_514_400_999) == 1_795_514_400
    assert event_second(0) == 0
