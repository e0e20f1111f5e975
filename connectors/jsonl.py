"""The JSON-lines connector behind ``cxpulse publish``: canonical events, one per line.

Privacy is the publisher's: customer ids are pseudonymised with ``privacy_key`` and comments redacted
before anything reaches Kafka; rejected lines are dead-lettered with their PII removed.
"""

from __future__ import annotations

from typing import BinaryIO

from connectors.sdk.privacy import PrivacyKey, PrivacyKeyLike
from connectors.sdk.publisher import EventPublisher, PublishSummary
from schemas.codec import AvroCodec
from schemas.topics import Topics


def publish_lines(stream: BinaryIO, bootstrap: str, topic_prefix: str, registry_url: str,
                  source: str, *, privacy_key: PrivacyKeyLike | PrivacyKey) -> PublishSummary:
    """Every non-blank line -> accepted into Kafka (protected) or dead-lettered with its reason.

    Returns only after Kafka acknowledged every record (raises DeliveryFailed otherwise).
    """
    topics = Topics(topic_prefix)
    codec = AvroCodec(registry_url=registry_url, subject=f"{topics.touchpoints}-value")
    publisher = EventPublisher(bootstrap, topics, codec, source, privacy_key=privacy_key)
    for line in stream:
        raw = line.rstrip(b"\r\n")
        if raw.strip():
            publisher.publish_json(raw)
    return publisher.flush()
