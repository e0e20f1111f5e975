"""Records that must end on the dead-letter topic with their reason, and never stop the pipeline.

Two ways in: JSON lines through ``cxpulse publish`` (the edge rejects them), and bytes written to
``cx.touchpoints`` by a producer that is not ours (the worker rejects them). Alongside, valid records
that are merely awkward (a 300 KB comment, Vietnamese text, NUL bytes) must be stored and counted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
from confluent_kafka import Producer

from schemas.codec import AvroCodec
from schemas.topics import Topics
from tests.chaos.workload import DAY_MS, History
from tests.integration.topic_reader import read_topic

YEAR_2200_MS = 7_258_118_400_000
YEAR_1960_MS = -315_619_200_000


def _base(history: History, name: str) -> dict[str, Any]:
    at = history.now_ms - DAY_MS
    return {"event_id": f"{history.tag}-poison-{name}", "occurred_at": at, "received_at": at + 1000,
            "channel": "web", "source": "chaos", "kind": "response", "touchpoint": "checkout",
            "csat": 4}


def poison_lines(history: History) -> tuple[list[bytes], list[dict[str, Any]], dict[str, int]]:
    """(JSON lines, the valid events among them, the dead-letter reasons expected for the rest)."""
    valid = [
        {**_base(history, "huge"), "comment": "rất tốt " * 40_000},  # ~320 KB
        {**_base(history, "nul"), "comment": "nul\x00byte and emoji \U0001f600"},
    ]
    invalid: list[tuple[bytes, str]] = [
        (orjson.dumps({**_base(history, "nested"), "attributes": {"x": "y"}})[:-1]
         + b', "extra": ' + b"[" * 3000 + b"]" * 3000 + b"}", "invalid_json"),
        (b'{"event_id": "' + history.tag.encode() + b'-surrogate-\\ud800", "channel": "web"}',
         "invalid_json"),
        (orjson.dumps({**_base(history, "y2200"), "occurred_at": YEAR_2200_MS,
                       "received_at": YEAR_2200_MS}), "timestamp_out_of_range"),
        (orjson.dumps({**_base(history, "y1960"), "occurred_at": YEAR_1960_MS,
                       "received_at": YEAR_1960_MS}), "timestamp_out_of_range"),
        (orjson.dumps({**_base(history, "old"), "occurred_at": history.now_ms - 9 * DAY_MS,
                       "received_at": history.now_ms}), "occurred_at_out_of_range"),
    ]
    lines = [orjson.dumps(e) for e in valid] + [raw for raw, _ in invalid]
    return lines, valid, dict(Counter(reason for _, reason in invalid))


def produce_poison(bootstrap: str, prefix: str, history: History) -> dict[str, int]:
    """Bytes no connector of ours would send, straight onto the topic; the reasons expected."""
    codec = AvroCodec()
    marked = codec.encode({**_event(history, "utf8"), "comment": "ZZZZZZZZ"})
    records: list[tuple[bytes | None, str]] = [
        (None, "undecodable"),  # a tombstone
        (b"not avro at all " + history.tag.encode(), "undecodable"),
        (b"\xc3\x01" + b"\x00" * 8 + b"unknown writer schema", "undecodable"),
        (codec.encode(_event(history, "cut"))[:14], "undecodable"),
        (marked.replace(b"ZZZZZZZZ", b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8"), "undecodable"),
        (codec.encode({**_event(history, "y2200"), "occurred_at": YEAR_2200_MS,
                       "received_at": YEAR_2200_MS}), "timestamp_out_of_range"),
        (codec.encode({**_event(history, "window"), "occurred_at": history.now_ms - 8 * DAY_MS,
                       "received_at": history.now_ms}), "occurred_at_out_of_range"),
    ]
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for value, _ in records:
        producer.produce(Topics(prefix).touchpoints, value=value)
    assert producer.flush(30) == 0
    return dict(Counter(reason for _, reason in records))


def _event(history: History, name: str) -> dict[str, Any]:
    """A complete canonical event (what the codec encodes), not validated."""
    base = _base(history, f"raw-{name}")
    return {**base, "journey_stage": "purchase", "customer_id": None, "interaction_id": None,
            "contact_reason": None, "resolved": None, "complaint": False, "nps": None, "ces": None,
            "comment": None, "language": None, "partner_id": "", "location_id": "", "region": "",
            "agent_id": "", "attributes": {}}


def dead_letter_reasons(bootstrap: str, prefix: str) -> dict[str, int]:
    """How many records of each reason are on this prefix's dead-letter topic."""
    reasons: Counter[str] = Counter()
    for message in read_topic(bootstrap, Topics(prefix).dlq):
        reasons[dict(message.headers() or [])["cx.reason"].decode()] += 1
    return dict(reasons)
