"""The ``jsonl`` connector behind ``cxpulse publish``: the contract kit, and lines as they come."""

from __future__ import annotations

import io
from pathlib import Path

import orjson

from connectors.jsonl import JsonLinesConfig, JsonLinesConnector
from connectors.sdk.files import ingest_file, publish_stream
from connectors.sdk.testing import ConnectorContract, FakePublisher

EVENT = {"event_id": "web-1", "occurred_at": "2026-11-24T09:14:03Z", "received_at": 1795511645000,
         "channel": "web", "kind": "response", "touchpoint": "checkout", "csat": 4,
         "customer_id": "cust-000042", "comment": "gọi lại 0912 345 678 hoặc an@example.vn"}


class TestJsonLines(ConnectorContract):
    connector_cls = JsonLinesConnector
    good_records = [EVENT, {**EVENT, "event_id": "web-2", "csat": None, "nps": 9}]
    bad_records = [(["not", "an", "event"], "not_an_object"), ("text", "not_an_object")]


def test_lines_are_published_dead_lettered_by_exact_reason_or_as_invalid_json() -> None:
    lines = [orjson.dumps(EVENT), b"", b"{not json", orjson.dumps({**EVENT, "event_id": "w-3", "csat": 9}),
             b"[1, 2]"]
    publisher = FakePublisher("cli-publish")
    summary = publish_stream(JsonLinesConnector(JsonLinesConfig()), io.BytesIO(b"\n".join(lines)),
                             publisher)
    assert [e["event_id"] for e in publisher.published] == ["web-1"]
    assert [reason for _, reason, _ in publisher.dead_letters] == [
        "invalid_json", "score_out_of_range", "not_an_object"]
    values = [value for value, _, _ in publisher.dead_letters]
    assert values[0] == b"{not json" and values[2] == b"[1, 2]"
    assert orjson.loads(values[1])["customer_id"].startswith("c_") and b"0912" not in values[1]
    assert publisher.summary.line() == (
        "accepted 1, rejected 3 (invalid_json=1, not_an_object=1, score_out_of_range=1)")
    assert (summary.records, summary.accepted, summary.rejected) == (4, 1, 3)


def test_a_file_is_ingested_like_any_file_connector_s(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(orjson.dumps(EVENT) + b"\r\n" + orjson.dumps({**EVENT, "event_id": "web-2"}) + b"\n")
    publisher = FakePublisher("jsonl")
    assert ingest_file(JsonLinesConnector(JsonLinesConfig()), path, publisher).line() == (
        "records 2, accepted 2, rejected 0")
    assert publisher.published[0]["customer_id"].startswith("c_")
