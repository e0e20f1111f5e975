"""The HTTP ingest service (``cxpulse ingest``): web surveys, back ends and partners -> Kafka.

Routes (the OpenAPI document at ``/openapi.json`` is the reference):

- ``POST /v1/events`` — canonical events (one object, a list, or ``{"events": [...]}``), server keys;
- ``POST /v1/surveys/web`` — the widget's compact answers (one or a list), server or browser keys;
- ``GET /widget.js``, ``GET /openapi.json``, ``GET /health``, ``GET /metrics``.

Order of checks on a POST, each failure answered at once and nothing sent to Kafka: body size (from
``Content-Length``, before reading; a chunked body is cut off at the cap), key, timestamp, signature,
replay, origin and widget token (browser keys), rate limit (browser keys: per client first — its
token's subject, else its address, ``clients.client_address`` — then per key). With a Redis URL,
limits and the replay cache are shared by every instance (``shared``). Then every item is processed
by its connector through the SDK runtime (privacy, validation, dead letters) and the answer — one
result per item: ``accepted``, ``duplicate`` or ``rejected`` with its reason — is sent only after
Kafka acknowledged every record.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from connectors.ingest import clients, signing
from connectors.ingest.delivery import RecentIds, RequestPublisher, SharedProducer
from connectors.ingest.keys import ApiKey, KeyFileError, KeyStore
from connectors.ingest.openapi import openapi_document
from connectors.ingest.shared import RateLimits, RedisRateLimiter, RedisReplayCache, Replays
from connectors.sdk.base import Connector
from connectors.sdk.privacy import PrivacyKey
from connectors.sdk.publisher import DeliveryFailed
from connectors.sdk.runtime import ConnectorRuntime
from connectors.web import ApiEventsConnector, WebSurveyConfig, WebSurveyConnector
from schemas.codec import AvroCodec
from schemas.topics import Topics

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"

REQUESTS = Counter("cxpulse_ingest_requests_total", "HTTP requests answered, by route and status",
                   ["route", "status"])
ITEMS = Counter("cxpulse_ingest_items_total", "Posted items by key source and result",
                ["source", "result"])
LATENCY = Histogram("cxpulse_ingest_request_seconds", "Time to answer a POST, Kafka ack included",
                    ["route"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


@dataclass(frozen=True)
class IngestConfig:
    """Limits and wiring of one ingest service."""

    bootstrap: str
    topics: Topics
    codec: AvroCodec
    keys_file: Path
    master_key: PrivacyKey
    privacy_key: PrivacyKey
    max_body_bytes: int = 256 * 1024
    max_items: int = 500
    survey: WebSurveyConfig = field(default_factory=WebSurveyConfig)
    ack_timeout_s: float = 30.0
    max_in_flight: int = 64
    """Requests being processed at once; more are answered 503 at once rather than queued."""
    redis_url: str = ""
    """Shared rate limits and replay cache (several instances); empty: this instance's own."""
    redis_prefix: str = "cxpulse:"
    trusted_proxies: tuple[clients.Network, ...] = ()
    client_rate_per_s: float = 2.0
    """Browser keys: items per second one client (address or token subject) may post."""
    client_burst: int = 20


class Refused(Exception):
    """A request refused before any item was processed: status, stable error code, message."""

    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers or {}


