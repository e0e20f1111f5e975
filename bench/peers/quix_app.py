"""Quix Streams 3 doing ``common``'s work: a StreamingDataFrame over the topic, in one of two forms.

- ``--name quix`` (in memory): ``apply(decode, expand=True)`` then ``update`` with a ``Tally`` (plain
  dicts), the way Quix's stateless pipelines keep Python state;
- ``--name quix-state`` (Quix state): the dedupe and the counts in Quix's own state (RocksDB, with
  its changelog topic in Kafka: ``filter(..., stateful=True)`` then ``update(..., stateful=True)``),
  the way Quix keeps durable state. The counts are also added to a dict for the result line.

Quix's consumer group, at-least-once (its default), commits every 5 s (its default). The app stops
(``Application.stop``) once every partition is processed to its end offset (``on_message_processed``,
and a thread for when the end offsets are known only after the last record).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from quixstreams import Application, State

from bench.peers.common import (
    CONSUMER_SETTINGS,
    EndOffsets,
    Job,
    Meter,
    Tally,
    cell_key,
    mark_ready,
    now_ms,
    parse_job,
)
from schemas.codec import AvroCodec

STATEFUL_NAME = "quix-state"
IDLE_CHECK_S = 0.05


class _App(Application):  # type: ignore[misc]
    """Quix's Application, telling the harness when the group gave it partitions."""

    ready: Job | None = None

    def _on_assign(self, consumer: Any, topic_partitions: Any) -> None:
        super()._on_assign(consumer, topic_partitions)
        if self.ready is not None and topic_partitions:
            mark_ready(self.ready)


def _stop_when_idle_at_end(app: Application, end: EndOffsets, positions: dict[int, int]) -> None:
    """``on_message_processed`` stops the app on its last record; this, when that came before the end file."""
    while not end.done(positions):
        time.sleep(IDLE_CHECK_S)
    app.stop()


def main() -> None:
    """Run the app to the end offsets and print the result line."""
    job = parse_job()
    codec, meter, end, tally = AvroCodec(decoder=job.decoder), Meter(job), EndOffsets(job.end_file), Tally()
    stateful = job.name == STATEFUL_NAME
    latency = meter.latencies is not None
    positions: dict[int, int] = {}
    app: _App

    def processed(_topic: str, partition: int, offset: int) -> None:
        positions[partition] = offset + 1
        if end.done(positions):
            app.stop()

    settings = {k: v for k, v in CONSUMER_SETTINGS.items() if k != "auto.offset.reset"}
    app = _App(broker_address=job.bootstrap, consumer_group=job.group,
                      auto_offset_reset="earliest", consumer_extra_config=settings,
                      state_dir=str(job.state_dir), use_changelog_topics=stateful,
                      on_message_processed=processed, loglevel=logging.WARNING)
    app.ready = job
    threading.Thread(target=_stop_when_idle_at_end, args=(app, end, positions), daemon=True).start()
    topic = app.topic(job.topic, value_deserializer="bytes", key_deserializer="bytes")
    sdf = app.dataframe(topic)

    def decode(value: bytes) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = codec.decode_all(value)
        meter.record(len(events))
        return events

    def count_in_memory(event: dict[str, Any]) -> None:
        if tally.add(event) and latency:
            meter.counted(event["received_at"], now_ms())

    def first_copy(event: dict[str, Any], state: State) -> bool:
        if state.get(event["event_id"]) is not None:
            tally.duplicates += 1
            return False
        state.set(event["event_id"], 1)
        return True

    def count_in_state(event: dict[str, Any], state: State) -> None:
        key = cell_key(event)
        state.set(key, state.get(key, 0) + 1)
        tally.counts[key] = tally.counts.get(key, 0) + 1
        if latency:
            meter.counted(event["received_at"], now_ms())

    sdf = sdf.apply(decode, expand=True)
    if stateful:
        sdf = sdf.filter(first_copy, stateful=True).update(count_in_state, stateful=True)
    else:
        sdf = sdf.update(count_in_memory)
    app.run()
    meter.stop()
    meter.report(tally.counts, tally.duplicates)


if __name__ == "__main__":
    main()
