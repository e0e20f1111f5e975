"""On the real broker, an envelope lands where librdkafka's partitioner puts each of its events alone.

Single-event producers (and the schema-registry path) leave partitioning to librdkafka
(``producer_config``: murmur2_random); envelope producers pick the partition themselves
(``partition_for``). FCR needs one (customer, reason)'s contacts on one partition however they were
sent, so the two must agree for every key.
"""

from __future__ import annotations

import random

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from cxpulse.settings import Settings
from schemas.kafka import ensure_topics, partition_for, producer_config
from schemas.topics import TopicSpec
from tests.conftest import unique_name

PARTITIONS = 7
KEYS = 600


def test_keyed_records_land_in_the_partition_envelopes_pick(running_stack: Settings) -> None:
    rnd = random.Random(3)
    keys = [f"c_{rnd.getrandbits(256):064x}".encode() for _ in range(KEYS // 2)]
    keys += [rnd.randbytes(rnd.randrange(1, 40)).hex().encode() for _ in range(KEYS // 2)]
    keys = list(dict.fromkeys(keys))  # a short random key may come up twice
    topic = unique_name("partitioning")
    ensure_topics(running_stack.bootstrap, [TopicSpec(topic, PARTITIONS, 3_600_000)])
    producer = Producer(producer_config(running_stack.bootstrap))
    for key in keys:
        producer.produce(topic, value=key, key=key)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": running_stack.bootstrap, "group.id": unique_name("g"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])  # no group join
    landed: dict[bytes, int] = {}
    try:
        for _ in range(300):
            for message in consumer.consume(1000, 0.2):
                if message.error() is None:
                    landed[message.key()] = message.partition()
            if len(landed) == len(keys):
                break
    finally:
        consumer.close()
    assert len(landed) == len(keys)
    assert landed == {key: partition_for(key, PARTITIONS) for key in keys}
    assert set(landed.values()) == set(range(PARTITIONS))
