"""The event schema evolves only compatibly: every published version reads every other."""

from __future__ import annotations

import itertools

import pytest

from schemas.codec import CURRENT_SCHEMA, PUBLISHED_SCHEMAS, SCHEMA_DIR, AvroCodec, load_schema_json
from schemas.event import validate_event

EVENT = validate_event({
    "event_id": "ctr/abc", "occurred_at": 1_795_514_400_000, "received_at": 1_795_514_460_000,
    "channel": "call_center", "source": "t", "kind": "contact", "touchpoint": "ivr_billing",
    "customer_id": "c_" + "0" * 64, "contact_reason": "billing", "resolved": True,
    "version": 1_795_514_460_000,
})
PAIRS = list(itertools.pairwise(PUBLISHED_SCHEMAS))


def test_every_schema_file_is_published_and_the_newest_is_current() -> None:
    files = sorted(p.name for p in SCHEMA_DIR.glob("touchpoint_event.v*.avsc"))
    assert files == sorted(PUBLISHED_SCHEMAS) and PUBLISHED_SCHEMAS[-1] == CURRENT_SCHEMA


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_a_new_version_only_adds_fields_with_defaults(old: str, new: str) -> None:
    before = {f["name"]: f for f in load_schema_json(old)["fields"]}
    after = {f["name"]: f for f in load_schema_json(new)["fields"]}
    assert before.keys() <= after.keys(), "a field was removed"
    for name in before:
        assert after[name]["type"] == before[name]["type"], f"{name} changed type"
    for name in after.keys() - before.keys():
        assert "default" in after[name], f"{name} has no default: old records could not be read"


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_old_and_new_records_read_both_ways(old: str, new: str) -> None:
    old_codec = AvroCodec(reader_schema=load_schema_json(old), writer_schemas=[load_schema_json(new)])
    new_codec = AvroCodec(reader_schema=load_schema_json(new))
    old_fields = {f["name"] for f in load_schema_json(old)["fields"]}
    as_old = {k: v for k, v in EVENT.items() if k in old_fields}
    assert old_codec.decode(new_codec.encode(EVENT)) == as_old  # an upgraded reader's data, read old
    upgraded = new_codec.decode(old_codec.encode(as_old))
    assert upgraded == {**EVENT, "version": 0}  # an old producer's record: version 0
