"""A small client for the ingest API: what a partner's back end needs to post signed events.

::

    client = IngestClient("https://ingest.example.com", key_id="cxk_...", secret="...")
    answer = client.post_events([{"event_id": "r-1", "occurred_at": "...", "kind": "response",
                                  "touchpoint": "store", "csat": 5}])
    answer.status, answer.body["results"]

Standard library only, so it can be copied into any Python code base.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from connectors.ingest.signing import sign


@dataclass(frozen=True)
class Answer:
    """Status, headers and decoded JSON body of one response."""

    status: int
    headers: dict[str, str]
    body: Any


def signed_headers(key_id: str, secret: str, method: str, path: str, body: bytes,
                   timestamp: int | None = None) -> dict[str, str]:
    """The three headers a server key sends with every request."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Cx-Key": key_id, "X-Cx-Timestamp": ts,
            "X-Cx-Signature": sign(secret, ts, method, path, body)}


class IngestClient:
    """Posts to one ingest service with one server key."""

    def __init__(self, base_url: str, key_id: str, secret: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.key_id, self._secret, self.timeout = key_id, secret, timeout

    def post(self, path: str, payload: Any) -> Answer:
        """Sign and post ``payload`` (JSON-encoded) to ``path``."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json",
                   **signed_headers(self.key_id, self._secret, "POST", path, body)}
        return send(urllib.request.Request(self.base_url + path, data=body, headers=headers,
                                           method="POST"), self.timeout)

    def post_events(self, events: list[dict[str, Any]]) -> Answer:
        """Canonical events (JSON form), one batch."""
        return self.post("/v1/events", {"events": events})


def send(request: urllib.request.Request, timeout: float = 30.0) -> Answer:
    """Any request; HTTP errors are answers too (status and JSON body), not exceptions."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, dict(response.headers), _json(response.read()))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers), _json(exc.read()))


def _json(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return data.decode("utf-8", "replace")
