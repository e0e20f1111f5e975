"""Retail-partner drop folder: mapping, encodings, row validation, reports, exactly-once files."""

from __future__ import annotations

import csv
import io
import shutil
import threading
import time
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import orjson
import pytest
from prometheus_client import REGISTRY

from connectors.retail_partner import (
    REPORT_HEADER,
    RetailPartnerConfig,
    RetailPartnerCsvConnector,
    decode,
)
from connectors.sdk.base import FatalError, InvalidRecord
from connectors.sdk.files import process_drop_folder, watch
from connectors.sdk.publisher import UNPROTECTED_CUSTOMER_ID, PublishSummary
from connectors.sdk.testing import ConnectorContract, FakePublisher, pii_found
from schemas.event import InvalidEvent, TouchpointEvent

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "retail_partner"
MIN_MS = 60_000
OFFSETS_MIN = {"t1": 0, "t2": 15}
TIME_FORMAT = "%d/%m/%Y %H:%M"
VN = ZoneInfo("Asia/Ho_Chi_Minh")
TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"
BAD_REASONS = ["score_out_of_range", "missing_event_time", "invalid_event_time", "invalid_score",
               "missing_location", "empty_response", "invalid_row"]


def minimart_mapping(touchpoint: str = "partner_store") -> dict[str, Any]:
    return {"event_time": "Thời gian", "time_format": TIME_FORMAT, "location": "Mã cửa hàng",
            "region": "Khu vực", "customer": "Mã khách hàng", "order": "Số hóa đơn",
            "csat": "Điểm hài lòng", "nps": "NPS", "comment": "Nhận xét", "language": None,
            "touchpoint": touchpoint}


def connector(touchpoint: str = "partner_store") -> RetailPartnerCsvConnector:
    return RetailPartnerCsvConnector(RetailPartnerConfig.model_validate(
        {"partners": {"minimart": minimart_mapping(touchpoint), "coopfood": {}}}))


def to_cp1258(text: str) -> bytes:
    """Vietnamese text as Windows-1258 writes it: base letters precomposed, tone marks combining."""
    out = bytearray()
    for char in unicodedata.normalize("NFC", text):
        try:
            out += char.encode("cp1258")
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", char)
            base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in TONE_MARKS))
            out += (base + "".join(c for c in parts if c in TONE_MARKS)).encode("cp1258")
    return bytes(out)


