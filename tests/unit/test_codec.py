import copy

import pytest

from schemas.codec import AvroCodec, UndecodableMessage, load_schema_json
from schemas.event import validate_event

NOW = 1_795_514_400_000
EVENT = validate_event({
    "event_id": "e1", "occurred_at": NOW - 5, "received_at": NOW, "channel": "kiosk", "source": "t",
    "kind": "response", "touchpoint": "store_entrance", "csat": 5, "comment": "Rất tốt",
    "attributes": {"terminal": "k-7"}, "resolved": True,
})


def test_round_trip_single_object_encoding() -> None:
    codec = AvroCodec()
    payload = codec.encode(EVENT)
    assert payload[:2] == b"\xc3\x01"
    assert codec.decode(payload) == EVENT


def test_old_writer_new_reader_with_an_added_field() -> None:
    v2 = copy.deepcopy(load_schema_json())
    v2["fields"].append({"name": "device", "type": "string", "default": "unknown"})
    old_writer = AvroCodec()
    new_reader = AvroCodec(reader_schema=v2, writer_schemas=[load_schema_json()])
    decoded = new_reader.decode(old_writer.encode(EVENT))
    assert decoded["device"] == "unknown"
    assert {k: v for k, v in decoded.items() if k != "device"} == EVENT


def test_new_writer_old_reader_ignores_the_added_field() -> None:
    v2 = copy.deepcopy(load_schema_json())
    v2["fields"].append({"name": "device", "type": "string", "default": "unknown"})
    new_writer = AvroCodec(reader_schema=v2)
    old_reader = AvroCodec(writer_schemas=[v2])
    assert old_reader.decode(new_writer.encode({**EVENT, "device": "tablet"})) == EVENT


@pytest.mark.parametrize("payload", [b"", b"{}", b"\xc3\x01" + b"\x00" * 8 + b"x", b"\xc3\x01abc"])
def test_garbage_is_undecodable(payload: bytes) -> None:
    with pytest.raises(UndecodableMessage):
        AvroCodec().decode(payload)


def test_corrupt_body_is_undecodable() -> None:
    codec = AvroCodec()
    payload = codec.encode(EVENT)
    with pytest.raises(UndecodableMessage):
        codec.decode(payload[:12])
