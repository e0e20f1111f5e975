"""Confluent wire format against a schema registry speaking the registry's HTTP API on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from schemas.codec import AvroCodec, RegistryUnavailable, UndecodableMessage
from schemas.event import validate_event
from streams.intake import Interrupted, Record, decode_batch


class Registry(BaseHTTPRequestHandler):
    schemas: dict[int, str] = {}

    def do_POST(self) -> None:  # register: POST /subjects/<subject>/versions
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ids = {s: i for i, s in self.schemas.items()}
        schema_id = ids.get(body["schema"]) or len(self.schemas) + 1
        self.schemas[schema_id] = body["schema"]
        self._answer({"id": schema_id})

    def do_GET(self) -> None:  # fetch: GET /schemas/ids/<id>
        schema_id = int(self.path.rsplit("/", 1)[1])
        self._answer({"schema": self.schemas[schema_id]})

    def _answer(self, obj: object) -> None:
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def registry_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_confluent_wire_format_round_trip(registry_url: str) -> None:
    event = validate_event({"event_id": "r1", "occurred_at": 1_795_514_400_000,
                            "received_at": 1_795_514_400_000, "channel": "web", "source": "t",
                            "kind": "response", "touchpoint": "checkout", "nps": 9})
    writer = AvroCodec(registry_url=registry_url)
    payload = writer.encode(event)
    assert payload[0] == 0 and int.from_bytes(payload[1:5], "big") == 1
    assert AvroCodec(registry_url=registry_url).decode(payload) == event


def test_confluent_framing_without_a_registry_is_undecodable() -> None:
    with pytest.raises(UndecodableMessage):
        AvroCodec().decode(b"\x00\x00\x00\x00\x01\x02")


class FlakyRegistry(Registry):
    failures = 0

    def do_GET(self) -> None:
        if FlakyRegistry.failures > 0:
            FlakyRegistry.failures -= 1
            self.send_response(503)
            self.end_headers()
            return
        super().do_GET()


def test_an_unreachable_registry_is_waited_out_not_dead_lettered(registry_url: str) -> None:
    """A transient registry outage used to dead-letter every record as processing_error."""
    event = validate_event({"event_id": "r2", "occurred_at": 1_795_514_400_000,
                            "received_at": 1_795_514_400_000, "channel": "web", "source": "t",
                            "kind": "response", "touchpoint": "checkout", "csat": 5})
    payload = AvroCodec(registry_url=registry_url).encode(event)
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyRegistry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        flaky = f"http://127.0.0.1:{server.server_address[1]}"
        FlakyRegistry.schemas = Registry.schemas
        FlakyRegistry.failures = 2
        intake = decode_batch([Record(0, 0, payload)], AvroCodec(registry_url=flaky), lambda: True)
        assert intake.rejected == {} and intake.events[0] == event
        FlakyRegistry.failures = 10
        with pytest.raises(Interrupted):  # stopping while the registry is still down: not acked
            decode_batch([Record(0, 1, payload)], AvroCodec(registry_url=flaky), lambda: False)
        with pytest.raises(RegistryUnavailable):
            AvroCodec(registry_url="http://127.0.0.1:9").decode(payload)
    finally:
        server.shutdown()
