from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from connectors.sdk import registry
from connectors.sdk.base import Connector, ConnectorConfig, FatalError, InvalidRecord, RetriableError
from connectors.sdk.privacy import pseudonymise
from connectors.sdk.publisher import UNPROTECTED_CUSTOMER_ID, PublishSummary
from connectors.sdk.runtime import (
    INVALID_EVENT,
    ConnectorRuntime,
    FileCursorStore,
    RecordResult,
    Rejection,
    RetryPolicy,
)
from connectors.sdk.testing import TEST_PRIVACY_KEY, FakePublisher, MemoryCursorStore

NOW = 1_795_514_400_000


class EchoConfig(ConnectorConfig):
    touchpoint: str = "test"
    limit: int = 10


class EchoConnector(Connector[EchoConfig]):
    """Records are dicts {"id", "score", "customer", "comment"}; "boom" ids raise a bug."""

    name = "sdk-echo"
    Config = EchoConfig

    def __init__(self, config: EchoConfig, source: list[dict[str, Any]] | None = None) -> None:
        super().__init__(config)
        self.source = source or []

    def to_events(self, raw: Any) -> list[dict[str, Any]]:
        if raw.get("id") == "boom":
            raise KeyError("a connector bug")
        if not raw.get("id"):
            raise InvalidRecord("missing_id", "id is empty")
        return [{
            "event_id": f"echo-{raw['id']}", "occurred_at": NOW - 1000, "received_at": NOW,
            "channel": "web", "kind": "response", "touchpoint": self.config.touchpoint,
            "csat": raw.get("score"), "customer_id": raw.get("customer"), "comment": raw.get("comment"),
        }]

    def poll(self, cursor: str | None) -> Iterator[tuple[Any, str]]:
        start = int(cursor) if cursor else 0
        for i, record in enumerate(self.source[start:], start + 1):
            yield record, str(i)


def runtime(connector: Connector[Any] | None = None, **kw: Any) -> tuple[ConnectorRuntime, FakePublisher]:
    publisher = FakePublisher("sdk-echo")
    rt = ConnectorRuntime(connector or EchoConnector(EchoConfig()), publisher,
                          sleep=lambda _: None, **kw)
    return rt, publisher


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_good_record_published_with_privacy_applied() -> None:
    rt, pub = runtime()
    before = counter("cxpulse_connector_events_out_total", connector="sdk-echo")
    assert rt.process({"id": "1", "score": 4, "customer": "cust-42",
                       "comment": "gọi 0912 345 678, mail a@b.vn"}) == 1
    [event] = pub.published
    assert event["customer_id"] == pseudonymise("cust-42", TEST_PRIVACY_KEY)
    assert event["comment"] == "gọi [phone], mail [email]"
    assert counter("cxpulse_connector_events_out_total", connector="sdk-echo") == before + 1


def test_invalid_record_dead_lettered_with_reason_and_good_ones_go_on() -> None:
    rt, pub = runtime()
    before = counter("cxpulse_connector_rejected_total", connector="sdk-echo", reason="missing_id")
    summary = rt.run([{"id": ""}, {"id": "2", "score": 5}])
    assert [(r, d) for _, r, d in pub.dead_letters] == [("missing_id", "id is empty")]
    assert pub.dead_letters[0][0] == b'{"id":""}'
    assert [e["event_id"] for e in pub.published] == ["echo-2"]
    assert (summary.records, summary.accepted, summary.rejected) == (2, 1, 1)
    assert pub.flushes == 1
    after = counter("cxpulse_connector_rejected_total", connector="sdk-echo", reason="missing_id")
    assert after == before + 1


def test_connector_bug_is_dead_lettered_not_raised() -> None:
    rt, pub = runtime()
    rt.run([{"id": "boom"}, {"id": "3", "score": 3}])
    assert [r for _, r, _ in pub.dead_letters] == ["connector_error"]
    assert "KeyError" in pub.dead_letters[0][2]
    assert len(pub.published) == 1


def test_invalid_event_is_dead_lettered_with_its_exact_reason() -> None:
    rt, pub = runtime()
    rt.process({"id": "4", "score": 9})
    assert [r for _, r, _ in pub.dead_letters] == ["score_out_of_range"]
    assert rt.summary.rejected_by_reason == {"invalid_event": 1}


