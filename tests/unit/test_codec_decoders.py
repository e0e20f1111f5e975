"""cavro encodes and decodes our own records exactly as fastavro does: the same bytes for every event
and envelope, the same events back, and a refusal for the same malformed bodies (truncated, bytes
flipped, bytes appended, not Avro at all)."""

import io
import random
from typing import Any

import fastavro
import pytest

from connectors.simulator.scenarios import generate_events
from schemas.codec import AvroCodec, UndecodableMessage, _strip_logical_types, batch_schema, load_schema_json
from schemas.event import validate_event

NOW = 1_795_514_400_000
EVENTS = [validate_event(e) for e in generate_events("steady", 3, NOW - 3_600_000, 3600, 2.0)][:400]
REFERENCE_BATCH = fastavro.parse_schema(_strip_logical_types(batch_schema(load_schema_json())))
REFERENCE_EVENT = fastavro.parse_schema(_strip_logical_types(load_schema_json()))


def _reference(schema: Any, body: bytes) -> Any:
    """fastavro's reading of a body, or None where it refuses it."""
    try:
        return fastavro.schemaless_reader(io.BytesIO(body), schema, None)
    except Exception:
        return None


def _mutated(rnd: random.Random, body: bytes) -> bytes:
    raw = bytearray(body)
    match rnd.choice(["truncate", "flip", "flip many", "append", "garbage"]):
        case "truncate":
            return bytes(raw[:rnd.randrange(len(raw))])
        case "flip":
            raw[rnd.randrange(len(raw))] = rnd.randrange(256)
        case "flip many":
            for _ in range(5):
                raw[rnd.randrange(len(raw))] = rnd.randrange(256)
        case "append":
            raw += rnd.randbytes(5)
        case _:
            return rnd.randbytes(rnd.randint(0, 300))
    return bytes(raw)


def _decoded(decode: Any, payload: bytes) -> Any:
    try:
        return decode(payload)
    except UndecodableMessage:
        return None


def _fastavro_body(schema: Any, record: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, record)
    return out.getvalue()


EDGES = [validate_event(e) for e in [
    {"event_id": "ẞ-ü-漢字-🙂", "occurred_at": NOW - 1, "received_at": NOW, "channel": "kiosk", "source": "s",
     "kind": "response", "touchpoint": "t", "csat": 1, "nps": 0, "ces": 7, "comment": "Rất tốt " * 50,
     "language": "vi", "attributes": {"": "", "clv": "1234.5", "ключ": "значение"}, "version": 2**62},
    {"event_id": "e", "occurred_at": NOW, "received_at": NOW, "channel": "other", "source": "x",
     "kind": "contact", "touchpoint": "t", "customer_id": "c_" + "f" * 64, "contact_reason": "billing",
     "resolved": False, "complaint": True, "partner_id": "p", "location_id": "l", "region": "r",
     "agent_id": "a", "interaction_id": "i" * 1000},
]]


def test_events_and_envelopes_encode_to_fastavros_bytes() -> None:
    codec = AvroCodec()
    for event in [*EVENTS, *EDGES]:
        assert codec.encode(event)[10:] == _fastavro_body(REFERENCE_EVENT, event)
    for size in (0, 1, 7, 400):
        batch = [*EDGES, *EVENTS][:size]
        assert codec.encode_batch(batch)[10:] == _fastavro_body(REFERENCE_BATCH, {"events": batch})


def test_envelopes_decode_as_fastavro_reads_them() -> None:
    codec = AvroCodec()
    for size in (1, 7, 400):
        payload = codec.encode_batch(EVENTS[:size])
        assert codec.decode_all(payload) == EVENTS[:size]


def test_malformed_envelopes_are_refused_as_fastavro_refuses_them() -> None:
    codec, rnd = AvroCodec(), random.Random(11)
    refused = 0
    for _ in range(3000):
        start = rnd.randrange(len(EVENTS))
        payload = codec.encode_batch(EVENTS[start:start + rnd.randint(1, 20)])
        body = _mutated(rnd, payload[10:])
        expected = _reference(REFERENCE_BATCH, body)
        assert _decoded(codec.decode_all, payload[:10] + body) == (
            expected["events"] if expected is not None else None)
        refused += expected is None
    assert 1000 < refused < 2900  # both kinds of case were tried


def test_malformed_single_events_are_refused_as_fastavro_refuses_them() -> None:
    codec, rnd = AvroCodec(), random.Random(12)
    for _ in range(2000):
        payload = codec.encode(rnd.choice(EVENTS))
        body = _mutated(rnd, payload[10:])
        assert _decoded(codec.decode, payload[:10] + body) == _reference(REFERENCE_EVENT, body)


@pytest.mark.parametrize("length", [2**31, 2**40, 2**62])
def test_a_huge_declared_length_is_refused_without_allocating_it(length: int) -> None:
    zigzag, varint = length << 1, bytearray()
    while zigzag > 0x7F:
        varint.append(zigzag & 0x7F | 0x80)
        zigzag >>= 7
    varint.append(zigzag)
    codec = AvroCodec()
    with pytest.raises(UndecodableMessage):
        codec.decode_all(codec.encode_batch(EVENTS[:1])[:10] + bytes(varint) + b"\x02a")


def test_a_string_that_is_not_utf8_is_refused() -> None:
    codec = AvroCodec()
    payload = codec.encode({**EVENTS[0], "event_id": "ab"})
    at = payload.index(b"ab")
    with pytest.raises(UndecodableMessage):
        codec.decode(payload[:at] + b"\xff\xfe" + payload[at + 2:])
