"""When a batch of the worker's take is yielded (``streams.take.batch_ready``)."""

from streams.take import at_highwater, batch_ready

WITHIN, IDLE = 0.25, 0.06


def ready(buffered: int, catching_up: bool, since_first: float, since_last: float) -> bool:
    return batch_ready(buffered, 100, catching_up, since_first, since_last, WITHIN, IDLE)


def test_nothing_buffered_is_never_a_batch() -> None:
    assert not ready(0, True, 9.0, 9.0)
    assert not ready(0, False, 9.0, 9.0)


def test_in_steady_traffic_the_batch_goes_when_its_first_record_is_within_old() -> None:
    assert not ready(1, False, 0.01, 0.01)
    assert not ready(40, False, WITHIN - 0.01, 0.0)
    assert not ready(3, False, 0.1, 9.0)  # a pause in steady traffic is no reason to go early
    assert ready(1, False, WITHIN, WITHIN)
    assert ready(100, False, 0.0, 0.0)


def test_records_that_came_while_a_long_batch_was_written_go_at_once() -> None:
    # first record arrived when the last batch began, 0.4 s ago; it was buffered just now
    assert ready(30, False, 0.4, 0.0)


def test_catching_up_records_still_arriving_are_waited_for() -> None:
    assert not ready(40, True, 0.1, 0.01)
    assert not ready(99, True, WITHIN - 0.01, IDLE - 0.01)


def test_catching_up_the_batch_goes_when_full_idle_or_old() -> None:
    assert ready(100, True, 0.0, 0.0)
    assert ready(3, True, 0.07, IDLE)
    assert ready(40, True, WITHIN, 0.0)


def test_catching_up_the_batch_goes_at_once_when_its_records_reach_their_partitions_end() -> None:
    assert batch_ready(3, 100, True, 0.0, 0.0, WITHIN, IDLE, at_end=True)
    # in steady traffic the end of a partition is every record's: the batch still waits
    assert not batch_ready(3, 100, False, 0.0, 0.0, WITHIN, IDLE, at_end=True)


def test_records_are_at_the_end_only_when_every_partition_reached_its_highwater() -> None:
    ends: dict[str, int | None] = {"a": 10, "b": 5, "c": None}
    assert at_highwater({"a": 9, "b": 4}, ends.__getitem__)
    assert not at_highwater({"a": 9, "b": 3}, ends.__getitem__)
    assert not at_highwater({"a": 9, "c": 3}, ends.__getitem__)  # not fetched yet
    assert not at_highwater({}, ends.__getitem__)


def test_a_partition_the_consumer_no_longer_holds_is_not_at_its_end() -> None:
    def revoked(tp: str) -> int:
        raise AssertionError("Partition is not assigned")

    def revoked_unchecked(tp: str) -> int:  # python -O: no assert, the partition's state is None
        raise AttributeError("'NoneType' object has no attribute 'highwater'")

    assert not at_highwater({"a": 9}, revoked)
    assert not at_highwater({"a": 9}, revoked_unchecked)
