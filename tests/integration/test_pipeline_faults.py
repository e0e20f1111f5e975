"""The worker's figures stay exact whatever stops it, whatever order and however often records arrive.

Each defect class of the "exact under faults" issue has its small, fast case here, on the real
ClickHouse server and broker (``pipeline_lane``); ``make chaos`` runs the same faults at scale on the
whole stack with real kill -9.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
from clickhouse_driver import errors

from cxpulse.settings import Settings
from schemas.codec import AvroCodec
from schemas.event import validate_event
from sql.client import SentInsert, ServerDatabase
from streams.failpoints import POINTS
from streams.fence import Fence
from streams.intake import Interrupted, Record
from streams.sinks.clickhouse import ClickHouseSink, TableRows, Unstorable
from tests.chaos.workload import DAY_MS, History, received_order, shuffled
from tests.integration.pipeline_lane import Crash, CrashAt, Lane, records_of
from tests.integration.topic_reader import read_topic

BATCH = 250


@pytest.fixture(scope="module")
def history() -> History:
    return History(7, int(time.time() * 1000), customers=120, hot_keys=1)


@pytest.fixture()
def lane(running_stack: Settings) -> Iterator[Lane]:
    lane = Lane.open(running_stack)
    yield lane
    lane.close()


def crash_and_restart(lane: Lane, records: list[Record], point: str, nth: int,
                      batch: int = BATCH, again: int | None = None) -> int:
    """Feed batches until the crash, then a new worker reads again from the last acked batch.

    ``again``: the new worker's batch size (a restarted worker's takes need not match the last one's).
    """
    first = lane.pipeline(failpoints=CrashAt(point, nth))
    acked = 0
    with pytest.raises(Crash):
        for start in range(0, len(records), batch):
            first.process(records[start:start + batch])
            acked = start + batch
    lane.feed(lane.pipeline(), records[acked:], again or batch)
    return acked


CRASHES = [*((point, 40) for point in POINTS), ("after_events", 1), ("after_commit", 1)]
"""Every step with envelopes (what connectors send); single events at the two steps that bracket the
writes. ``make chaos`` kills a real worker at every step on the whole stack."""


@pytest.mark.parametrize(("point", "envelope"), CRASHES,
                         ids=[f"{p}-{'single events' if n == 1 else f'envelopes of {n}'}"
                              for p, n in CRASHES])
def test_a_crash_at_any_step_of_a_batch_changes_no_figure(lane: Lane, history: History, point: str,
                                                          envelope: int) -> None:
    records = records_of(shuffled(history.events, 1), envelope=envelope)
    crash_and_restart(lane, records, point, 3, max(1, 2 * BATCH // envelope))
    assert lane.mismatches(history.events, int(time.time() * 1000)) == []


def test_backfill_in_any_order_redelivered_and_restarted_is_exact(lane: Lane, history: History) -> None:
    """The issue's drift: a month re-imported out of order, part of it twice, a small FCR cache."""
    events = shuffled(history.events, 2)
    again = random.Random(3).sample(history.events, len(history.events) // 3)
    records = records_of([*events, *again])
    for start in range(0, len(records), 1000):  # a restart (empty cache) every 1000 records
        lane.feed(lane.pipeline(cached=50), records[start:start + 1000], 200)
    assert lane.mismatches(history.events, int(time.time() * 1000)) == []


def test_records_read_again_after_their_commit_are_skipped(lane: Lane, history: History) -> None:
    records = records_of(received_order(history.events))
    pipeline = lane.pipeline()
    lane.feed(pipeline, records, BATCH)
    replay = lane.feed(lane.pipeline(), records[: 4 * BATCH], BATCH)  # a rebalance re-reads
    assert [r.already_applied for r in replay] == [BATCH] * 4
    assert all(r.fcr_rows == 0 and r.stored == 0 for r in replay)
    assert lane.mismatches(history.events, int(time.time() * 1000)) == []


def test_a_redelivered_duplicate_writes_nothing_and_sends_no_follow_up(lane: Lane, history: History
                                                                       ) -> None:
    events = received_order(history.events)
    pipeline = lane.pipeline()
    lane.feed(pipeline, records_of(events), BATCH)
    followups = len(read_topic(lane.settings.bootstrap, lane.topics.followups))
    # the same events again, as new Kafka records (a connector re-sending its whole batch)
    again = records_of(events)
    shifted = [Record(r.partition, r.offset + 100_000, r.value) for r in again]
    results = lane.feed(pipeline, shifted, BATCH)
    assert sum(r.stored for r in results) == 0 and sum(r.fcr_rows for r in results) == 0
    assert sum(r.duplicates for r in results) == len(events)
    assert len(read_topic(lane.settings.bootstrap, lane.topics.followups)) == followups > 0
    assert lane.mismatches(history.events, int(time.time() * 1000)) == []


def test_a_worker_that_gains_partitions_sees_what_their_last_owner_stored(lane: Lane, history: History
                                                                         ) -> None:
    events = received_order(history.events)
    records = records_of(events)
    gaining = lane.pipeline()
    lane.feed(gaining, records[:BATCH], BATCH)  # it knows what it stored itself
    lane.feed(lane.pipeline(), records[BATCH:], BATCH)  # the partitions' owner meanwhile
    gaining.partitions_moved()
    again = [Record(r.partition, r.offset + 100_000, r.value) for r in records_of(events)]
    results = lane.feed(gaining, again, BATCH)
    assert sum(r.stored for r in results) == 0 and sum(r.fcr_rows for r in results) == 0
    assert sum(r.duplicates for r in results) == len(events)
    assert lane.mismatches(history.events, int(time.time() * 1000)) == []


def test_copies_of_one_event_on_two_partitions_count_once(lane: Lane, history: History) -> None:
    event = {**history.events[0], "event_id": "twin", "customer_id": "first-key"}
    twin = {**event, "customer_id": "other-key"}  # another key: another partition
    codec = AvroCodec()
    pipeline = lane.pipeline()
    [a] = records_of([event], codec)
    [b] = records_of([twin], codec)
    b = Record((a.partition + 1) % 4, 0, b.value)
    pipeline.process([a])
    assert pipeline.process([b]).duplicates == 1
    assert lane.db.execute("SELECT count() FROM touchpoint_events") == [(1,)]
    assert lane.db.execute("SELECT sum(events) FROM minute_counts WHERE checkpoint = ''") == [(1,)]


class CommitAckLost(ServerDatabase):
    """A server whose answer to the ledger insert is lost once: the insert landed, the client saw
    a network error (ClickHouse killed right after committing the part)."""

    lost = 0

    def insert(self, table: str, columns: Any, rows: list[tuple[Any, ...]],
               settings: dict[str, Any] | None = None) -> None:
        super().insert(table, columns, rows, settings)
        if table == "minute_counts" and CommitAckLost.lost < 1:
            CommitAckLost.lost += 1
            raise errors.NetworkError("connection reset by peer")


def test_a_commit_whose_answer_was_lost_is_not_applied_twice(lane: Lane, history: History) -> None:
    def connect() -> ServerDatabase:
        return CommitAckLost(lane.settings.clickhouse_host, lane.settings.clickhouse_port,
                             lane.db.database)

    records = records_of(shuffled(history.events, 4))
    pipeline = lane.pipeline(sink=ClickHouseSink(connect))
    lane.feed(pipeline, records, BATCH)
    assert CommitAckLost.lost == 1
    assert lane.mismatches(history.events, int(time.time() * 1000)) == []


class Refusing(ServerDatabase):
    """A server that refuses inserts (down) until told otherwise."""

    down = True

    def insert(self, table: str, columns: Any, rows: list[tuple[Any, ...]],
               settings: dict[str, Any] | None = None) -> None:
        if Refusing.down:
            raise errors.NetworkError("connection refused")
        super().insert(table, columns, rows, settings)

    def send_insert(self, table: str, columns: Any, rows: list[tuple[Any, ...]],
                    settings: dict[str, Any] | None = None) -> SentInsert:
        if Refusing.down:
            raise errors.NetworkError("connection refused")
        return super().send_insert(table, columns, rows, settings)


def test_a_batch_stops_writing_once_its_partitions_may_have_moved(lane: Lane, history: History) -> None:
    fence = Fence(grace_s=0.5, max_batch_s=60)
    sink = ClickHouseSink(lambda: Refusing(lane.settings.clickhouse_host, lane.settings.clickhouse_port,
                                           lane.db.database))
    pipeline = lane.pipeline(fence=fence, sink=sink)
    events = received_order(history.events)[:BATCH]
    records = records_of(events)
    fence.rebalance_started()
    with pytest.raises(Interrupted):
        pipeline.process(records)  # retries while ClickHouse is down, gives up after the grace
    Refusing.down = False
    assert lane.db.execute("SELECT count() FROM minute_counts") == [(0,)]
    fence.rebalance_done()
    pipeline.process(records)  # the next owner (here: after the rebalance) writes it
    distinct = len({e["event_id"] for e in events})
    assert lane.db.execute("SELECT sum(events) FROM minute_counts WHERE checkpoint = ''") == [(distinct,)]


def test_poison_records_are_dead_lettered_and_the_rest_is_stored(lane: Lane, history: History) -> None:
    codec = AvroCodec()
    events = received_order(history.events)[:100]
    good = records_of(events, codec)
    future = dict(codec.decode(good[0].value), event_id="y2200", occurred_at=7_258_118_400_000,
                  received_at=7_258_118_400_000)
    bad = [b"not avro", b"\xc3\x01" + b"\x00" * 8 + b"?", codec.encode(future)]
    records = good + [Record(0, 10_000 + i, value) for i, value in enumerate(bad)]
    result = lane.pipeline().process(records)
    assert result.dead_lettered == 3 and result.stored == len({e["event_id"] for e in events})
    reasons = sorted(dict(m.headers())["cx.reason"].decode()
                     for m in read_topic(lane.settings.bootstrap, lane.topics.dlq))
    assert reasons == ["timestamp_out_of_range", "undecodable", "undecodable"]


def test_a_value_the_store_refuses_is_dead_lettered_and_the_batch_is_written(lane: Lane) -> None:
    """Validation keeps such values out; should one pass, it must not stop the partition."""
    sink = ClickHouseSink(lane.connect)
    columns = ("event_id", "occurred_at", "occurred_at_ms", "received_at_ms", "channel", "source",
               "kind", "touchpoint", "journey_stage")
    row = ("ok", 1_800_000_000, 1_800_000_000_000, 1_800_000_000_000, "web", "s", "response", "t", "u")
    bad = ("bad", 2**40, 1, 1, "web", "s", "response", "t", "u")  # a DateTime the driver cannot send
    batch = TableRows("touchpoint_events", columns, [row, bad, ("ok2", *row[1:])],
                      [frozenset({0}), frozenset({1}), frozenset({2})])
    with pytest.raises(Unstorable) as refused:
        sink.insert(batch)
    assert refused.value.sources == frozenset({1})
    assert lane.db.execute("SELECT count() FROM touchpoint_events") == [(2,)]


def test_future_received_at_is_counted_and_moves_no_clock(lane: Lane, history: History) -> None:
    now = history.now_ms
    ahead = [{**e, "event_id": f"{e['event_id']}-ahead", "received_at": now + 2 * DAY_MS,
              "occurred_at": now + 2 * DAY_MS - 60_000} for e in history.events[:50]]
    events = [*ahead, *received_order(history.events)]
    lane.feed(lane.pipeline(cached=20), records_of(events), BATCH)
    assert lane.mismatches([*history.events, *ahead], int(time.time() * 1000)) == []


@pytest.fixture(scope="module")
def versioned() -> History:
    return History(8, int(time.time() * 1000), customers=150, hot_keys=1, versions=True)


def test_versions_and_transfer_legs_in_any_order_with_restarts_are_exact(
        lane: Lane, versioned: History) -> None:
    """Contact records updated (resolution set, reason corrected) and transferred, shuffled, twice."""
    events = shuffled(versioned.events, 5)
    records = records_of([*events, *events[: len(events) // 2]], envelope=25)
    for start in range(0, len(records), 700):  # a restart (empty cache) every 700 records
        lane.feed(lane.pipeline(cached=40), records[start:start + 700], 150)
    assert lane.mismatches(versioned.events, int(time.time() * 1000)) == []


def later_versions_after(events: list[dict[str, Any]], gap: int) -> list[dict[str, Any]]:
    """``events`` with each event's n-th later copy moved ``n * gap`` places after its first, and
    every later version of a contact moved to another reason (another FCR key)."""
    first: dict[str, tuple[int, int]] = {}
    copies: dict[str, int] = {}
    ranked = []
    for i, event in enumerate(events):
        event_id, version = event["event_id"], event.get("version") or 0
        n = copies[event_id] = copies.get(event_id, -1) + 1
        at, first_version = first.setdefault(event_id, (i, version))
        if version != first_version and event.get("contact_reason"):
            event = {**event, "contact_reason": f"{event['contact_reason']}-{version % 3}"}
        ranked.append((at + n * gap, i, event))
    return [event for *_, event in sorted(ranked, key=lambda r: r[:2])]


@pytest.mark.parametrize("point", POINTS)
def test_a_crash_amid_versions_then_larger_takes_changes_no_figure(
        lane: Lane, versioned: History, point: str) -> None:
    """The restarted worker reads the crashed batch in a larger take, with later versions of events
    the crashed attempt wrote (some moved to another FCR key): what it wrote for them must go."""
    events = later_versions_after(shuffled(versioned.events, 9), 250)
    crash_and_restart(lane, records_of(events), point, 3, 200, again=500)
    assert lane.mismatches(events, int(time.time() * 1000)) == []


def test_a_version_an_uncommitted_attempt_wrote_under_another_key_is_undone(lane: Lane) -> None:
    """A crashed attempt stored version 1 (a complaint under billing) with its FCR row and follow-up;
    read again beside version 2 (the reason corrected to refund, no complaint), version 1 never
    counts: its FCR row leaves billing and its follow-up is cancelled."""
    now = int(time.time() * 1000)
    base = {"occurred_at": now - 2 * DAY_MS, "received_at": now - 2 * DAY_MS, "channel": "call_center",
            "source": "test", "kind": "contact", "touchpoint": "ivr_billing", "journey_stage": "support",
            "customer_id": "cust-undo", "contact_reason": "billing", "resolved": True}
    earlier = {**base, "event_id": "undo-a", "occurred_at": now - 3 * DAY_MS}
    first = {**base, "event_id": "undo-x", "version": 1, "resolved": False, "complaint": True}
    second = {**first, "version": 2, "contact_reason": "refund", "resolved": True, "complaint": False}
    records = records_of([earlier, first, second])
    assert len({r.partition for r in records}) == 1  # one customer: one partition, offsets 0, 1, 2
    with pytest.raises(Crash):
        lane.pipeline(failpoints=CrashAt("after_fcr", 1)).process(records[:2])
    lane.feed(lane.pipeline(), records, 3)
    assert lane.mismatches([earlier, first, second], now) == []
    [cancelled] = lane.db.execute("SELECT cancelled FROM followups FINAL WHERE event_id = 'undo-x'")
    assert cancelled == (1,)


def test_a_bad_event_in_an_envelope_is_dead_lettered_alone(lane: Lane, history: History) -> None:
    codec = AvroCodec()
    events = received_order(history.events)[:30]
    good = [validate_event(e) for e in events]
    bad = {**good[3], "event_id": "bad-in-envelope", "csat": 9}  # the Avro type allows it
    record = Record(0, 0, codec.encode_batch([*good[:3], bad, *good[3:]]))
    result = lane.pipeline().process([record, Record(0, 1, b"not an envelope")])
    assert result.dead_lettered == 2 and result.stored == len({e["event_id"] for e in good})
    letters = {dict(m.headers())["cx.reason"].decode(): m
               for m in read_topic(lane.settings.bootstrap, lane.topics.dlq)}
    assert codec.decode(letters["score_out_of_range"].value())["event_id"] == "bad-in-envelope"
    assert dict(letters["score_out_of_range"].headers())["cx.origin"].endswith(b"/0/0/3")
    assert letters["undecodable"].value() == b"not an envelope"
