"""The HTTP ingest service of the stack -> Kafka -> worker -> ClickHouse, and its security negatives.

Events sit at now-4d (outside the windows other tests compare) under a per-run touchpoint; widget-style
answers occur "now" (the service's clock) under their own touchpoint, too few to move any alert.
"""

from __future__ import annotations

import asyncio
import http.client
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from connectors.ingest.client import Answer, IngestClient, send, signed_headers
from connectors.ingest.keys import KeyStore
from connectors.ingest.service import IngestConfig, IngestService
from connectors.sdk.privacy import PrivacyKey
from cxpulse.settings import Settings
from cxpulse.wiring import master_key
from schemas.codec import AvroCodec
from schemas.topics import Topics
from sql.client import ServerDatabase
from tests.conftest import free_port, run_tag
from tests.integration.test_end_to_end import cxpulse
from tests.integration.topic_reader import read_topic

DAY_MS = 86_400_000


def add_key(settings: Settings, kind: str = "server", **options: Any) -> tuple[str, str]:
    """A new key in the stack's key file; the running service picks it up within a second."""
    key, secret = KeyStore(settings.ingest_keys_path, master_key(settings)).add(
        kind, options.pop("source", "web-shop"), **options)  # type: ignore[arg-type]
    time.sleep(1.2)
    return key.key_id, secret


def url(settings: Settings, path: str = "") -> str:
    return f"http://127.0.0.1:{settings.ingest_port}{path}"


@pytest.fixture(scope="module")
def server_key(running_stack: Settings) -> tuple[str, str]:
    return add_key(running_stack, source="web-shop")


def event(tag: str, n: int, occurred: int, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"{tag}-{n}", "occurred_at": occurred, "kind": "response", "channel": "web",
            "touchpoint": f"checkout_{tag}", "journey_stage": "purchase", **fields}


def topic_ids(settings: Settings, topic: str, tag: str) -> list[str]:
    """The event ids (touchpoints) or raw payloads (dlq) mentioning ``tag``."""
    found = []
    for msg in read_topic(settings.bootstrap, topic):
        value = msg.value() or b""
        if tag.encode() in value:
            found.append(value.decode("utf-8", "replace"))
    return found


