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
``FakePublisher`` records what would go to Kafka, validating and encoding like ``EventPublisher`` —
unit-level, no broker. It deliberately skips the publisher's own privacy step (and keeps dead letters
as given), so the "no PII" check holds the runtime's protection to account on its own.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from connectors.sdk import registry
from connectors.sdk.base import Connector, InvalidRecord
from connectors.sdk.runtime import ConnectorRuntime
from schemas.codec import AvroCodec
from schemas.event import InvalidEvent, TouchpointEvent, validate_event

TEST_PRIVACY_KEY = "contract-kit-test-key-not-a-secret"
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+\.[\w.\-]+")
_PHONE_DIGITS = re.compile(r"(?<!\w)(?:\+?84|0)[235789]\d{8,9}(?!\d)")
_PSEUDONYM = re.compile(r"^c_[0-9a-f]{64}$")
_MIN_MS, _MAX_MS = 946_684_800_000, 4_102_444_800_000
"""Plausible epoch-ms event times: 2000-01-01 .. 2100-01-01 (seconds or µs would fall outside)."""


class FakePublisher:
    """Records published events and dead letters; validates and Avro-encodes like the real one."""

    def __init__(self, source: str = "test", codec: AvroCodec | None = None) -> None:
        self.source = source
        self.codec = codec or AvroCodec()
        self.published: list[TouchpointEvent] = []
        self.payloads: list[bytes] = []
        self.dead_letters: list[tuple[bytes, str, str]] = []
        self.flushes = 0

    def publish_object(self, obj: object, raw: bytes, received_at: int | None = None) -> bool:
        """Validate and encode one event; dead-letter it (recorded) if invalid."""
        if isinstance(obj, dict) and obj.get("source") is None:
            obj = {**obj, "source": self.source}
        try:
            event = validate_event(obj, default_received_at=received_at or int(time.time() * 1000))
        except InvalidEvent as exc:
            self.dead_letter(raw, exc.reason, exc.detail)
            return False
        self.payloads.append(self.codec.encode(event))
        self.published.append(event)
        return True

    def dead_letter(self, raw: bytes, reason: str, detail: str) -> None:
        """Record one dead letter."""
        self.dead_letters.append((raw, reason, detail))

    def flush(self, timeout: float = 120.0) -> None:
        """Count flushes (the runtime must flush before saving a cursor)."""
        self.flushes += 1


class MemoryCursorStore:
    """A cursor store in a dict, recording every save."""

    def __init__(self) -> None:
        self.cursors: dict[str, str] = {}
        self.saves: list[tuple[str, str]] = []

    def load(self, name: str) -> str | None:
        """The saved cursor or None."""
        return self.cursors.get(name)

    def save(self, name: str, cursor: str) -> None:
        """Save and record."""
        self.cursors[name] = cursor
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
        """``event`` as the publisher validates it (``source`` defaults to the connector name)."""
        if event.get("source") is None:
            event = {**event, "source": self.connector_cls.name}
        return validate_event(event, default_received_at=int(time.time() * 1000))

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
        runtime = ConnectorRuntime(self.make_connector(), publisher, TEST_PRIVACY_KEY)
        runtime.run([*self.good_records, *(raw for raw, _ in self.bad_records)])
        expected = sum(len(self.events_of(raw)) for raw in self.good_records)
        assert len(publisher.published) == expected, publisher.dead_letters
        assert sorted(r for _, r, _ in publisher.dead_letters) == sorted(r for _, r in self.bad_records)

    def test_no_pii_in_published_events(self) -> None:
        publisher = FakePublisher(self.connector_cls.name)
        ConnectorRuntime(self.make_connector(), publisher, TEST_PRIVACY_KEY).run(self.good_records)
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
        ConnectorRuntime(connector, publisher, TEST_PRIVACY_KEY).run_pull(store, batch_size=1)
        assert publisher.flushes >= len(store.saves) >= 1
        assert list(connector.poll(store.load(connector.name))) == []


def load_samples(path: Path) -> list[Any]:
    """Sample records from a JSON-lines file (blank lines skipped), for a contract test's class body."""
    with path.open(encoding="utf-8-sig") as lines:
        return [json.loads(line) for line in lines if line.strip()]
