"""Bytewax 0.21 doing ``common``'s work the Bytewax way: its Kafka source, keyed state operators.

The dataflow: Bytewax's ``KafkaSource`` (``consume`` batches of 1000) -> ``flat_map`` decode
(``AvroCodec.decode_all``) -> keyed by event_id -> ``stateful_flat_map`` that passes an event_id's
first copy only -> keyed by ``cell_key`` -> ``fold_final`` counting per cell. One worker
(``run_main``), in-memory state, no recovery snapshots (Bytewax's default).

Bytewax's source assigns partitions itself (no consumer group). Each partition stops once it is
consumed to its end offset (``EndOffsets``): a thin wrapper around Bytewax's own partition reader,
so the dataflow ends, like the other consumers, exactly at the end the harness names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSource
from bytewax.dataflow import Dataflow
from bytewax.inputs import StatefulSourcePartition
from bytewax.testing import TestingSink, run_main

from bench.peers.common import (
    CONSUMER_SETTINGS,
    EndOffsets,
    Job,
    Meter,
    cell_key,
    mark_ready,
    now_ms,
    parse_job,
)
from schemas.codec import AvroCodec

BATCH_RECORDS = 1000


class _UntilEnd(StatefulSourcePartition):  # type: ignore[misc]
    """Bytewax's Kafka partition reader, stopped at the partition's end offset."""

    def __init__(self, inner: Any, partition: int, end: EndOffsets) -> None:
        self._inner, self._partition, self._end = inner, partition, end
        self._position = 0

    def next_batch(self) -> Iterable[Any]:
        if self._end.partition_done(self._partition, self._position):
            raise StopIteration()
        batch: list[Any] = self._inner.next_batch()
        if batch:
            self._position = batch[-1].offset + 1
        return batch

    def next_awake(self) -> Any:
        return self._inner.next_awake()

    def snapshot(self) -> Any:
        return self._inner.snapshot()

    def close(self) -> None:
        self._inner.close()


class _Source(KafkaSource):  # type: ignore[misc]
    def __init__(self, job: Job, end: EndOffsets) -> None:
        settings = {k: str(v) for k, v in CONSUMER_SETTINGS.items() if k != "session.timeout.ms"}
        super().__init__([job.bootstrap], [job.topic], tail=True, add_config=settings,
                         batch_size=BATCH_RECORDS)
        self._job, self._end = job, end

    def build_part(self, step_id: str, for_part: str, resume_state: Any) -> _UntilEnd:
        partition = int(for_part.split("-", 1)[0])
        inner = super().build_part(step_id, for_part, resume_state)
        mark_ready(self._job)
        return _UntilEnd(inner, partition, self._end)


def build_flow(job: Job, meter: Meter, counts: list[tuple[str, int]]) -> Dataflow:
    """The dataflow; the final (cell, count) pairs land in ``counts``."""
    codec = AvroCodec(decoder=job.decoder)
    latency = meter.latencies is not None

    def decode(message: Any) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = codec.decode_all(message.value)
        meter.record(len(events))
        return events

    def first_copy(seen: bool | None, event: dict[str, Any]) -> tuple[bool, list[dict[str, Any]]]:
        return True, [] if seen else [event]

    def count(total: int, received_at: int) -> int:
        if latency:
            meter.counted(received_at, now_ms())
        return total + 1

    flow = Dataflow("cxpulse_bench")
    records = op.input("kafka", flow, _Source(job, EndOffsets(job.end_file)))
    events = op.flat_map("decode", records, decode)
    by_id = op.key_on("by_event_id", events, lambda event: event["event_id"])
    fresh = op.key_rm("unkey", op.stateful_flat_map("dedupe", by_id, first_copy))
    stamps = op.map("stamp", fresh, lambda event: (cell_key(event), event["received_at"]))
    op.output("counts", op.fold_final("count", stamps, lambda: 0, count), TestingSink(counts))
    return flow


def main() -> None:
    """Run the dataflow to the end offsets and print the result line."""
    job = parse_job()
    meter = Meter(job)
    counts: list[tuple[str, int]] = []
    run_main(build_flow(job, meter, counts))
    meter.stop()
    totals = dict(counts)
    meter.report(totals, meter.events - sum(totals.values()))


if __name__ == "__main__":
    main()