def local(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(VN).strftime(TIME_FORMAT)


def sample_times(base_ms: int) -> dict[str, int]:
    base_ms -= base_ms % MIN_MS
    return {k: base_ms + m * MIN_MS for k, m in OFFSETS_MIN.items()}


def render(folder: Path, name: str, tag: str, base_ms: int, encoding: str = "utf-8") -> Path:
    """The minimart template with ``$tag``/``$t1``/``$t2`` filled in, written in ``encoding``."""
    values = {"tag": tag, **{k: local(v) for k, v in sample_times(base_ms).items()}}
    text = Template((SAMPLES / "minimart.csv.tmpl").read_text(encoding="utf-8")).substitute(values)
    data = {"utf-8": text.encode(), "utf-8-bom": b"\xef\xbb\xbf" + text.encode(),
            "cp1258": to_cp1258(text)}[encoding]
    path = folder / name
    path.write_bytes(data)
    return path


def read_report(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


def record(row: dict[str, str], partner: str = "coopfood", number: int = 1) -> dict[str, Any]:
    return {"partner_id": partner, "file_sha256": "ab" * 32, "row_number": number, "row": row}


def coop_row(**over: str) -> dict[str, str]:
    base = {"event_time": "2026-11-20T08:10:00+07:00", "store_id": "s-1", "customer_id": "cust-1",
            "csat": "4", "nps": "9", "comment": " Tốt "}
    return {**base, **over}


def test_default_mapping_row_to_event() -> None:
    [event] = connector().to_events(record(coop_row()))
    assert event == {
        "event_id": f"rp/coopfood/{'ab' * 32}/1", "occurred_at": 1795137000000,
        "channel": "retail_partner", "source": "retail-partner-csv", "kind": "response",
        "touchpoint": "partner_store", "journey_stage": "purchase", "partner_id": "coopfood",
        "location_id": "s-1", "region": "", "customer_id": "cust-1", "interaction_id": None,
        "comment": "Tốt", "language": None, "csat": 4, "nps": 9, "ces": None}


def test_naive_times_are_partner_local_and_epoch_ms_accepted() -> None:
    mapping = {"partners": {"p": {"time_format": "%d/%m/%Y %H:%M"}}}
    c = RetailPartnerCsvConnector(RetailPartnerConfig.model_validate(mapping))
    [event] = c.to_events(record(coop_row(event_time="20/11/2026 08:10"), "p"))
    assert event["occurred_at"] == 1795137000000  # 08:10 in Vietnam is 01:10 UTC
    [event] = c.to_events(record(coop_row(event_time="1795137000000"), "p"))
    assert event["occurred_at"] == 1795137000000


@pytest.mark.parametrize(("raw", "reason"), [
    ("a,b,c", "invalid_row"),
    ({**record(coop_row()), "extra_cells": ["x"]}, "invalid_row"),
    (record(coop_row(), partner="nobody"), "unknown_partner"),
    (record({k: v for k, v in coop_row().items() if k != "store_id"}), "missing_column"),
    (record(coop_row(event_time="")), "missing_event_time"),
    (record(coop_row(event_time="20/11/2026")), "invalid_event_time"),
    (record(coop_row(store_id=" ")), "missing_location"),
    (record(coop_row(csat="4.5")), "invalid_score"),
    (record(coop_row(csat="", nps="", comment="")), "empty_response"),
])
def test_bad_rows_have_reasons(raw: Any, reason: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        connector().to_events(raw)
    assert caught.value.reason == reason


def test_config_is_strict_and_checked() -> None:
    for bad in ({"partners": {"a__b": {}}}, {"partners": {"Acme": {}}},
                {"partners": {"a": {"channel": "telegraph"}}}, {"partners": {"a": {"timezone": "Mars"}}},
                {"partners": {"a": {"journey_stage": "nowhere"}}}, {"partners": {"a": {"colour": 1}}}):
        with pytest.raises(ValueError):
            RetailPartnerConfig.model_validate(bad)


def test_decode_detects_encodings() -> None:
    text = "Nhận xét,Rất hài lòng\n"
    assert decode(text.encode()) == (text, "utf-8")
    assert decode(b"\xef\xbb\xbf" + text.encode()) == (text, "utf-8-bom")
    assert decode(to_cp1258(text)) == (unicodedata.normalize("NFC", text), "cp1258")
    with pytest.raises(InvalidRecord, match="invalid_encoding"):
        decode(b"\x81\x8d\x8f")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-bom", "cp1258"])
def test_drop_folder_publishes_good_rows_and_reports_bad_ones(tmp_path: Path, encoding: str) -> None:
    base = int(time.time() * 1000) - 6 * 86_400_000
    path = render(tmp_path, "minimart__2026-11.csv", "u1", base, encoding)
    publisher = FakePublisher("retail-partner-csv")
    [result] = process_drop_folder(tmp_path, connector(), publisher)
    assert result.encoding == encoding
    assert result.summary.line() == (
        "records 10, accepted 3, rejected 7 (empty_response=1, invalid_event_time=1, invalid_row=1, "
        "invalid_score=1, missing_event_time=1, missing_location=1, score_out_of_range=1)")
    assert publisher.flushes == 1
    assert sorted(r for _, r, _ in publisher.dead_letters) == sorted(BAD_REASONS)
    first = publisher.published[0]
    assert first["comment"] == "Rất hài lòng, nhân viên thân thiện"  # NFC, whatever the encoding
    assert (first["partner_id"], first["location_id"], first["region"]) == ("minimart", "u1-hcm01", "HCM")
    assert first["interaction_id"] == "HD001" and first["channel"] == "retail_partner"
    assert first["occurred_at"] == sample_times(base)["t1"]
    assert all(e["customer_id"] is None or e["customer_id"].startswith("c_") for e in publisher.published)
    assert not pii_found(repr(publisher.published), ["u1-cust-a", "0912.345.678"])
    assert "[phone]" in publisher.published[1]["comment"]

    assert not path.exists() and (tmp_path / "processed" / path.name).exists()
    report = read_report(tmp_path / "minimart__2026-11.csv.rejected.csv")
    assert report[0] == REPORT_HEADER
    assert [(r[0], r[1]) for r in report[1:]] == [
        ("4", "score_out_of_range"), ("5", "missing_event_time"), ("6", "invalid_event_time"),
        ("7", "invalid_score"), ("8", "missing_location"), ("9", "empty_response"),
        ("10", "invalid_row")]
    assert report[4][3] == "02:15,u1-hcm01,HCM,u1-cust-e,HD007,năm,,Điểm bằng chữ".replace(
        "02:15", local(sample_times(base)["t2"]))
    assert report[7][3].endswith("Thừa ô,ô thừa") and "more cell" in report[7][2]


def test_each_file_once_and_a_redrop_adds_no_new_ids(tmp_path: Path) -> None:
    base = int(time.time() * 1000) - 6 * 86_400_000
    path = render(tmp_path, "minimart__a.csv", "u2", base)
    copy = tmp_path.parent / "copy.csv"
    shutil.copy(path, copy)
    publisher = FakePublisher("retail-partner-csv")
    assert len(process_drop_folder(tmp_path, connector(), publisher)) == 1
    assert process_drop_folder(tmp_path, connector(), publisher) == []  # already processed
    first_ids = {e["event_id"] for e in publisher.published}
    assert len(first_ids) == 3
    shutil.copy(copy, tmp_path / "minimart__a.csv")  # the same file dropped again...
    shutil.copy(copy, tmp_path / "minimart__a-resent.csv")  # ...and under another name
    results = process_drop_folder(tmp_path, connector(), publisher)
    assert len(results) == 2
    assert {e["event_id"] for e in publisher.published} == first_ids  # nothing new
    assert sorted(p.name for p in (tmp_path / "processed").iterdir()) == sorted(
        ["minimart__a.csv", f"minimart__a.{results[1].sha256[:12]}.csv", "minimart__a-resent.csv"])


def test_unknown_partner_and_bad_encoding_still_reported(tmp_path: Path) -> None:
    (tmp_path / "stranger__x.csv").write_text("event_time,store_id,csat\n2026-11-20T08:00:00Z,s,4\n")
    (tmp_path / "coopfood__junk.csv").write_bytes(b"\x81\x8d\x8f")
    (tmp_path / "notes.csv").write_text("not a partner drop\n")
    publisher = FakePublisher("retail-partner-csv")
    results = process_drop_folder(tmp_path, connector(), publisher)
    assert [r.summary.line() for r in results] == [
        "records 0, accepted 0, rejected 1 (invalid_encoding=1)",
        "records 1, accepted 0, rejected 1 (unknown_partner=1)"]
    assert read_report(tmp_path / "coopfood__junk.csv.rejected.csv")[1][:2] == ["0", "invalid_encoding"]
    assert read_report(tmp_path / "stranger__x.csv.rejected.csv")[1][:2] == ["1", "unknown_partner"]
    assert (tmp_path / "notes.csv").exists()
    with pytest.raises(FatalError):
        process_drop_folder(tmp_path / "missing", connector(), publisher)


def test_failed_flush_leaves_the_file_for_the_next_round(tmp_path: Path) -> None:
    class Failing(FakePublisher):
        def flush(self, timeout: float = 120.0) -> PublishSummary:
            raise RuntimeError("kafka down")

    path = render(tmp_path, "minimart__b.csv", "u3", int(time.time() * 1000) - 86_400_000)
    with pytest.raises(RuntimeError):
        process_drop_folder(tmp_path, connector(), Failing())
    assert path.exists() and not (tmp_path / "minimart__b.csv.rejected.csv").exists()
    assert len(process_drop_folder(tmp_path, connector(), FakePublisher())) == 1


def test_watch_processes_new_files_until_stopped(tmp_path: Path) -> None:
    stop, seen = threading.Event(), []
    publisher = FakePublisher("retail-partner-csv")
    thread = threading.Thread(target=watch, args=(tmp_path, connector(), publisher), kwargs={
        "interval_s": 0.05, "min_age_s": 0.0, "stop": stop, "on_file": seen.append})
    thread.start()
    try:
        render(tmp_path, "minimart__c.csv", "u4", int(time.time() * 1000) - 86_400_000)
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(5)
    assert len(seen) == 1 and seen[0].summary.accepted == 3 and not thread.is_alive()


def connector_counters(reasons: list[str]) -> dict[str, float]:
    """The runtime's counters of retail-partner-csv now: records in, events out, rejected by reason."""
    def value(metric: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(metric, {"connector": "retail-partner-csv", **labels}) or 0.0

    return {"in": value("cxpulse_connector_records_in_total"),
            "out": value("cxpulse_connector_events_out_total"),
            **{r: value("cxpulse_connector_rejected_total", reason=r) for r in reasons}}


def test_drop_folder_counts_rows_in_the_runtime_metrics(tmp_path: Path) -> None:
    render(tmp_path, "minimart__d.csv", "u5", int(time.time() * 1000) - 86_400_000)
    (tmp_path / "coopfood__junk.csv").write_bytes(b"\x81\x8d\x8f")  # not a row: not counted
    reasons = [*BAD_REASONS, "invalid_event"]
    before = connector_counters(reasons)
    process_drop_folder(tmp_path, connector(), FakePublisher("retail-partner-csv"))
    growth = {k: v - before[k] for k, v in connector_counters(reasons).items()}
    # the score_out_of_range row is an event failing validation: counted as invalid_event
    assert growth == {"in": 10, "out": 3, **{r: 1 for r in reasons}, "score_out_of_range": 0}


def test_report_has_the_reason_of_a_connector_bug_and_of_a_publisher_refusal(tmp_path: Path) -> None:
    class Buggy(RetailPartnerCsvConnector):
        def to_events(self, raw: Any) -> list[dict[str, Any]]:
            if raw["row_number"] == 1:
                raise KeyError("a bug")
            return super().to_events(raw)

    class Refusing(FakePublisher):
        def prepare(self, obj: object, received_at: int | None = None) -> TouchpointEvent:
            if isinstance(obj, dict) and obj["interaction_id"] == "HD002":
                raise InvalidEvent(UNPROTECTED_CUSTOMER_ID, "no key")
            return super().prepare(obj, received_at)

    render(tmp_path, "minimart__e.csv", "u6", int(time.time() * 1000) - 86_400_000)
    publisher = Refusing("retail-partner-csv")
    [result] = process_drop_folder(tmp_path, Buggy(connector().config), publisher)
    assert result.summary.accepted == 1
    report = read_report(tmp_path / "minimart__e.csv.rejected.csv")
    assert [tuple(r[:2]) for r in report[1:3]] == [("1", "connector_error"),
                                                    ("2", UNPROTECTED_CUSTOMER_ID)]
    assert report[1][2] == "KeyError: 'a bug'" and report[2][2] == "no key"
    assert [r[1] for r in report[3:]] == BAD_REASONS  # the exact reasons, in row order
    dead = orjson.loads(publisher.dead_letters[0][0])  # the row record, as to_events got it
    assert (dead["partner_id"], dead["file_sha256"], dead["row_number"]) == ("minimart", result.sha256, 1)
    assert dead["row"]["Số hóa đơn"] == "HD001"


RECENT = datetime.fromtimestamp(time.time() - 86_400, UTC).isoformat()
"""Contract-kit samples are validated against now: one day ago."""


class TestRetailPartnerContract(ConnectorContract):
    """The contract kit on the retail-partner connector."""

    connector_cls = RetailPartnerCsvConnector
    config: ClassVar[dict[str, Any]] = {"partners": {"coopfood": {}, "minimart": minimart_mapping()}}
    good_records: ClassVar[list[Any]] = [
        record(coop_row(event_time=RECENT)),
        record(coop_row(event_time=RECENT, customer_id="0912.345.678", comment="mail a@b.vn"), number=2)]
    bad_records: ClassVar[list[tuple[Any, str]]] = [
        (record(coop_row(event_time="")), "missing_event_time"),
        (record(coop_row(csat="x")), "invalid_score"),
        (record(coop_row(), partner="nobody"), "unknown_partner")]
