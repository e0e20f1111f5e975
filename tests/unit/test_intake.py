"""Records no event can come from are rejected with the reason ``undecodable``, never a crash."""

from __future__ import annotations

import pytest

from schemas.codec import AvroCodec
from streams.intake import Record, decode_batch


@pytest.mark.parametrize(("value", "detail"), [(None, "tombstone"), (b"", "not Avro")])
def test_a_record_without_an_event_is_undecodable(value: bytes | None, detail: str) -> None:
    intake = decode_batch([Record(2, 7, value)], AvroCodec(), lambda: True)
    assert intake.events == {}
    [rejected] = intake.rejected.values()
    assert rejected.reason == "undecodable"
    assert detail in rejected.detail
    [entry] = intake.entries
    assert (entry.partition, entry.offset, entry.value) == (2, 7, b"")