def test_process_record_reports_every_outcome_with_its_exact_reason() -> None:
    rt, pub = runtime()
    assert rt.process_record({"id": "1", "score": 4}) == RecordResult(accepted=1)
    assert rt.process_record({"id": ""}) == RecordResult(0, [Rejection("missing_id", "id is empty")])
    [bug] = rt.process_record({"id": "boom"}).rejections
    assert (bug.reason, bug.event) == ("connector_error", False) and "KeyError" in bug.detail
    [invalid] = rt.process_record({"id": "4", "score": 9}).rejections
    assert (invalid.reason, invalid.event, invalid.counted_as) == (
        "score_out_of_range", True, INVALID_EVENT)
    assert "csat" in invalid.detail
    # every rejection in a result is a dead letter with exactly that reason and detail
    assert [(r, d) for _, r, d in pub.dead_letters] == [
        ("missing_id", "id is empty"), (bug.reason, bug.detail), (invalid.reason, invalid.detail)]
    assert rt.summary.rejected_by_reason == {"missing_id": 1, "connector_error": 1, "invalid_event": 1}
    assert (rt.summary.records, rt.summary.accepted) == (4, 1)


def test_process_record_dead_letters_the_bytes_it_is_given() -> None:
    rt, pub = runtime()
    rt.process_record({"id": ""}, b"line 7 as read from the file")
    assert pub.dead_letters == [(b"line 7 as read from the file", "missing_id", "id is empty")]


def test_keyless_publisher_refuses_raw_customer_ids_with_the_exact_reason() -> None:
    publisher = FakePublisher("sdk-echo", privacy_key=None)
    rt = ConnectorRuntime(EchoConnector(EchoConfig()), publisher)
    before = counter("cxpulse_connector_rejected_total", connector="sdk-echo", reason=INVALID_EVENT)
    [refused] = rt.process_record({"id": "8", "score": 4, "customer": "cust-42"}).rejections
    assert (refused.reason, refused.event, refused.counted_as) == (
        UNPROTECTED_CUSTOMER_ID, True, INVALID_EVENT)
    assert [(r, d) for _, r, d in publisher.dead_letters] == [(refused.reason, refused.detail)]
    after = counter("cxpulse_connector_rejected_total", connector="sdk-echo", reason=INVALID_EVENT)
    assert after == before + 1
    # still redacted without a key; an event without a customer id goes through
    assert rt.process({"id": "9", "score": 4, "comment": "mail a@b.vn"}) == 1
    [event] = publisher.published
    assert (event["customer_id"], event["comment"]) == (None, "mail [email]")
    assert b"cust-42" not in publisher.dead_letters[0][0]


def test_reject_counts_and_dead_letters_an_unparsable_record() -> None:
    rt, pub = runtime()
    labels = {"connector": "sdk-echo"}
    before = (counter("cxpulse_connector_records_in_total", **labels),
              counter("cxpulse_connector_rejected_total", **labels, reason="invalid_json"))
    result = rt.reject(b"{oops", "invalid_json", "Expecting value")
    assert result == RecordResult(0, [Rejection("invalid_json", "Expecting value")])
    assert pub.dead_letters == [(b"{oops", "invalid_json", "Expecting value")]
    assert (counter("cxpulse_connector_records_in_total", **labels),
            counter("cxpulse_connector_rejected_total", **labels, reason="invalid_json")) == (
        before[0] + 1, before[1] + 1)
    assert (rt.summary.records, rt.summary.rejected_by_reason) == (1, {"invalid_json": 1})


class Flaky(EchoConnector):
    failures = 0

    def to_events(self, raw: Any) -> list[dict[str, Any]]:
        if self.failures:
            self.failures -= 1
            raise RetriableError("source busy")
        return super().to_events(raw)


def test_retriable_error_retried_with_exponential_backoff() -> None:
    connector = Flaky(EchoConfig())
    connector.failures = 3
    delays: list[float] = []
    publisher = FakePublisher("sdk-echo")
    rt = ConnectorRuntime(connector, publisher, sleep=delays.append,
                          retry=RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=1.5))
    assert rt.process({"id": "5", "score": 5}) == 1
    assert delays == [0.5, 1.0, 1.5]


