"""R, the ceiling: a plain confluent-kafka consumer doing ``common``'s work inline.

Batch consume (``consume(num_messages=1000)`` of what is fetched), ``AvroCodec.decode_all`` per record, then
``Tally`` (a set of event ids, a dict of counts). No offsets committed, no state kept beyond memory:
the most a single Python process can do with this work on this broker.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer

from bench.peers.common import CONSUMER_SETTINGS, EndOffsets, Meter, Tally, mark_ready, now_ms, parse_job
from schemas.codec import AvroCodec

BATCH_RECORDS = 1000


def main() -> None:
    """Consume ``--topic`` to the end offsets and print the result line."""
    job = parse_job()
    codec, tally, meter, end = AvroCodec(decoder=job.decoder), Tally(), Meter(job), EndOffsets(job.end_file)
    consumer = Consumer({**CONSUMER_SETTINGS, "bootstrap.servers": job.bootstrap, "group.id": job.group,
                         "enable.auto.commit": False})

    def assigned(_consumer: Any, _partitions: Any) -> None:
        mark_ready(job)

    consumer.subscribe([job.topic], on_assign=assigned)
    positions: dict[int, int] = {}
    latency = meter.latencies is not None
    try:
        while not end.done(positions):
            # Whatever is fetched already, at once; wait only when nothing is (consume() waits for
            # the whole timeout unless num_messages arrive, and an envelope is 500 events).
            messages = consumer.consume(num_messages=BATCH_RECORDS, timeout=0)
            for message in messages or consumer.consume(num_messages=1, timeout=0.1):
                if message.error() is not None:
                    raise RuntimeError(f"consume: {message.error()}")
                events = codec.decode_all(message.value())
                meter.record(len(events))
                stamp = now_ms() if latency else 0.0
                for event in events:
                    if tally.add(event) and latency:
                        meter.counted(event["received_at"], stamp)
                positions[message.partition()] = message.offset() + 1
    finally:
        consumer.close()
    meter.stop()
    meter.report(tally.counts, tally.duplicates)


if __name__ == "__main__":
    main()
