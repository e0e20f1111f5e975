"""Read a whole topic from the beginning, as the tests check what reached Kafka."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Consumer, TopicPartition


def read_topic(bootstrap: str, topic: str, idle_s: float = 3.0) -> list[Any]:
    """Every record of every partition of ``topic``, until nothing arrived for ``idle_s``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{time.time_ns()}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 10})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    records, idle_since = [], time.monotonic()
    while time.monotonic() - idle_since < idle_s:
        for msg in consumer.consume(500, 0.5):
            idle_since = time.monotonic()
            if msg.error() is None:
                records.append(msg)
    consumer.close()
    return records
