"""The ``jsonl`` file connector behind ``cxpulse publish``: canonical events, one JSON object a line.

Each line already is a TouchpointEvent in JSON form: ``to_events`` only checks it is an object, and
the publisher validates and protects it like every source's events (customer ids pseudonymised,
comments redacted; a bad line is dead-lettered with its exact reason, PII removed). Lines that are
not JSON are dead-lettered as ``invalid_json``. ``cxpulse publish FILE|-`` reads a file or a pipe
as the lines come (``connectors.sdk.files.publish_stream``); ``cxpulse connector ingest jsonl FILE``
and ``connector watch jsonl FOLDER`` take whole files like any file connector.
"""

from __future__ import annotations

from typing import Any, ClassVar

from connectors.sdk.base import ConnectorConfig, InvalidRecord
from connectors.sdk.files import FileConnector, FileFormat


class JsonLinesConfig(ConnectorConfig):
    """Nothing to configure: the lines are canonical events."""


class JsonLinesConnector(FileConnector[JsonLinesConfig]):
    """JSON lines of canonical events -> those events."""

    name = "jsonl"
    Config = JsonLinesConfig
    file_format: ClassVar[FileFormat] = "jsonl"
    file_pattern: ClassVar[str] = "*.jsonl"

    def to_events(self, raw: Any) -> list[dict[str, Any]]:
        """One parsed line -> itself as the one event; ``not_an_object`` for any other JSON value."""
        if not isinstance(raw, dict):
            raise InvalidRecord("not_an_object", f"expected a JSON object, got {type(raw).__name__}")
        return [dict(raw)]
