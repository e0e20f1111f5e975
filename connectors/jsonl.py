"""The JSON-lines connector behind ``cxpulse publish``: canonical events, one per line."""

from __future__ import annotations

from typing import BinaryIO

from connectors.sdk.publisher import EventPublisher, PublishSummary
from schemas.codec import AvroCodec
from schemas.topics import Topics


def publish_lines(stream: BinaryIO, bootstrap: str, topic_prefix: str, registry_url: str,
                  source: str) -> PublishSummary:
    """Every non-blank line -> accepted into Kafka or dead-lettered with its reason.

    Returns only after Kafka acknowledged every record (raises DeliveryFailed otherwise).
    """
    topics = Topics(topic_prefix)
    codec = AvroCodec(registry_url=registry_url, subject=f"{topics.touchpoints}-value")
    publisher = EventPublisher(bootstrap, topics, codec, source)
    for line in stream:
        raw = line.rstrip(b"\r\n")
        if raw.strip():
            publisher.publish_json(raw)
    return publisher.flush()
