"""Call-center connectors: CTR and IVR-survey mapping, deterministic ids, reasons, file reading."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any, ClassVar

import orjson
import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from connectors.call_center import (
    AmazonConnectCtrConnector,
    CtrConfig,
    IvrSurveyConfig,
    IvrSurveyCsvConnector,
    normalise_touchpoint,
    parse_flag,
)
from connectors.sdk.base import InvalidRecord, RetriableError
from connectors.sdk.files import ingest_file, json_records
from connectors.sdk.privacy import PrivacyKey, pseudonymise
from connectors.sdk.testing import ConnectorContract, FakePublisher, pii_found
from schemas.event import TouchpointEvent

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "call_center"
MIN_MS = 60_000
OFFSETS_MIN = {"t0": 0, "t1": 5, "t2": 10, "t3": 20}
"""Sample times: $t0..$t3 are base + these minutes."""


def iso(ms: int) -> str:
    """Epoch ms -> the CTR's ISO-8601 UTC form (seconds, ``Z``)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_sample(name: str, tag: str, base_ms: int, folder: Path) -> Path:
    """A sample template with ``$tag`` and ``$t0..$t3`` filled in, written into ``folder``."""
    base_ms -= base_ms % 1000
    values = {"tag": tag, **{k: iso(base_ms + m * MIN_MS) for k, m in OFFSETS_MIN.items()}}
    text = (SAMPLES / name).read_bytes().decode("utf-8")
    out = folder / name.removesuffix(".tmpl")
    out.write_bytes(Template(text).substitute(values).encode("utf-8"))
    return out


def ctr(**over: Any) -> dict[str, Any]:
    """A minimal documented-format CTR, fields overridable."""
    record: dict[str, Any] = {
        "ContactId": "c-1", "Channel": "VOICE", "InitiationMethod": "INBOUND",
        "InitiationTimestamp": "2026-11-20T08:00:00Z", "LastUpdateTimestamp": "2026-11-20T08:06:00Z",
        "DisconnectReason": "CUSTOMER_DISCONNECT", "Queue": {"Name": "IVR Billing"},
        "Agent": {"Username": "agent.linh"}, "CustomerEndpoint": {"Address": "+84901234567"},
        "Attributes": {"CustomerId": "cust-1", "ContactReason": "billing", "Resolved": "Yes"},
    }
    record.update(over)
    return record


def ctr_event(config: dict[str, Any] | None = None, **over: Any) -> dict[str, Any]:
    [event] = AmazonConnectCtrConnector(CtrConfig(**(config or {}))).to_events(ctr(**over))
    return event


def test_ctr_maps_to_one_contact_event() -> None:
    assert ctr_event() == {
        "event_id": "ctr/c-1", "version": 1795161960000, "occurred_at": 1795161600000,
        "channel": "call_center",
        "source": "call-center-ctr", "kind": "contact", "touchpoint": "ivr_billing",
        "journey_stage": "support", "customer_id": "cust-1", "interaction_id": "c-1",
        "contact_reason": "billing", "resolved": True, "complaint": None, "agent_id": "agent.linh",
        "attributes": {"queue": "IVR Billing", "initiation_method": "INBOUND",
                       "disconnect_reason": "CUSTOMER_DISCONNECT"},
    }


def test_ctr_chat_no_agent_no_queue_endpoint_fallback() -> None:
    event = ctr_event(Channel="CHAT", Agent=None, Queue=None, Attributes={"Complaint": "1"})
    assert (event["channel"], event["agent_id"], event["touchpoint"]) == ("chat", "", "ivr")
    assert event["customer_id"] == "+84901234567"  # passed through: the SDK pseudonymises it
    assert (event["resolved"], event["complaint"], event["contact_reason"]) == (None, True, None)
    assert event["attributes"] == {"initiation_method": "INBOUND",  # no queue: a bot, not abandoned
                                   "disconnect_reason": "CUSTOMER_DISCONNECT"}


