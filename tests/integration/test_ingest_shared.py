"""Two ingest instances behind one balancer share Redis: replays, key and client limits, widget tokens.

Redis is Debian's ``redis-server``, started here on a free port; the two instances are real
``IngestService`` processes' applications (aiohttp test servers) over the stack's broker, with one
key file, as two machines behind a load balancer would be. The balancer is 127.0.0.1, a trusted
proxy: the client is the ``X-Forwarded-For`` address.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from connectors.ingest.client import signed_headers
from connectors.ingest.clients import trusted_networks, widget_token
from connectors.ingest.service import IngestConfig, IngestService
from connectors.sdk.privacy import PrivacyKey
from cxpulse.settings import Settings
from cxpulse.wiring import codec, topics
from tests.conftest import free_port, run_tag

ORIGIN = "https://shop.example"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = Path(tmp_path_factory.mktemp("redis"))
    port = free_port()
    server = subprocess.Popen([shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port),
                               "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                               "--dir", str(folder)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                         text=True, check=False).stdout.strip() != "PONG":
        assert time.monotonic() < deadline and server.poll() is None, "redis-server did not start"
        time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(10)


def instances(settings: Settings, redis: str, keys_file: Path) -> tuple[IngestService, IngestService]:
    prefix = f"cx:{run_tag('r')}:"  # the one Redis namespace both instances share

    def one() -> IngestService:
        return IngestService(IngestConfig(
            bootstrap=settings.bootstrap, topics=topics(settings), codec=codec(settings),
            keys_file=keys_file, master_key=PrivacyKey("master-key-of-the-shared-test"),
            privacy_key=PrivacyKey("privacy-key-of-the-shared-test"), redis_url=redis,
            redis_prefix=prefix, trusted_proxies=trusted_networks("127.0.0.1/32"),
            client_rate_per_s=0.1, client_burst=2))
    return one(), one()


def answer(item_id: str) -> dict[str, Any]:
    return {"id": item_id, "touchpoint": "checkout", "scale": "smiley", "score": 4}


async def through(a: IngestService, b: IngestService, steps: list[tuple[int, str, bytes, dict[str, str]]]
                  ) -> list[tuple[int, str]]:
    """Each step (instance 0 or 1, path, body, headers) in order; (status, error or 'ok')."""
    async with TestClient(TestServer(a.app())) as ca, TestClient(TestServer(b.app())) as cb:
        out = []
        for instance, path, body, headers in steps:
            response = await (ca, cb)[instance].post(path, data=body, headers={
                "Content-Type": "application/json", **headers})
            assert response.status != 500, await response.text()
            out.append((response.status, (await response.json()).get("error", "ok")))
        return out


def test_a_replay_to_the_other_instance_is_refused_and_key_limits_are_shared(
        running_stack: Settings, redis_url: str, tmp_path: Path) -> None:
    a, b = instances(running_stack, redis_url, tmp_path / "keys.json")
    key, secret = a.keys.add("server", "web-shop", rate_per_s=0.5, burst=4)
    b.keys.reload()
    tag = run_tag("shr")

    def signed(n: int, items: int) -> tuple[bytes, dict[str, str]]:
        body = orjson.dumps([{"event_id": f"{tag}-{n}-{i}", "occurred_at": int(time.time() * 1000),
                              "kind": "response", "channel": "web", "touchpoint": f"shared_{tag}",
                              "journey_stage": "purchase", "csat": 4} for i in range(items)])
        return body, signed_headers(key.key_id, secret, "POST", "/v1/events", body)

    first, again = signed(1, 3), signed(2, 2)
    assert asyncio.run(through(a, b, [
        (0, "/v1/events", *first),   # accepted by instance A: 3 of the key's 4 items
        (1, "/v1/events", *first),   # the same signed request at B: a replay
        (1, "/v1/events", *again),   # 2 more items at B: past the shared budget
    ])) == [(200, "ok"), (409, "replayed_request"), (429, "rate_limited")]


def test_one_client_cannot_spend_a_browser_keys_rate_and_widget_tokens(
        running_stack: Settings, redis_url: str, tmp_path: Path) -> None:
    a, b = instances(running_stack, redis_url, tmp_path / "keys.json")
    open_key, _ = a.keys.add("browser", "web-shop", allowed_origins=(ORIGIN,))
    signer, secret = a.keys.add("server", "web-shop-backend")
    token_key, _ = a.keys.add("browser", "web-shop", allowed_origins=(ORIGIN,),
                              token_signer=signer.key_id)
    b.keys.reload()
    tag, now = run_tag("cli"), int(time.time())

    def post(instance: int, key: str, n: int, **headers: str) -> tuple[int, str, bytes, dict[str, str]]:
        return (instance, "/v1/surveys/web", orjson.dumps(answer(f"{tag}-{key[-4:]}-{n}")),
                {"Origin": ORIGIN, "X-Cx-Key": key, **headers})

    x, y = {"X-Forwarded-For": "198.51.100.1, 203.0.113.5"}, {"X-Forwarded-For": "203.0.113.6"}
    spoofed = {"X-Forwarded-For": "203.0.113.99, 203.0.113.5"}  # the client wrote the left entry
    assert asyncio.run(through(a, b, [
        post(0, open_key.key_id, 1, **x), post(1, open_key.key_id, 2, **x),
        post(1, open_key.key_id, 3, **x),        # a third from client x, at either instance: refused
        post(0, open_key.key_id, 4, **spoofed),  # a forged left-most hop does not make it someone else
        post(1, open_key.key_id, 5, **y),        # another client still posts
    ])) == [(200, "ok"), (200, "ok"), (429, "client_rate_limited"), (429, "client_rate_limited"),
            (200, "ok")]

    def token(subject: str, key: str = token_key.key_id, ttl: int = 300) -> dict[str, str]:
        return {"X-Cx-Widget-Token": widget_token(secret, key, subject, now + ttl)}

    a, b = instances(running_stack, redis_url, tmp_path / "keys.json")  # fresh, same key file
    assert asyncio.run(through(a, b, [
        post(0, token_key.key_id, 1, **x),                                  # no token
        post(0, token_key.key_id, 2, **x, **token("s1", key=open_key.key_id)),  # for another key
        post(1, token_key.key_id, 3, **x, **token("s1", ttl=-5)),           # expired
        post(0, token_key.key_id, 4, **x, **token("s1")),
        post(1, token_key.key_id, 5, **x, **token("s1")),
        post(0, token_key.key_id, 6, **x, **token("s1")),                   # s1 spent its budget ...
        post(1, token_key.key_id, 7, **x, **token("s2")),                   # ... s2 (same address) not
    ])) == [(401, "bad_widget_token")] * 3 + [(200, "ok"), (200, "ok"), (429, "client_rate_limited"),
                                              (200, "ok")]