def test_retriable_error_raised_after_the_last_attempt() -> None:
    connector = Flaky(EchoConfig())
    connector.failures = 10
    rt, pub = runtime(connector, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(RetriableError):
        rt.process({"id": "6"})
    assert pub.published == [] and pub.dead_letters == []


def test_fatal_error_stops_the_run() -> None:
    class Fatal(EchoConnector):
        def to_events(self, raw: Any) -> list[dict[str, Any]]:
            raise FatalError("credentials revoked")

    rt, _ = runtime(Fatal(EchoConfig()))
    with pytest.raises(FatalError):
        rt.process({"id": "7"})


def records(n: int) -> list[dict[str, Any]]:
    return [{"id": str(i), "score": 4} for i in range(n)]


def test_run_pull_saves_cursor_after_flush_and_resumes(tmp_path: Path) -> None:
    store = FileCursorStore(tmp_path / "cursors")
    source = records(5)
    rt, pub = runtime(EchoConnector(EchoConfig(), source))
    rt.run_pull(store, batch_size=2)
    assert store.load("sdk-echo") == "5"
    assert pub.flushes == 3  # after records 2, 4, and the end
    source.extend(records(8)[5:])
    rt2, pub2 = runtime(EchoConnector(EchoConfig(), source))
    rt2.run_pull(store)
    assert [e["event_id"] for e in pub2.published] == ["echo-5", "echo-6", "echo-7"]
    assert store.load("sdk-echo") == "8"


def test_cursor_not_saved_when_flush_fails() -> None:
    class FailingFlush(FakePublisher):
        def flush(self, timeout: float = 120.0) -> PublishSummary:
            raise RuntimeError("Kafka did not acknowledge")

    store = MemoryCursorStore()
    connector = EchoConnector(EchoConfig(), records(3))
    rt = ConnectorRuntime(connector, FailingFlush())
    with pytest.raises(RuntimeError):
        rt.run_pull(store, batch_size=1)
    assert store.saves == []


def test_run_pull_repolls_after_a_transient_poll_error() -> None:
    class FlakyPoll(EchoConnector):
        failed = False

        def poll(self, cursor: str | None) -> Iterator[tuple[Any, str]]:
            for raw, after in super().poll(cursor):
                if after == "3" and not self.failed:
                    self.failed = True
                    raise RetriableError("connection reset")
                yield raw, after

    store = MemoryCursorStore()
    rt, pub = runtime(FlakyPoll(EchoConfig(), records(4)))
    rt.run_pull(store)
    assert [e["event_id"] for e in pub.published] == ["echo-0", "echo-1", "echo-2", "echo-3"]
    assert store.load("sdk-echo") == "4"


def test_file_cursor_store_refuses_path_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        FileCursorStore(tmp_path).save("../evil", "1")


def test_registry_resolves_builtin_entries_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.BUILTIN, "sdk-echo", f"{__name__}:EchoConnector")
    assert registry.get("sdk-echo") is EchoConnector
    assert "sdk-echo" in registry.known()


def test_registry_unknown_name_lists_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.BUILTIN, "sdk-echo", f"{__name__}:EchoConnector")
    with pytest.raises(registry.UnknownConnector, match=r"unknown connector 'nope'.*sdk-echo"):
        registry.get("nope")
    with pytest.raises(registry.UnknownConnector, match="invalid connector name"):
        registry.get("../etc")


def test_registry_rejects_a_mismatched_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.BUILTIN, "other", f"{__name__}:EchoConnector")
    with pytest.raises(registry.UnknownConnector, match="is named 'sdk-echo'"):
        registry.get("other")


def test_load_config_lists_every_problem() -> None:
    assert registry.load_config(EchoConnector, {"limit": 3}) == EchoConfig(limit=3)
    with pytest.raises(registry.ConfigError) as caught:
        registry.load_config(EchoConnector, {"limit": "many", "touchpoin": "x", "extra": 1})
    message = str(caught.value)
    assert "limit" in message and "touchpoin" in message and "extra" in message
    assert len(caught.value.problems) == 3
    with pytest.raises(registry.ConfigError, match="expected a mapping"):
        registry.load_config(EchoConnector, ["limit"])


class LeakyConnector(EchoConnector):
    """Puts the customer's email into a field privacy does not touch: the kit must catch it."""

    name = "sdk-leaky"

    def to_events(self, raw: Any) -> list[dict[str, Any]]:
        return [{**e, "interaction_id": raw.get("email")} for e in super().to_events(raw)]


def test_contract_kit_catches_pii_and_unregistered_connectors() -> None:
    from connectors.sdk.testing import ConnectorContract

    class Kit(ConnectorContract):
        connector_cls = LeakyConnector
        good_records = [{"id": "1", "score": 4, "email": "an.nguyen@example.vn"}]
        bad_records = [({"id": ""}, "missing_id")]

    kit = Kit()
    kit.test_good_records_give_valid_encodable_events()
    kit.test_bad_records_rejected_with_reason()
    with pytest.raises(AssertionError, match="PII"):
        kit.test_no_pii_in_published_events()
    with pytest.raises(registry.UnknownConnector):
        kit.test_registered_under_its_name()