def test_ctr_configurable_attributes() -> None:
    config = {"customer_id_attribute": "crm", "contact_reason_attribute": "intent",
              "resolved_attribute": "done", "complaint_attribute": None,
              "customer_id_from_endpoint": False, "journey_stage": "delivery"}
    event = ctr_event(config, Attributes={"intent": "refund", "done": "0", "Complaint": "x"})
    assert (event["customer_id"], event["contact_reason"], event["resolved"]) == (None, "refund", False)
    assert (event["complaint"], event["journey_stage"]) == (None, "delivery")


def test_an_updated_ctr_is_a_newer_version_of_the_same_event() -> None:
    first, updated = ctr_event(), ctr_event(LastUpdateTimestamp="2026-11-20T09:00:00Z")
    assert first["event_id"] == updated["event_id"] == "ctr/c-1"
    assert updated["version"] > first["version"] == ctr_event()["version"]  # a redelivery: equal
    with pytest.raises(ValidationError, match="updates_are_new_events"):  # retired: say so
        CtrConfig.model_validate({"updates_are_new_events": False})


def test_transfer_and_callback_legs_continue_their_contact() -> None:
    transfer = ctr_event(ContactId="c-2", InitiationMethod="TRANSFER", InitialContactId="c-1",
                         PreviousContactId="c-1", Queue={"Name": "Tech Support"})
    assert transfer["attributes"]["continues_contact"] == "ctr/c-1"
    assert transfer["attributes"]["previous_contact_id"] == "c-1"
    assert (transfer["interaction_id"], transfer["touchpoint"]) == ("c-1", "tech_support")
    second = ctr_event(ContactId="c-3", InitiationMethod="QUEUE_TRANSFER", InitialContactId="c-1",
                       PreviousContactId="c-2")
    assert second["attributes"]["continues_contact"] == "ctr/c-1"  # the first leg, not the previous
    callback = ctr_event(ContactId="c-9", InitiationMethod="CALLBACK", PreviousContactId="c-8")
    assert callback["attributes"]["continues_contact"] == "ctr/c-8"
    assert "continues_contact" not in ctr_event(InitialContactId="c-1")["attributes"]  # INBOUND


def test_abandoned_contacts_are_unresolved_or_not_judged() -> None:
    queued = {"Agent": None, "DisconnectReason": "CUSTOMER_DISCONNECT"}
    assert ctr_event(**queued)["resolved"] is False
    assert ctr_event(Agent={"Username": "agent.linh"})["resolved"] is True
    not_judged = ctr_event({"abandoned": "not_judged"}, **queued)
    assert (not_judged["contact_reason"], not_judged["resolved"]) == (None, True)


@pytest.mark.parametrize(("record", "reason"), [
    (["not", "a", "ctr"], "invalid_ctr"),
    (ctr(ContactId=None), "missing_contact_id"),
    (ctr(ContactId=""), "missing_contact_id"),
    (ctr(ContactId=42), "invalid_ctr"),
    (ctr(InitiationTimestamp=None), "missing_initiation_timestamp"),
    (ctr(LastUpdateTimestamp=""), "missing_last_update_timestamp"),
    (ctr(InitiationTimestamp="yesterday"), "invalid_timestamp"),
    (ctr(InitiationTimestamp="2026-11-20T08:00:00"), "invalid_timestamp"),
    (ctr(Attributes={"Resolved": "maybe"}), "invalid_resolved"),
    (ctr(Attributes={"Complaint": "sometimes"}), "invalid_complaint"),
    (ctr(Attributes="CustomerId=1"), "invalid_ctr"),
    (ctr(Queue="IVR"), "invalid_ctr"),
    (ctr(Channel="PIGEON"), "invalid_ctr"),
])
def test_ctr_bad_records_have_reasons(record: Any, reason: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        AmazonConnectCtrConnector(CtrConfig()).to_events(record)
    assert caught.value.reason == reason


def test_config_is_strict_and_checked() -> None:
    with pytest.raises(ValueError, match="extra"):
        CtrConfig(customer_attribute="x")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="journey_stage"):
        IvrSurveyConfig(journey_stage="nowhere")
    with pytest.raises(ValueError, match="unknown channel"):
        CtrConfig(channels={"VOICE": "telegraph"})


