"""Records their producer compressed, with any of Kafka's codecs, are counted like any others.

Kafka producers often compress (``compression.type`` in the Java client and Kafka Connect,
librdkafka's producers). The worker's consumer, aiokafka, decodes gzip itself but needs cramjam for
snappy, lz4 and zstd: without it, the first such record crashed the fetcher and the worker restarted
in a loop without storing anything.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Producer

from connectors.sdk.publisher import EventPublisher
from cxpulse import wiring
from cxpulse.settings import Settings
from schemas.kafka import producer_config
from sql.client import ServerDatabase
from tests.conftest import run_tag
from tests.integration.test_end_to_end import cxpulse, metrics

CODECS = ("gzip", "snappy", "lz4", "zstd")
EVENTS = 40
ENVELOPE_EVENTS = 16


def event(tag: str, codec: str, envelope: int, i: int, now_ms: int) -> dict[str, Any]:
    return {"event_id": f"{tag}-{codec}-{envelope}-{i}", "occurred_at": now_ms - 60_000 - i * 1000,
            "received_at": now_ms, "channel": "web", "source": "codec-test", "kind": "response",
            "touchpoint": tag, "journey_stage": "purchase", "csat": 1 + i % 5}


def test_records_of_every_codec_are_counted(running_stack: Settings, cli_env: dict[str, str],
                                            server_db: ServerDatabase) -> None:
    tag, now_ms = run_tag("codec"), int(time.time() * 1000)
    sent: list[dict[str, Any]] = []
    for codec in CODECS:
        for envelope in (0, ENVELOPE_EVENTS):  # one event a record, and envelopes
            producer = Producer({**producer_config(running_stack.bootstrap), "compression.type": codec})
            publisher = EventPublisher(running_stack.bootstrap, wiring.topics(running_stack),
                                       wiring.codec(running_stack), "codec-test", producer=producer,
                                       batch_events=envelope)
            batch = [event(tag, codec, envelope, i, now_ms) for i in range(EVENTS)]
            for raw in batch:
                publisher.publish_event(publisher.prepare(raw))
            assert publisher.flush(60).accepted == EVENTS
            sent += batch
    cxpulse(cli_env, "drain", "--timeout", "120")
    stored = server_db.execute("SELECT event_id FROM touchpoint_events WHERE touchpoint = %(tp)s",
                               {"tp": tag})
    assert sorted(row[0] for row in stored) == sorted(e["event_id"] for e in sent)
    figures = metrics(cli_env, "touchpoint", now_ms - 3_600_000, now_ms + 60_000)[tag]
    assert figures["csat_responses"] == len(sent)
    assert figures["csat_sum"] == sum(e["csat"] for e in sent)
    assert figures["csat_satisfied"] == sum(e["csat"] >= 4 for e in sent)
