"""Read a whole topic from the beginning, as the tests check what reached Kafka."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from schemas.kafka import end_offsets


def read_topic(bootstrap: str, topic: str, timeout_s: float = 60.0) -> list[Any]:
    """Every record of every partition of ``topic`` up to its end offsets when called.

    Reads until each partition's position reaches its (true, fetch-based) end offset, so a slow
    first fetch on a busy machine cannot end the read early; raises after ``timeout_s``.
    """
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{time.time_ns()}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 10})
    try:
        partitions = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        high = end_offsets(bootstrap, [(topic, p) for p in partitions])
        position = {p: 0 for p in partitions}
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions if high[(topic, p)] > 0])
        records = []
        deadline = time.monotonic() + timeout_s
        while any(position[p] < high[(topic, p)] for p in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} not read to its end offsets in {timeout_s:.0f} s")
            for msg in consumer.consume(500, 0.5):
                if msg.error() is None:
                    records.append(msg)
                    position[msg.partition()] = msg.offset() + 1
        return records
    finally:
        consumer.close()