def test_helpers() -> None:
    assert normalise_touchpoint(" IVR-Billing (VN) ") == "ivr_billing_vn"
    assert normalise_touchpoint("Hỗ trợ Đơn hàng") == "ho_tro_don_hang"
    assert [parse_flag(v, "resolved") for v in ("TRUE", "no", "1", "", None, False)] == [
        True, False, True, None, None, False]


def row(**over: str) -> dict[str, str]:
    base = {"ContactId": "c-1", "Timestamp": "2026-11-20T08:10:00Z", "CustomerId": "cust-1",
            "CSAT": "4", "NPS": "9", "CES": "", "Comment": " Tốt ", "Language": "vi", "Agent": "a1"}
    return {**base, **over}


def survey_event(config: dict[str, Any] | None = None, **over: str) -> dict[str, Any]:
    [event] = IvrSurveyCsvConnector(IvrSurveyConfig(**(config or {}))).to_events(row(**over))
    return event


def test_ivr_row_maps_to_response() -> None:
    assert survey_event() == {
        "event_id": "ivr/c-1", "occurred_at": 1795162200000, "channel": "call_center",
        "source": "call-center-ivr-survey", "kind": "response", "touchpoint": "post_call_survey",
        "journey_stage": "support", "customer_id": "cust-1", "interaction_id": "c-1",
        "agent_id": "a1", "comment": "Tốt", "language": "vi", "csat": 4, "nps": 9, "ces": None,
    }


def test_ivr_column_mapping_and_hash_id() -> None:
    config = {"contact_id_column": None, "timestamp_column": "When", "csat_column": "Score",
              "nps_column": None, "touchpoint": "hotline_survey"}
    event = survey_event(config, When="1795162200000", Score="5")
    assert event["event_id"].startswith("ivr/sha256:") and len(event["event_id"]) == 75
    assert (event["occurred_at"], event["csat"], event["nps"]) == (1795162200000, 5, None)
    assert event["touchpoint"] == "hotline_survey" and event["interaction_id"] is None
    assert survey_event(config, When="1795162200000", Score="5")["event_id"] == event["event_id"]
    assert survey_event(config, When="1795162200000", Score="4")["event_id"] != event["event_id"]


RAGGED: dict[Any, Any] = {**row(), None: ["extra"]}
"""What csv.DictReader gives for a row with more cells than the header."""


