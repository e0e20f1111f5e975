"""The contract kit: every connector's test subclasses ``ConnectorContract`` and gets its checks free.

::

    class TestAcme(ConnectorContract):
        connector_cls = AcmeConnector
        config = {"touchpoint": "checkout"}
        good_records = [{"id": "1", ...}]
        bad_records = [({"id": ""}, "missing_field")]

Checks: registered under its name; config strict; every good record's events validate and Avro-encode;
event ids deterministic; times UTC epoch ms; bad records rejected with the expected reason; no email,
phone or raw customer id in what the runtime would publish; pull sources resume after a cursor.
``FakePublisher`` is the SDK's publisher with a list in place of Kafka: it runs the very code of
``EventPublisher`` (privacy, validation, Avro encoding, dead-letter redaction) — unit-level, no
broker — so the "no PII" check holds the SDK's protection to account, not a copy of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from connectors.sdk import registry
from connectors.sdk.base import Connector, InvalidRecord
from connectors.sdk.privacy import PrivacyKey, PrivacyKeyLike
from connectors.sdk.publisher import BasePublisher, PublishSummary
from connectors.sdk.runtime import ConnectorRuntime, InMemoryCursorStore
from schemas.codec import AvroCodec
from schemas.event import TouchpointEvent
from schemas.topics import Topics

TEST_PRIVACY_KEY = "contract-kit-test-key-not-a-secret"
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+\.[\w.\-]+")
_PHONE_DIGITS = re.compile(r"(?<!\w)(?:\+?84|0)[235789]\d{8,9}(?!\d)")
_PSEUDONYM = re.compile(r"^c_[0-9a-f]{64}$")
_MIN_MS, _MAX_MS = 946_684_800_000, 4_102_444_800_000
"""Plausible epoch-ms event times: 2000-01-01 .. 2100-01-01 (seconds or µs would fall outside)."""


class FakePublisher(BasePublisher):
    """The SDK publisher recording what it would send to Kafka; keyed ``TEST_PRIVACY_KEY`` by default.

    ``published`` holds the events decoded back from their Avro ``payloads``; ``dead_letters`` holds
    (value, reason, detail) as they would be on the dead-letter topic: PII removed, detail redacted.
    ``privacy_key=None`` makes a keyless publisher (raw customer ids refused).
    """

    def __init__(self, source: str = "test", codec: AvroCodec | None = None, *,
                 privacy_key: PrivacyKeyLike | PrivacyKey | None = TEST_PRIVACY_KEY,
                 raw_id_fields: Iterable[str] = ()) -> None:
        super().__init__(Topics("fake."), codec or AvroCodec(), source, privacy_key=privacy_key,
                         raw_id_fields=raw_id_fields)
        self.published: list[TouchpointEvent] = []
        self.payloads: list[bytes] = []
        self.dead_letters: list[tuple[bytes, str, str]] = []
        self.flushes = 0

    def _send(self, topic: str, value: bytes, key: bytes | None,
              headers: list[tuple[str, bytes]] | None) -> None:
        """Record one record instead of producing it."""
        if topic == self._topics.dlq:
            named = dict(headers or [])
            self.dead_letters.append((value, named["cx.reason"].decode(), named["cx.detail"].decode()))
        else:
            self.payloads.append(value)
            self.published.append(self._codec.decode(value))

    def flush(self, timeout: float = 120.0) -> PublishSummary:
        """Count flushes (the runtime must flush before saving a cursor)."""
        self.flushes += 1
        return self.summary


class MemoryCursorStore(InMemoryCursorStore):
    """A cursor store in a dict, recording every save."""

    def __init__(self) -> None:
        super().__init__()
        self.saves: list[tuple[str, str]] = []

    def save(self, name: str, cursor: str) -> None:
        """Save and record."""
        super().save(name, cursor)
        self.saves.append((name, cursor))


def pii_found(text: str, raw_customer_ids: list[str]) -> list[str]:
    """Emails, Vietnamese phone numbers and raw customer ids visible in ``text`` (digits joined)."""
    digits_joined = re.sub(r"(?<=\d)[ .\-](?=\d)", "", text)
    found = _EMAIL.findall(text) + _PHONE_DIGITS.findall(digits_joined)
    return found + [c for c in raw_customer_ids if len(c) >= 6 and c in text]


class ConnectorContract:
    """Subclass with ``connector_cls``, ``config``, ``good_records`` and ``bad_records``."""

    connector_cls: ClassVar[type[Connector[Any]]]
    config: ClassVar[dict[str, Any]] = {}
    good_records: ClassVar[list[Any]] = []
    bad_records: ClassVar[list[tuple[Any, str]]] = []
    """(record, expected InvalidRecord reason) pairs."""

    def make_connector(self) -> Connector[Any]:
        """The connector under test, built from ``config`` the way the CLI builds it."""
        return self.connector_cls(registry.load_config(self.connector_cls, self.config))

    def events_of(self, raw: Any) -> list[dict[str, Any]]:
        """The connector's raw output for one record."""
        return list(self.make_connector().to_events(raw))

    def validated(self, event: dict[str, Any]) -> TouchpointEvent:
        """``event`` as the SDK publisher prepares it (protected, validated; source: the connector's)."""
        return FakePublisher(self.connector_cls.name).prepare(event)

    def test_has_samples(self) -> None:
        assert self.good_records, "list at least one good sample record"
        assert self.bad_records, "list at least one bad sample record with its reason"

    def test_registered_under_its_name(self) -> None:
        assert registry.get(self.connector_cls.name) is self.connector_cls

    def test_config_is_strict(self) -> None:
        with pytest.raises(registry.ConfigError, match="surely_not_an_option"):
            registry.load_config(self.connector_cls, {**self.config, "surely_not_an_option": 1})

    def test_good_records_give_valid_encodable_events(self) -> None:
        codec = AvroCodec()
        for raw in self.good_records:
            events = self.events_of(raw)
            assert events, f"no event from good record {raw!r}"
            for event in events:
                valid = self.validated(event)
                assert codec.decode(codec.encode(valid)) == valid

    def test_event_ids_are_deterministic(self) -> None:
        for raw in self.good_records:
            first = [e["event_id"] for e in self.events_of(raw)]
            assert first == [e["event_id"] for e in self.events_of(raw)]
            assert len(set(first)) == len(first), "event ids of one record must differ"

    def test_times_are_utc_epoch_ms(self) -> None:
        for raw in self.good_records:
            for event in self.events_of(raw):
                valid = self.validated(event)
                for field in ("occurred_at", "received_at"):
                    assert _MIN_MS <= valid[field] <= _MAX_MS, f"{field}={valid[field]} is not epoch ms"

    def test_bad_records_rejected_with_reason(self) -> None:
        for raw, reason in self.bad_records:
            with pytest.raises(InvalidRecord) as caught:
                self.events_of(raw)
            assert caught.value.reason == reason, f"{raw!r}: {caught.value}"

    def test_runtime_publishes_good_and_dead_letters_bad(self) -> None:
        publisher = FakePublisher(self.connector_cls.name)
        runtime = ConnectorRuntime(self.make_connector(), publisher)
        runtime.run([*self.good_records, *(raw for raw, _ in self.bad_records)])
        expected = sum(len(self.events_of(raw)) for raw in self.good_records)
        assert len(publisher.published) == expected, publisher.dead_letters
        assert sorted(r for _, r, _ in publisher.dead_letters) == sorted(r for _, r in self.bad_records)

    def test_no_pii_in_published_events(self) -> None:
        publisher = FakePublisher(self.connector_cls.name)
        ConnectorRuntime(self.make_connector(), publisher).run(self.good_records)
        raw_ids = [str(e["customer_id"]) for raw in self.good_records for e in self.events_of(raw)
                   if e.get("customer_id")]
        for event, payload in zip(publisher.published, publisher.payloads, strict=True):
            assert event["customer_id"] is None or _PSEUDONYM.match(event["customer_id"])
            text = repr(event) + payload.decode("utf-8", "replace")
            assert not pii_found(text, raw_ids), f"PII in {event}"

    def test_resume_after_cursor(self) -> None:
        connector = self.make_connector()
        if not connector.is_pull_source():
            with pytest.raises(NotImplementedError):
                next(iter(connector.poll(None)))
            return
        everything = list(connector.poll(None))
        assert everything, "poll(None) yielded nothing: point config at the sample records"
        for k, (_, cursor) in enumerate(everything):
            rest = [raw for raw, _ in connector.poll(cursor)]
            assert rest == [raw for raw, _ in everything[k + 1:]], f"resume after cursor {cursor!r}"

    def test_runtime_saves_cursor_only_after_flush(self) -> None:
        connector = self.make_connector()
        if not connector.is_pull_source():
            return
        publisher, store = FakePublisher(connector.name), MemoryCursorStore()
        ConnectorRuntime(connector, publisher).run_pull(store, batch_size=1)
        assert publisher.flushes >= len(store.saves) >= 1
        assert list(connector.poll(store.load(connector.name))) == []


def load_samples(path: Path) -> list[Any]:
    """Sample records from a JSON-lines file (blank lines skipped), for a contract test's class body."""
    with path.open(encoding="utf-8-sig") as lines:
        return [json.loads(line) for line in lines if line.strip()]