class IngestService:
    """Holds the shared state (keys, producer, replay cache, rate limiter) and the handlers."""

    def __init__(self, config: IngestConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.keys = KeyStore(config.keys_file, config.master_key)
        self._clock = clock
        self.replays: Replays = signing.ReplayCache()
        self.limits: RateLimits = signing.RateLimiter()
        if config.redis_url:
            self.replays = RedisReplayCache(config.redis_url, config.redis_prefix)
            self.limits = RedisRateLimiter(config.redis_url, config.redis_prefix)
        self.recent = RecentIds()
        self.producer: SharedProducer | None = None
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ingest")
        self._in_flight = 0
        self._connectors: dict[str, Connector[Any]] = {
            "/v1/events": ApiEventsConnector(ApiEventsConnector.Config()),
            "/v1/surveys/web": WebSurveyConnector(config.survey),
        }

    def _refresh_keys(self) -> None:
        """Pick up keys added or revoked by ``cxpulse ingest keys`` (checked at most once a second)."""
        try:
            if self.keys.refresh():
                log.info("ingest keys reloaded: %d key(s)", len(self.keys.all()))
        except KeyFileError as exc:  # keep serving with the keys we have; say so loudly
            log.error("ingest: key file not reloaded, previous keys stay in use: %s", exc)

    # -- checks, in the order they run -------------------------------------------------------

    def check_size(self, request: web.Request) -> None:
        """413 from the declared length, before a byte of the body is read."""
        length = request.content_length
        if length is not None and length > self.config.max_body_bytes:
            raise Refused(413, "body_too_large",
                          f"body of {length} bytes exceeds the {self.config.max_body_bytes}-byte cap")

    def authenticate(self, request: web.Request) -> ApiKey:
        """The key of the request (signature checks come after the body is read)."""
        self._refresh_keys()
        key_id = request.headers.get("X-Cx-Key", "")
        if not key_id:
            raise Refused(401, "missing_key", "send your API key in the X-Cx-Key header")
        key = self.keys.get(key_id)
        if key is None:
            raise Refused(401, "unknown_key", "unknown or revoked API key")
        if key.kind == "browser":
            if request.path != "/v1/surveys/web":
                raise Refused(403, "key_not_allowed", "browser keys only submit /v1/surveys/web")
            origin = request.headers.get("Origin", "")
            if origin not in key.allowed_origins:
                raise Refused(403, "origin_not_allowed", f"origin {origin or '(none)'} not allowed")
            self.check_widget_token(request, key)
            return key
        timestamp = request.headers.get("X-Cx-Timestamp", "")
        if not signing.timestamp_fresh(timestamp, self._clock()):
            raise Refused(401, "stale_timestamp",
                          f"X-Cx-Timestamp must be unix seconds within {signing.REPLAY_WINDOW_S} s "
                          "of the server clock")
        return key

    def _token_subject(self, request: web.Request, key: ApiKey) -> str | None:
        """The subject of the request's widget token, if its key's signer signed it and it lives."""
        signer = self.keys.get(key.token_signer) if key.token_signer else None
        secret = self.keys.secret_of(signer) if signer is not None else None
        if secret is None:
            return None
        return clients.token_subject(secret, request.headers.get("X-Cx-Widget-Token", ""),
                                     key.key_id, self._clock())

    def check_widget_token(self, request: web.Request, key: ApiKey) -> None:
        """401 unless a browser key that requires widget tokens got a valid, live one."""
        if key.token_signer and self._token_subject(request, key) is None:
            raise Refused(401, "bad_widget_token", "this key needs a valid X-Cx-Widget-Token from "
                          "the site's back end")

    def client_of(self, request: web.Request, key: ApiKey) -> str:
        """Whom a browser key's per-client limit counts: the token's subject, else the address."""
        subject = self._token_subject(request, key)
        if subject:
            return f"token:{subject}"
        return "addr:" + clients.client_address(request.remote or "", request.headers.get(
            "X-Forwarded-For", ""), self.config.trusted_proxies)

    def verify_signature(self, request: web.Request, key: ApiKey, body: bytes) -> str | None:
        """401 for a bad signature, 409 for a signature already used (a replayed request).

        Returns the signature now recorded as used (None for browser keys): the caller forgets it
        again if the request is not answered 2xx, so retrying a refused or failed request is allowed.
        """
        if key.kind == "browser":
            return None
        secret = self.keys.secret_of(key)
        timestamp = request.headers["X-Cx-Timestamp"]
        signature = signing.canonical_signature(request.headers.get("X-Cx-Signature", ""))
        if secret is None or signature is None or not signing.signature_valid(
                secret, signature, timestamp, request.method, request.path_qs, body):
            raise Refused(401, "bad_signature", "X-Cx-Signature does not match the request")
        if not self.replays.first_use(key.key_id, signature, int(timestamp), self._clock()):
            raise Refused(409, "replayed_request", "this signed request was already received")
        return signature

    def check_rate(self, key: ApiKey, items: int, client: str = "") -> None:
        """429 with Retry-After when a budget cannot pay one token per item.

        Browser keys pay from their client's budget, then the key's; a batch larger than the
        bucket could never pass: 413, split it.
        """
        if items > key.burst:
            raise Refused(413, "too_many_items",
                          f"key {key.key_id} takes at most {key.burst} items per request")
        if key.kind == "browser" and client:  # first: a refused client spends none of the key's
            rate, burst = self.config.client_rate_per_s, self.config.client_burst
            wait = self.limits.take(f"{key.key_id}/{client}", items, rate, burst, time.monotonic())
            if wait > 0:
                raise Refused(429, "client_rate_limited", f"one client may post {rate:g} items/s "
                              f"(burst {burst}) with this key",
                              {"Retry-After": str(max(1, int(min(wait, 3600) + 0.999)))})
        wait = self.limits.take(key.key_id, items, key.rate_per_s, key.burst, time.monotonic())
        if wait > 0:
            retry = str(max(1, int(wait + 0.999)))
            raise Refused(429, "rate_limited",
                          f"key {key.key_id} is limited to {key.rate_per_s:g} items/s "
                          f"(burst {key.burst})", {"Retry-After": retry})

    # -- the work ---------------------------------------------------------------------------

    def items_of(self, body: bytes) -> list[Any]:
        """The posted items: one object, a list, or ``{"events": [...]}``."""
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise Refused(400, "invalid_json", f"body is not JSON: {exc}") from None
        if isinstance(parsed, dict) and isinstance(parsed.get("events"), list):
            parsed = parsed["events"]
        items = parsed if isinstance(parsed, list) else [parsed]
        if not items:
            raise Refused(400, "empty_batch", "no items posted")
        if len(items) > self.config.max_items:
            raise Refused(413, "too_many_items",
                          f"{len(items)} items exceed the {self.config.max_items}-item batch cap")
        return items

    def publish(self, route: str, key: ApiKey, items: list[Any],
                deadline: float | None = None) -> RequestPublisher:
        """Every item through its connector and the runtime; returns once Kafka acknowledged all.

        ``deadline`` (``time.monotonic()``) bounds the whole request, time spent queued for a
        thread included: a request still queued at its deadline is not started at all.
        """
        assert self.producer is not None, "service not started"
        deadline = deadline if deadline is not None else time.monotonic() + self.config.ack_timeout_s
        if time.monotonic() >= deadline:
            raise DeliveryFailed("the request waited past its deadline before it could start")
        connector = self._connectors[route]
        publisher = RequestPublisher(self.producer, self.config.topics, self.config.codec,
                                     key.source, self.recent, privacy_key=self.config.privacy_key,
                                     raw_id_fields=connector.raw_id_fields(), deadline=deadline)
        runtime = ConnectorRuntime(connector, publisher)
        received_at = int(self._clock() * 1000)
        binding = {"channel": key.channel or "", "partner_id": key.partner_id}
        for index, item in enumerate(items):
            publisher.begin(index)
            runtime.process({"source": key.source, "received_at": received_at, "key": binding,
                             "item": item})
        publisher.flush(max(0.0, deadline - time.monotonic()))
        return publisher

    async def handle_post(self, request: web.Request) -> web.Response:
        """Checks, then items -> Kafka, then the per-item answer."""
        route = request.path
        if self._in_flight >= self.config.max_in_flight:
            return self._refusal(request, route, None, Refused(
                503, "overloaded", "too many requests in progress; retry shortly",
                {"Retry-After": "1"}))
        self._in_flight += 1
        key: ApiKey | None = None
        signature: str | None = None
        answered_ok = False
        try:
            self.check_size(request)
            key = self.authenticate(request)
            body = await request.read()
            signature = self.verify_signature(request, key, body)
            items = self.items_of(body)
            self.check_rate(key, len(items), self.client_of(request, key))
            response = await self._publish_and_answer(request, route, key, items)
            answered_ok = True
            return response
        except Refused as exc:
            return self._refusal(request, route, key, exc)
        except web.HTTPRequestEntityTooLarge:
            return self._refusal(request, route, key, Refused(
                413, "body_too_large", f"body exceeds the {self.config.max_body_bytes}-byte cap"))
        except DeliveryFailed as exc:
            log.error("ingest: Kafka did not acknowledge a request of key %s: %s",
                      key.key_id if key else "-", exc)
            return self._refusal(request, route, key, Refused(
                503, "kafka_unavailable", "events not stored; retry later (same ids are safe)",
                {"Retry-After": "5"}))
        finally:
            self._in_flight -= 1
            if signature is not None and key is not None and not answered_ok:
                self.replays.forget(key.key_id, signature)

    async def _publish_and_answer(self, request: web.Request, route: str, key: ApiKey,
                                  items: list[Any]) -> web.Response:
        started = time.perf_counter()
        deadline = time.monotonic() + self.config.ack_timeout_s
        loop = asyncio.get_running_loop()
        publisher = await loop.run_in_executor(self._pool, self.publish, route, key, items, deadline)
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        for outcome in publisher.outcomes:
            counts[outcome.status] += 1
            ITEMS.labels(key.source, outcome.status).inc()
        status = 422 if counts["rejected"] == len(publisher.outcomes) else 200
        LATENCY.labels(route).observe(time.perf_counter() - started)
        REQUESTS.labels(route, str(status)).inc()
        body_out = {"accepted": counts["accepted"], "duplicates": counts["duplicate"],
                    "rejected": counts["rejected"],
                    "results": [o.as_json() for o in publisher.outcomes]}
        return web.json_response(body_out, status=status, dumps=_dumps,
                                 headers=self._cors(request, key))

    def _refusal(self, request: web.Request, route: str, key: ApiKey | None,
                 exc: Refused) -> web.Response:
        REQUESTS.labels(route, str(exc.status)).inc()
        log.info("ingest: %s %s refused %d %s (key %s)", request.method, route, exc.status,
                 exc.error, key.key_id if key else "-")
        return web.json_response({"error": exc.error, "message": exc.message}, status=exc.status,
                                 headers={**exc.headers, **self._cors(request, key)}, dumps=_dumps)

    def _cors(self, request: web.Request, key: ApiKey | None) -> dict[str, str]:
        """CORS headers that let a widget page read the answer.

        The key's own origins; or, for a refusal before the key was known, any browser key's, so
        the page sees the real status (401, 413) rather than a network error.
        """
        origin = request.headers.get("Origin", "")
        if key is not None:
            allowed = key.kind == "browser" and origin in key.allowed_origins
        else:
            allowed = self._origin_of_some_browser_key(origin)
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if allowed else {}

    def _origin_of_some_browser_key(self, origin: str) -> bool:
        return bool(origin) and any(
            origin in k.allowed_origins for k in self.keys.all() if k.kind == "browser")

    async def handle_preflight(self, request: web.Request) -> web.Response:
        """CORS preflight of the widget: allowed when some browser key allows the origin."""
        self._refresh_keys()
        origin = request.headers.get("Origin", "")
        if not self._origin_of_some_browser_key(origin):
            return web.Response(status=403)
        return web.Response(status=204, headers={
            "Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type, X-Cx-Key, X-Cx-Widget-Token",
            "Access-Control-Max-Age": "600"})

    async def handle_health(self, _request: web.Request) -> web.Response:
        """200 while the producer runs and the key file is readable."""
        ok = self.producer is not None
        return web.json_response({"ok": ok, "keys": len(self.keys.all())}, status=200 if ok else 503)

    async def handle_metrics(self, _request: web.Request) -> web.Response:
        """Prometheus exposition of this process."""
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def handle_openapi(self, request: web.Request) -> web.Response:
        """The OpenAPI 3.1 document of this service."""
        return web.json_response(openapi_document(self.config.max_body_bytes,
                                                  self.config.max_items), dumps=_dumps)

    async def handle_widget(self, _request: web.Request) -> web.Response:
        """The embeddable survey widget."""
        return web.Response(body=(STATIC / "widget.js").read_bytes(), headers={
            "Content-Type": "application/javascript; charset=utf-8",
            "Cache-Control": "public, max-age=300"})

    def app(self) -> web.Application:
        """The aiohttp application; the producer starts and stops with it."""
        app = web.Application(client_max_size=self.config.max_body_bytes)
        app.router.add_post("/v1/events", self.handle_post)
        app.router.add_post("/v1/surveys/web", self.handle_post)
        app.router.add_route("OPTIONS", "/v1/surveys/web", self.handle_preflight)
        app.router.add_get("/health", self.handle_health)
        app.router.add_get("/metrics", self.handle_metrics)
        app.router.add_get("/openapi.json", self.handle_openapi)
        app.router.add_get("/widget.js", self.handle_widget)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, _app: web.Application) -> None:
        self.producer = SharedProducer(self.config.bootstrap)

    async def _stop(self, _app: web.Application) -> None:
        # Requests still running finish producing before the producer flushes and stops.
        await asyncio.get_running_loop().run_in_executor(None, self._pool.shutdown, True)
        if self.producer is not None:
            # Every request still waiting gets its answer within ack_timeout_s: no longer flush.
            left = await asyncio.get_running_loop().run_in_executor(
                None, self.producer.close, self.config.ack_timeout_s)
            if left:
                log.error("ingest: %d record(s) undelivered at shutdown", left)


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def serve(service: IngestService, host: str, port: int) -> None:
    """Run until SIGTERM/SIGINT; in-flight requests finish and the producer flushes on the way out."""
    web.run_app(service.app(), host=host, port=port, print=None, access_log=None,
                shutdown_timeout=service.config.ack_timeout_s + 5)