@pytest.mark.parametrize(("record", "reason"), [
    (RAGGED, "invalid_row"),
    (row(Timestamp=""), "missing_timestamp"),
    (row(Timestamp="20/11/2026"), "invalid_timestamp"),
    (row(CSAT="five"), "invalid_score"),
    (row(CSAT="", NPS="", CES="", Comment=" "), "empty_response"),
])
def test_ivr_bad_rows_have_reasons(record: dict[str, str], reason: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        IvrSurveyCsvConnector(IvrSurveyConfig()).to_events(record)
    assert caught.value.reason == reason


def test_json_records_reads_every_ctr_export_shape() -> None:
    text = '{"a": 1}{"a": 2}\n[{"a": 3}, {"a": 4}]\n{"a":\n{"a": 5}\n  {"a": 6}  '
    got = [(item[0], item[2] if len(item) == 4 else None) for item in json_records(text)]
    assert got == [({"a": 1}, None), ({"a": 2}, None), ({"a": 3}, None), ({"a": 4}, None),
                   (None, "invalid_json"), ({"a": 5}, None), ({"a": 6}, None)]


def test_ingest_ctr_sample_never_stops_on_bad_records(tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    path = render_sample("ctr_firehose.json.tmpl", "u1", now - 6 * 86_400_000, tmp_path)
    publisher = FakePublisher("call-center-ctr")
    summary = ingest_file(AmazonConnectCtrConnector(CtrConfig()), path, publisher)
    assert summary.line() == ("records 10, accepted 5, rejected 5 (invalid_ctr=1, invalid_json=1, "
                              "invalid_resolved=1, missing_contact_id=1, "
                              "missing_initiation_timestamp=1)")
    ids = [e["event_id"] for e in publisher.published]
    versions = {(e["event_id"], e["version"]) for e in publisher.published}
    assert len(ids) == 5 and len(set(ids)) == 3  # c1 twice as delivered, once as updated
    assert len(versions) == 4  # the redelivered CTR is a duplicate, the update a newer version
    assert {e["channel"] for e in publisher.published} == {"call_center", "chat"}
    assert publisher.flushes == 1


def test_ingest_ivr_csv_with_bom(tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    path = render_sample("ivr_survey.csv.tmpl", "u2", now - 6 * 86_400_000, tmp_path)
    publisher = FakePublisher("call-center-ivr-survey")
    summary = ingest_file(IvrSurveyCsvConnector(IvrSurveyConfig()), path, publisher)
    assert summary.line() == ("records 9, accepted 4, rejected 5 (empty_response=1, invalid_event=1, "
                              "invalid_row=1, invalid_score=1, missing_timestamp=1)")
    assert [r for _, r, _ in publisher.dead_letters].count("score_out_of_range") == 1
    assert publisher.published[0]["event_id"] == "ivr/u2-c1"  # the BOM is not part of the header
    assert publisher.published[0]["comment"] == "Rất hài lòng, cảm ơn"


def test_ingest_with_privacy_key_pseudonymises_customers(tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    path = render_sample("ctr_firehose.json.tmpl", "u3", now - 6 * 86_400_000, tmp_path)
    key = PrivacyKey("unit-test-key-not-a-secret")
    publisher = FakePublisher("call-center-ctr", privacy_key=key)
    ingest_file(AmazonConnectCtrConnector(CtrConfig()), path, publisher)
    assert {e["customer_id"] for e in publisher.published} >= {pseudonymise("u3-cust-a", key)}
    assert all(e["customer_id"].startswith("c_") for e in publisher.published)
    assert not pii_found(repr(publisher.published), ["u3-cust-a", "u3-cust-b"])


def connector_counters(name: str, reasons: list[str]) -> dict[str, float]:
    """The runtime's per-connector counters now: records in, events out, retries, rejected by reason."""
    def value(metric: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(metric, {"connector": name, **labels}) or 0.0

    return {"in": value("cxpulse_connector_records_in_total"),
            "out": value("cxpulse_connector_events_out_total"),
            "retries": value("cxpulse_connector_retries_total"),
            **{r: value("cxpulse_connector_rejected_total", reason=r) for r in reasons}}


def counted(name: str, reasons: list[str], run: Any) -> dict[str, float]:
    """How much each counter of ``connector_counters`` grew while ``run()`` ran."""
    before = connector_counters(name, reasons)
    run()
    return {k: v - before[k] for k, v in connector_counters(name, reasons).items()}


def test_ingest_counts_per_connector_in_the_runtime_metrics(tmp_path: Path) -> None:
    base = int(time.time() * 1000) - 6 * 86_400_000
    ctr_path = render_sample("ctr_firehose.json.tmpl", "u4", base, tmp_path)
    ivr_path = render_sample("ivr_survey.csv.tmpl", "u4", base, tmp_path)
    ctr_reasons = ["invalid_ctr", "invalid_json", "invalid_resolved", "missing_contact_id",
                   "missing_initiation_timestamp"]
    ivr_reasons = ["empty_response", "invalid_event", "invalid_row", "invalid_score",
                   "missing_timestamp", "score_out_of_range"]
    ctr = counted("call-center-ctr", ctr_reasons, lambda: ingest_file(
        AmazonConnectCtrConnector(CtrConfig()), ctr_path, FakePublisher("call-center-ctr")))
    assert ctr == {"in": 10, "out": 5, "retries": 0, **{r: 1 for r in ctr_reasons}}
    ivr = counted("call-center-ivr-survey", ivr_reasons, lambda: ingest_file(
        IvrSurveyCsvConnector(IvrSurveyConfig()), ivr_path, FakePublisher("call-center-ivr-survey")))
    # an event failing validation is counted as invalid_event; its dead letter has the exact reason
    assert ivr == {"in": 9, "out": 4, "retries": 0, **{r: 1 for r in ivr_reasons},
                   "score_out_of_range": 0}


def test_ingest_retries_a_transient_publisher_error_with_backoff(tmp_path: Path) -> None:
    class Busy(FakePublisher):
        busy = 1

        def publish_event(self, event: TouchpointEvent) -> None:
            if self.busy:
                self.busy -= 1
                raise RetriableError("queue full")
            super().publish_event(event)

    path = render_sample("ivr_survey.csv.tmpl", "u5", int(time.time() * 1000) - 86_400_000, tmp_path)
    publisher = Busy("call-center-ivr-survey")
    growth = counted("call-center-ivr-survey", [], lambda: ingest_file(
        IvrSurveyCsvConnector(IvrSurveyConfig()), path, publisher))
    assert growth == {"in": 9, "out": 4, "retries": 1}
    assert len(publisher.published) == 4 and publisher.flushes == 1


def test_a_connector_bug_dead_letters_the_record_and_the_file_goes_on(tmp_path: Path) -> None:
    class Buggy(IvrSurveyCsvConnector):
        def to_events(self, raw: Any) -> list[dict[str, Any]]:
            if raw.get("ContactId") == "u6-c3":
                raise KeyError("a bug")
            return super().to_events(raw)

    path = render_sample("ivr_survey.csv.tmpl", "u6", int(time.time() * 1000) - 86_400_000, tmp_path)
    publisher = FakePublisher("call-center-ivr-survey")
    summary = ingest_file(Buggy(IvrSurveyConfig()), path, publisher)
    assert (summary.records, summary.accepted, summary.rejected_by_reason["connector_error"]) == (9, 3, 1)
    [raw] = [raw for raw, r, _ in publisher.dead_letters if r == "connector_error"]
    assert orjson.loads(raw)["ContactId"] == "u6-c3"  # the row as read, kept for the dead letter


RECENT = iso(int(time.time() * 1000) - 86_400_000)
"""Contract-kit samples are validated against now: one day ago."""


class TestCtrContract(ConnectorContract):
    """The contract kit on the CTR connector."""

    connector_cls = AmazonConnectCtrConnector
    good_records: ClassVar[list[Any]] = [
        ctr(InitiationTimestamp=RECENT, LastUpdateTimestamp=RECENT),
        ctr(ContactId="c-2", Channel="CHAT", Agent=None, Attributes=None,
            InitiationTimestamp=RECENT, LastUpdateTimestamp=RECENT)]
    bad_records: ClassVar[list[tuple[Any, str]]] = [
        (ctr(ContactId=None), "missing_contact_id"), ("oops", "invalid_ctr"),
        (ctr(InitiationTimestamp=None), "missing_initiation_timestamp")]


class TestIvrSurveyContract(ConnectorContract):
    """The contract kit on the IVR survey connector."""

    connector_cls = IvrSurveyCsvConnector
    good_records: ClassVar[list[Any]] = [row(Timestamp=RECENT),
                                         row(ContactId="", CustomerId="0912.345.678", Timestamp=RECENT)]
    bad_records: ClassVar[list[tuple[Any, str]]] = [
        (row(Timestamp=""), "missing_timestamp"), (row(CSAT="x"), "invalid_score")]


def test_a_deeply_nested_record_or_a_lone_surrogate_does_not_stop_the_file(tmp_path: Path) -> None:
    """Both used to abort the whole file (RecursionError, a TypeError while re-encoding)."""
    fine = orjson.dumps(ctr(InitiationTimestamp=iso(int(time.time() * 1000) - 3_600_000)))
    deep = b'{"ContactId": "deep", "Attributes": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    surrogate = b'{"ContactId": "c-\\ud800", "Channel": "VOICE"}'
    in_array = b'[{"ContactId": "c-\\udc01"}, ' + fine + b"]"
    path = tmp_path / "ctr.json"
    path.write_bytes(b"\n".join([deep, surrogate, fine, in_array]) + b"\n")
    publisher = FakePublisher("call-center-ctr")
    summary = ingest_file(AmazonConnectCtrConnector(CtrConfig()), path, publisher)
    assert summary.line() == "records 5, accepted 2, rejected 3 (invalid_json=1, invalid_unicode=2)"
    assert all(b"\\ud800" in raw or b"\\udc01" in raw or b"deep" in raw
               for raw, *_ in publisher.dead_letters)
