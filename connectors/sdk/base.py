"""The connector contract: what a data engineer writes to bring a channel into cxpulse.

A connector is a class with a ``name``, a strict typed ``Config`` (unknown keys rejected), and a pure
``to_events(raw)`` mapping one raw record to canonical events in JSON form — or raising
``InvalidRecord`` with a reason. Pull sources also implement ``poll(cursor)``, yielding each record
with the cursor *after* it, so a restart resumes exactly after the last record that reached Kafka.
The SDK runtime does the rest (validation, privacy, Avro, the idempotent producer, dead-letters,
metrics, retries).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Generic, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict


class ConnectorConfig(BaseModel):
    """Base of every connector's config: unknown keys are an error, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ConnectorError(Exception):
    """Base of the SDK's error classes."""


class InvalidRecord(ConnectorError):
    """Skippable: this record can never become an event; it is dead-lettered with ``reason``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class RetriableError(ConnectorError):
    """Transient (a source or Kafka briefly unavailable): the runtime retries with backoff."""


class FatalError(ConnectorError):
    """The connector cannot go on (bad credentials, missing folder): it stops with this message."""


C = TypeVar("C", bound=ConnectorConfig)


KINDS = ("push", "pull", "file", "bridge")
"""How records reach a connector: pushed to it by a service of ours (the ingest API), pulled by
``poll(cursor)`` (``cxpulse connector run``), read from whole files (``connector ingest``/``watch``),
or received by a process of its own (``bridge``: the kiosk MQTT bridge, run by ``connector run``)."""


class Connector(Generic[C]):
    """Subclass, set ``name`` and ``Config``, implement ``to_events`` (and ``poll`` for pull sources)."""

    name: ClassVar[str]
    """Registry name and the events' ``source``, e.g. ``kiosk-mqtt``."""
    Config: ClassVar[type[ConnectorConfig]] = ConnectorConfig
    kind: ClassVar[str] = "push"
    """One of ``KINDS``; a class that implements ``poll`` is ``pull`` unless it says otherwise."""
    runner: ClassVar[str] = ""
    """Bridges: ``"module:function"`` of the process that runs it, imported only by ``connector run``
    (the function takes the connector, a publisher, a stop event, a progress callback and the run
    folder, and returns a ``RunSummary``-like object with ``line()``)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "poll" in cls.__dict__ and "kind" not in cls.__dict__:
            cls.kind = "pull"

    def __init__(self, config: C) -> None:
        self.config = config

    def to_events(self, raw: Any) -> list[dict[str, Any]]:
        """One raw record -> canonical events (JSON form). Pure: no I/O, same input same output.

        Event ids must be deterministic from the record, so a re-sent record is a duplicate.
        Raise ``InvalidRecord`` for a record that can never become an event.
        """
        raise NotImplementedError

    def raw_bytes(self, raw: Any) -> bytes:
        """The record as kept on the dead-letter topic: bytes as-is, text as UTF-8, else JSON.

        The publisher removes PII from it before it is written (``privacy.redact_dead_letter``), and
        finds customer ids by field name: a source whose records are CSV rows or other text should
        return them as a JSON object (column -> cell), so the id column can be found.
        """
        if isinstance(raw, bytes):
            return raw
        if isinstance(raw, str):
            return raw.encode()
        return orjson.dumps(raw, default=str)

    def raw_id_fields(self) -> frozenset[str]:
        """Fields of this source's raw records holding customer ids or their phone numbers.

        Their values are pseudonymised on the dead-letter topic, like ``customer_id`` in events, at
        any depth of the record; ``customer_id``, ``customerId``, ``CustomerId`` and ``customer`` are
        always covered. Default: the text values of config fields whose name mentions ``customer``,
        at any depth of the config — the mapped column or attribute (``customer_id_column``, a
        partner mapping's ``customer``). Override when ids sit in fields the config does not name so.
        """
        return frozenset(_customer_field_names(self.config, ""))

    @classmethod
    def is_pull_source(cls) -> bool:
        """Whether this connector implements ``poll`` (a pull source) or is fed records (push)."""
        return cls.poll is not Connector.poll

    def poll(self, cursor: str | None) -> Iterator[tuple[Any, str]]:
        """Pull sources: records after ``cursor`` (None: from the start).

        Each record comes with the cursor that resumes right after it.
        """
        raise NotImplementedError(f"{self.name} is a push source: it has no poll()")


def _customer_field_names(value: object, name: str) -> Iterator[str]:
    """Text values of config fields named ``*customer*``, in nested models, dicts and lists too."""
    if isinstance(value, BaseModel):
        for field_name in type(value).model_fields:
            yield from _customer_field_names(getattr(value, field_name), field_name)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _customer_field_names(item, name)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _customer_field_names(item, name)
    elif isinstance(value, str) and value and "customer" in name.lower():
        yield value
