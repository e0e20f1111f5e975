"""The worker's index of stored rows: exactly the rows added or loaded (their days), in any order."""

import hashlib
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.stored_index import DAY_BITS, DAY_S, StoredIndex, event_second, key_hashes


def key_hash(key: str) -> int:
    return int(key_hashes([key])[0])


def word(key: str, second: int) -> tuple[int]:
    """The row as ClickHouse gives it to ``load`` (``index_word_sql``): hash top bits, day below."""
    return ((key_hash(key) >> DAY_BITS) << DAY_BITS | second // DAY_S,)


keys = st.text(alphabet="abcdef0123456789-", min_size=1, max_size=6)
rows = st.lists(st.tuples(keys, st.integers(0, 2**32 - 1)), max_size=40)


def spans(batches: list[list[tuple[str, int]]]) -> dict[str, tuple[int, int]]:
    """Per key: the first second of its earliest row's day, the last second of its latest row's day."""
    days: dict[str, list[int]] = defaultdict(list)
    for batch in batches:
        for key, second in batch:
            days[key].append(second // DAY_S)
    return {k: (min(d) * DAY_S, max(d) * DAY_S + DAY_S - 1) for k, d in days.items()}


@settings(max_examples=300, deadline=None)
@given(st.lists(rows, max_size=12), st.lists(keys, max_size=30), rows)
def test_seconds_of_span_every_row_added_for_the_key(batches: list[list[tuple[str, int]]],
                                                     asked: list[str],
                                                     loaded: list[tuple[str, int]]) -> None:
    index = StoredIndex()
    index.load([[word(k, v) for k, v in loaded[:5]], [word(k, v) for k, v in loaded[5:]]])
    for batch in batches:
        index.add([k for k, _ in batch], [v for _, v in batch])
    expected = spans([loaded, *batches])
    wanted = asked + [k for batch in batches for k, _ in batch[:2]]
    assert index.seconds_of(wanted) == {k: expected[k] for k in set(wanted) if k in expected}
    assert len(index) == len(loaded) + sum(map(len, batches))
    assert index.nbytes == 8 * len(index)


def test_runs_stay_few_as_batches_add_up() -> None:
    index = StoredIndex()
    for batch in range(1000):
        index.add([f"e{batch}-{i}" for i in range(10)], [batch * DAY_S + 5] * 10)
    assert len(index._runs) <= 12  # about log2(rows / batch), not one per batch
    assert index.seconds_of(["e0-0", "e999-9", "e500-5", "nope"]) == {
        "e0-0": (0, DAY_S - 1), "e999-9": (999 * DAY_S, 1000 * DAY_S - 1),
        "e500-5": (500 * DAY_S, 501 * DAY_S - 1)}


def test_rows_of_one_key_on_many_days_and_runs_give_one_span() -> None:
    index = StoredIndex()
    index.add(["k", "other"], [30 * DAY_S, 2 * DAY_S])
    index.add(["k"] * 3, [12 * DAY_S + 1, 2**32 - 1, 40 * DAY_S])
    index.add(["k"], [7 * DAY_S + 100])
    assert index.seconds_of(["k", "k"]) == {"k": (7 * DAY_S, (2**32 - 1) // DAY_S * DAY_S + DAY_S - 1)}


def test_the_hash_is_clickhouse_half_md5() -> None:
    # halfMD5('abc') on ClickHouse 18.16 and a modern server
    assert key_hash("abc") == 10376663631224000432
    assert key_hash("é") == int.from_bytes(hashlib.md5("é".encode()).digest()[:8], "big")


def test_event_second_is_the_stored_datetime() -> None:
    assert event_second(1_795_514_400_999) == 1_795_514_400
    assert event_second(0) == 0


@settings(max_examples=200, deadline=None)
@given(rows, st.lists(keys, max_size=30))
def test_hashes_given_by_the_caller_change_nothing(batch: list[tuple[str, int]], asked: list[str]) -> None:
    computed, given_hashes = StoredIndex(), StoredIndex()
    batch_keys, seconds = [k for k, _ in batch], [v for _, v in batch]
    computed.add(batch_keys, seconds)
    given_hashes.add(batch_keys, seconds, key_hashes(batch_keys))
    wanted = asked + asked[:3] + batch_keys[:3]  # a key may repeat when the caller hashed the batch
    assert given_hashes.seconds_of(wanted, key_hashes(wanted)) == computed.seconds_of(wanted)
    assert given_hashes.seconds_of(wanted) == computed.seconds_of(wanted)