def test_signed_batch_per_item_results_kafka_and_figures(
        running_stack: Settings, cli_env: dict[str, str], server_db: ServerDatabase,
        server_key: tuple[str, str]) -> None:
    tag = run_tag("ing")
    at = int(time.time() * 1000) - 4 * DAY_MS
    scores = [5, 4, 2, 5, 1, 3]
    good = [event(tag, n, at + n * 1000, csat=s, customer_id=f"CUST-{tag}-{n}",
                  comment=f"email me: an{n}@example.vn") for n, s in enumerate(scores)]
    bad = [event(tag, 90, at, csat=9), event(tag, 91, at - 8 * DAY_MS, csat=3)]
    client = IngestClient(url(running_stack), *server_key)

    answer = client.post_events([*good, good[0], *bad])
    assert answer.status == 200, answer.body
    statuses = [(r["status"], r.get("reason")) for r in answer.body["results"]]
    assert statuses == [("accepted", None)] * 6 + [("duplicate", None),
                                                   ("rejected", "score_out_of_range"),
                                                   ("rejected", "occurred_at_out_of_range")]
    assert answer.body["results"][0]["event_id"] == f"api/web-shop/{tag}-0"

    again = client.post_events(good)  # a client retry: nothing new
    assert [r["status"] for r in again.body["results"]] == ["duplicate"] * 6
    all_bad = client.post_events(bad[:1])
    assert all_bad.status == 422 and all_bad.body["rejected"] == 1

    topics = Topics(running_stack.topic_prefix)
    assert len(topic_ids(running_stack, topics.touchpoints, tag)) == 6
    dead = topic_ids(running_stack, topics.dlq, tag)
    assert len(dead) == 3 and all("@example.vn" not in d for d in dead)

    cxpulse(cli_env, "drain", "--timeout", "180")
    rows = server_db.execute(
        "SELECT count(), sum(csat >= 4), sum(csat), countIf(customer_id LIKE 'c\\_%%'), "
        "countIf(position(comment, '@') > 0), any(source) FROM touchpoint_events "
        "WHERE touchpoint = %(tp)s", {"tp": f"checkout_{tag}"})
    assert rows == [(6, sum(s >= 4 for s in scores), sum(scores), 6, 0, "web-shop")]
    figures = orjson.loads(cxpulse(cli_env, "metrics", "--from", str(at // 1000 - 60), "--to",
                                   str(at // 1000 + 3600), "--by", "touchpoint", "--format", "json"))
    [mine] = [f for f in figures if f["touchpoint"] == f"checkout_{tag}"]
    assert (mine["csat_responses"], mine["csat_satisfied"]) == (6, 3)


def test_partner_key_submits_only_its_own_events(running_stack: Settings) -> None:
    key_id, secret = add_key(running_stack, source="acme-mart", channel="retail_partner",
                             partner_id="acme")
    tag = run_tag("prt")
    at = int(time.time() * 1000) - 4 * DAY_MS
    answer = IngestClient(url(running_stack), key_id, secret).post_events([
        event(tag, 1, at, channel="retail_partner", nps=9),
        event(tag, 2, at, channel="retail_partner", partner_id="rival", nps=0),
        event(tag, 3, at, channel="web", nps=0)])
    assert [(r["status"], r.get("reason")) for r in answer.body["results"]] == [
        ("accepted", None), ("rejected", "partner_not_allowed"), ("rejected", "channel_not_allowed")]
    [stored] = topic_ids(running_stack, Topics(running_stack.topic_prefix).touchpoints, tag)
    assert "api/acme-mart/" in stored and "acme" in stored


def raw_post(settings: Settings, path: str, body: bytes, headers: dict[str, str]) -> Answer:
    request = urllib.request.Request(url(settings, path), data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    return send(request)


@pytest.fixture()
def nothing_reaches_kafka(running_stack: Settings) -> Iterator[str]:
    """A tag for the test's events; afterwards, no record anywhere mentions it."""
    tag = run_tag("neg")
    yield tag
    topics = Topics(running_stack.topic_prefix)
    for topic in (topics.touchpoints, topics.dlq):
        assert topic_ids(running_stack, topic, tag) == [], topic


def test_security_negatives_are_refused_and_nothing_reaches_kafka(
        running_stack: Settings, server_key: tuple[str, str], nothing_reaches_kafka: str) -> None:
    tag, (key_id, secret) = nothing_reaches_kafka, server_key
    at = int(time.time() * 1000) - 4 * DAY_MS
    body = orjson.dumps([event(tag, 1, at, csat=5)])

    def post(headers: dict[str, str], data: bytes = body) -> tuple[int, str]:
        answer = raw_post(running_stack, "/v1/events", data, headers)
        return answer.status, answer.body["error"]

    good = signed_headers(key_id, secret, "POST", "/v1/events", body)
    assert post({**good, "X-Cx-Signature": "sha256=" + "0" * 64}) == (401, "bad_signature")
    assert post(good, body.replace(b'"csat":5', b'"csat":1')) == (401, "bad_signature")
    stale = signed_headers(key_id, secret, "POST", "/v1/events", body, int(time.time()) - 301)
    assert post(stale) == (401, "stale_timestamp")
    assert post({**good, "X-Cx-Key": "cxk_000000000000000000000000"}) == (401, "unknown_key")
    assert post({k: v for k, v in good.items() if k != "X-Cx-Key"}) == (401, "missing_key")
    browser_id, _ = add_key(running_stack, "browser", allowed_origins=("http://shop.test",))
    assert post({"X-Cx-Key": browser_id, "Origin": "http://shop.test"}) == (403, "key_not_allowed")

    huge = b'[' + b' ' * running_stack.ingest_max_body_bytes + body[1:]
    assert post(signed_headers(key_id, secret, "POST", "/v1/events", huge), huge) == (
        413, "body_too_large")
    assert chunked_post(running_stack, huge, signed_headers(
        key_id, secret, "POST", "/v1/events", huge)) == 413

    limited_id, limited_secret = add_key(running_stack, rate_per_s=0.01, burst=1)
    first = orjson.dumps([event(f"ratefirst{time.time_ns()}", 1, at, csat=5)])
    assert raw_post(running_stack, "/v1/events", first, signed_headers(
        limited_id, limited_secret, "POST", "/v1/events", first)).status == 200  # the bucket's one
    one = orjson.dumps([event(tag, 2, at, csat=5)])
    limited = raw_post(running_stack, "/v1/events", one,
                       signed_headers(limited_id, limited_secret, "POST", "/v1/events", one))
    assert (limited.status, limited.body["error"]) == (429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1

    once = orjson.dumps([event(f"replay{time.time_ns()}", 1, at, csat=5)])
    headers = signed_headers(key_id, secret, "POST", "/v1/events", once)
    assert raw_post(running_stack, "/v1/events", once, headers).status == 200
    assert post(headers, once) == (409, "replayed_request")


def chunked_post(settings: Settings, body: bytes, headers: dict[str, str]) -> int:
    """A body without Content-Length: the cap is enforced while reading."""
    conn = http.client.HTTPConnection("127.0.0.1", settings.ingest_port, timeout=30)
    try:
        conn.putrequest("POST", "/v1/events")
        for name, value in {**headers, "Transfer-Encoding": "chunked",
                            "Content-Type": "application/json"}.items():
            conn.putheader(name, value)
        conn.endheaders()
        try:
            for start in range(0, len(body), 65536):
                chunk = body[start:start + 65536]
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before the whole body is sent
        return conn.getresponse().status
    finally:
        conn.close()


def test_openapi_health_and_metrics(running_stack: Settings) -> None:
    with urllib.request.urlopen(url(running_stack, "/openapi.json"), timeout=10) as response:
        doc = orjson.loads(response.read())
    assert doc["openapi"].startswith("3.") and "/v1/surveys/web" in doc["paths"]
    with urllib.request.urlopen(url(running_stack, "/health"), timeout=10) as response:
        assert orjson.loads(response.read())["ok"] is True
    with urllib.request.urlopen(url(running_stack, "/metrics"), timeout=10) as response:
        assert b"cxpulse_ingest_requests_total" in response.read()


def dead_broker_service(tmp_path: Path, **limits: Any) -> IngestService:
    """A service whose broker never answers: every request that reaches Kafka fails."""
    return IngestService(IngestConfig(
        bootstrap=f"127.0.0.1:{free_port()}", topics=Topics("t."), codec=AvroCodec(),
        keys_file=tmp_path / "keys.json", master_key=PrivacyKey("master-key-for-this-test-0001"),
        privacy_key=PrivacyKey("privacy-key-for-this-test-0001"), ack_timeout_s=1.5, **limits))


def test_no_2xx_without_a_kafka_acknowledgement_and_the_same_request_may_be_retried(
        tmp_path: Path) -> None:
    """A broker that is down gives 503 (retry later), never 200; the identical signed request,
    retried, is not mistaken for a replay."""
    service = dead_broker_service(tmp_path)
    key, secret = service.keys.add("server", "web-shop")
    body = orjson.dumps([event("down", 1, int(time.time() * 1000), csat=5)])
    headers = signed_headers(key.key_id, secret, "POST", "/v1/events", body)

    async def scenario() -> list[tuple[int, Any]]:
        async with TestClient(TestServer(service.app())) as client:
            answers = []
            for _ in range(2):
                response = await client.post("/v1/events", data=body, headers=headers)
                answers.append((response.status, (await response.json())["error"]))
            return answers

    assert asyncio.run(scenario()) == [(503, "kafka_unavailable")] * 2


def test_refusals_that_need_no_broker(tmp_path: Path) -> None:
    """Decorated signatures, odd timestamps, batches beyond a key's bucket, overload: all clean
    4xx/503 answers, never a 500 and never a second use of one signature."""
    service = dead_broker_service(tmp_path)
    busy = dead_broker_service(tmp_path, max_in_flight=0)  # shares the key file
    key, secret = service.keys.add("server", "web-shop", burst=2)
    busy.keys.reload()
    body = orjson.dumps([event("x", n, int(time.time() * 1000), csat=5) for n in range(3)])
    good = signed_headers(key.key_id, secret, "POST", "/v1/events", body)

    async def post(client: TestClient, headers: dict[str, str], data: bytes = body) -> tuple[int, str]:
        response = await client.post("/v1/events", data=data, headers=headers)
        return response.status, (await response.json())["error"]

    async def scenario() -> list[tuple[int, str]]:
        async with TestClient(TestServer(busy.app())) as client:
            overloaded = await post(client, good)
        async with TestClient(TestServer(service.app())) as client:
            return [
                overloaded,
                await post(client, {**good, "X-Cx-Signature": good["X-Cx-Signature"] + "\u00a0"}),
                await post(client, {**good, "X-Cx-Timestamp": "\u00b2"}),
                await post(client, good),  # 3 items, a bucket of 2: can never pass
                await post(client, good),  # refused before, so not a replay
            ]

    assert asyncio.run(scenario()) == [
        (503, "overloaded"), (401, "bad_signature"), (401, "stale_timestamp"),
        (413, "too_many_items"), (413, "too_many_items")]


def test_a_widget_page_can_read_a_refusal(tmp_path: Path) -> None:
    """A refusal before the key is known still carries CORS headers for a widget's origin."""
    service = dead_broker_service(tmp_path)
    service.keys.add("browser", "web-shop", allowed_origins=("https://shop.example",))

    async def scenario() -> list[tuple[int, str | None]]:
        async with TestClient(TestServer(service.app())) as client:
            answers = []
            for origin in ("https://shop.example", "https://evil.example"):
                response = await client.post("/v1/surveys/web", data=b"{}", headers={
                    "Origin": origin, "X-Cx-Key": "cxp_000000000000000000000000"})
                answers.append((response.status,
                                response.headers.get("Access-Control-Allow-Origin")))
            return answers

    assert asyncio.run(scenario()) == [(401, "https://shop.example"), (401, None)]
