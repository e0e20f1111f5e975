"""The web connectors (widget answers, canonical events via the API) and the ingest service's pure parts."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from connectors.ingest import signing
from connectors.ingest.keys import KeyFileError, KeyStore, secret_hash
from connectors.ingest.openapi import event_schema, openapi_document
from connectors.sdk.base import InvalidRecord
from connectors.sdk.testing import ConnectorContract, load_samples
from connectors.web import ApiEventsConfig, ApiEventsConnector, WebSurveyConfig, WebSurveyConnector
from schemas.event import FIELDS

RECEIVED = 1_790_000_000_000
WEB = {"channel": "", "partner_id": ""}
PARTNER = {"channel": "retail_partner", "partner_id": "acme"}


def submission(item: Any, key: dict[str, str] = WEB, source: str = "web-shop") -> dict[str, Any]:
    return {"source": source, "received_at": RECEIVED, "key": key, "item": item}


def answer(**fields: Any) -> dict[str, Any]:
    return {"id": "0b6f7f2e-6c1d-4a8e-9d55-1f2c3b4a5d6e", "touchpoint": "checkout",
            "scale": "smiley", "score": 3, **fields}


SAMPLES = Path(__file__).parents[1] / "samples" / "web"
SAMPLE_RECEIVED = 1_795_478_400_000
"""2026-11-24T00:00:00Z: the samples' events happened in the days before."""
KEYS = {"web": WEB, "partner": PARTNER}


def samples(name: str) -> tuple[list[Any], list[tuple[Any, str]]]:
    """(good submissions, (bad submission, reason)) from a real-format sample file."""
    good, bad = [], []
    for line in load_samples(SAMPLES / name):
        key = KEYS[line.get("key", "web")]
        record = {**submission(line["item"], key, "acme" if key is PARTNER else "web-shop"),
                  "received_at": SAMPLE_RECEIVED}
        (bad.append((record, line["reason"])) if line["reason"] else good.append(record))
    return good, bad


class TestWebSurveyContract(ConnectorContract):
    connector_cls = WebSurveyConnector
    config = {"journey_stages": {"checkout": "purchase"}}
    good_records, bad_records = samples("widget_answers.jsonl")
    bad_records = [*bad_records, ({"item": answer()}, "invalid_submission")]


class TestApiEventsContract(ConnectorContract):
    connector_cls = ApiEventsConnector
    good_records, bad_records = samples("api_events.jsonl")


def test_smiley_maps_to_csat_like_kiosks_and_ids_are_namespaced() -> None:
    connector = WebSurveyConnector(WebSurveyConfig(journey_stages={"checkout": "purchase"}))
    faces = [connector.to_events(submission(answer(score=s)))[0]["csat"] for s in (1, 2, 3, 4)]
    assert faces == [1, 2, 4, 5]
    [event] = connector.to_events(submission(answer(page="/checkout?email=a@b.vn#x")))
    assert event["event_id"] == "widget/web-shop/0b6f7f2e-6c1d-4a8e-9d55-1f2c3b4a5d6e"
    assert event["journey_stage"] == "purchase"
    assert event["occurred_at"] == RECEIVED  # a browser's clock is not trusted
    assert event["attributes"] == {"scale": "smiley", "page": "/checkout"}


def test_api_events_are_bound_to_their_key() -> None:
    connector = ApiEventsConnector(ApiEventsConfig())
    [event] = connector.to_events(submission(
        {"event_id": "r-1", "source": "spoofed", "received_at": 1, "kind": "response"},
        PARTNER, "acme"))
    assert event["event_id"] == "api/acme/r-1"
    assert event["source"] == "acme"
    assert (event["channel"], event["partner_id"]) == ("retail_partner", "acme")
    assert event["received_at"] == RECEIVED
    with pytest.raises(InvalidRecord, match="partner acme only"):
        connector.to_events(submission({"event_id": "r-2", "partner_id": "rival"}, PARTNER, "acme"))


def test_signature_covers_timestamp_method_path_and_body() -> None:
    sig = signing.sign("s3cret", "1790000000", "POST", "/v1/events", b'{"a":1}')
    assert signing.signature_valid("s3cret", sig, "1790000000", "POST", "/v1/events", b'{"a":1}')
    for args in (("s3cret", "1790000001", "POST", "/v1/events", b'{"a":1}'),
                 ("s3cret", "1790000000", "PUT", "/v1/events", b'{"a":1}'),
                 ("s3cret", "1790000000", "POST", "/v1/surveys/web", b'{"a":1}'),
                 ("s3cret", "1790000000", "POST", "/v1/events", b'{"a":2}'),
                 ("other!", "1790000000", "POST", "/v1/events", b'{"a":1}')):
        assert not signing.signature_valid(args[0], sig, *args[1:])


@pytest.mark.parametrize("timestamp,fresh", [
    ("1790000000", True), ("1790000300", True), ("1789999700", True), ("1790000301", False),
    ("1789999699", False), ("", False), ("-5", False), ("1790000000.5", False), ("9" * 40, False)])
def test_timestamp_window(timestamp: str, fresh: bool) -> None:
    assert signing.timestamp_fresh(timestamp, 1_790_000_000.0) is fresh


def test_replay_cache_accepts_a_signature_once_and_forgets_it_after_the_window() -> None:
    cache = signing.ReplayCache(window_s=300)
    assert cache.first_use("k", "sig", 1000, now=1000.0)
    assert not cache.first_use("k", "sig", 1000, now=1200.0)
    assert cache.first_use("other-key", "sig", 1000, now=1200.0)
    cache.first_use("k", "sig2", 1500, now=1500.0)  # purges what expired
    assert len(cache) == 1


def test_rate_limiter_token_bucket() -> None:
    limiter = signing.RateLimiter()
    assert limiter.take("k", 10, rate=5, burst=10, now=0.0) == 0.0
    assert limiter.take("k", 1, rate=5, burst=10, now=0.0) == pytest.approx(0.2)
    assert limiter.take("k", 5, rate=5, burst=10, now=1.0) == 0.0  # refilled 5 in a second
    assert limiter.take("k", 11, rate=5, burst=10, now=100.0) == float("inf")
    assert limiter.take("other", 10, rate=5, burst=10, now=0.0) == 0.0


def test_key_store_keeps_only_hashes(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    store = KeyStore(path, "master-key-for-tests-0123456789")
    key, secret = store.add("server", "acme", channel="retail_partner", partner_id="acme")
    assert key.key_id.startswith("cxk_") and len(secret) == 64
    text = path.read_text()
    assert secret not in text and secret_hash(secret) in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    reloaded = KeyStore(path, "master-key-for-tests-0123456789")
    stored = reloaded.get(key.key_id)
    assert stored is not None and reloaded.secret_of(stored) == secret
    rotated = KeyStore(path, "a-different-master-key-987654321")
    assert rotated.secret_of(stored) is None  # a new master key revokes every server key
    browser, key_id = store.add("browser", "web-shop", allowed_origins=("https://shop.example",))
    assert key_id == browser.key_id and browser.key_id.startswith("cxp_")
    assert store.revoke(key.key_id) and not store.revoke(key.key_id)
    assert [k.key_id for k in KeyStore(path, "master-key-for-tests-0123456789").all()] == [key_id]


def test_key_store_reports_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text('[{"key_id": "cxk_1", "kind": "server", "source": "Bad Source"}]')
    with pytest.raises(KeyFileError, match=r"keys\.json"):
        KeyStore(path, "master-key-for-tests-0123456789")
    path.write_text('[{"key_id": "cxk_1", "kind": "server", "source": "ok", "channel": "fax"}]')
    with pytest.raises(KeyFileError, match="fax"):
        KeyStore(path, "master-key-for-tests-0123456789")


def test_openapi_document_matches_the_event_schema() -> None:
    schema = event_schema()
    assert set(schema["properties"]) == set(FIELDS)
    assert "event_id" in schema["required"] and "csat" not in schema["required"]
    doc = openapi_document(1024, 10)
    assert set(doc["paths"]) >= {"/v1/events", "/v1/surveys/web", "/health", "/metrics"}
    responses = doc["paths"]["/v1/events"]["post"]["responses"]
    assert {"200", "401", "409", "413", "429", "503"} <= set(responses)


@pytest.mark.parametrize("header,canonical", [
    ("sha256=" + "a" * 64, "sha256=" + "a" * 64),
    (" sha256=" + "a" * 64 + "\t", "sha256=" + "a" * 64),
    ("sha256=" + "a" * 64 + "\u00a0", None),  # decorated: would dodge the replay cache
    ("sha256=" + "a" * 64 + "\u3000", None),
    ("sha256=" + "A" * 64, None),
    ("sha256=" + "a" * 63, None),
    ("sha256=" + "é" * 64, None),
    ("", None)])
def test_one_spelling_of_a_signature(header: str, canonical: str | None) -> None:
    assert signing.canonical_signature(header) == canonical


@pytest.mark.parametrize("timestamp", ["²", "١٧٩٠٠٠٠٠٠٠", "+1790000000", " 1790000000"])
def test_timestamps_are_ascii_digits_only(timestamp: str) -> None:
    assert not signing.timestamp_fresh(timestamp, 1_790_000_000.0)


def test_a_forgotten_signature_may_be_used_again() -> None:
    cache = signing.ReplayCache()
    assert cache.first_use("k", "sig", 1000, now=1000.0)
    cache.forget("k", "sig")
    assert cache.first_use("k", "sig", 1000, now=1001.0)


def test_ids_cannot_collide_across_routes_or_carry_control_characters() -> None:
    [widget] = WebSurveyConnector(WebSurveyConfig()).to_events(submission(answer(id="order-1001")))
    [api] = ApiEventsConnector(ApiEventsConfig()).to_events(
        submission({"event_id": "order-1001", "kind": "response"}))
    assert widget["event_id"] != api["event_id"]
    with pytest.raises(InvalidRecord, match="invalid_survey"):
        WebSurveyConnector(WebSurveyConfig()).to_events(submission(answer(id="abcdefgh\n")))
    with pytest.raises(InvalidRecord, match="invalid_event_id"):
        ApiEventsConnector(ApiEventsConfig()).to_events(submission({"event_id": "x\x00y"}))


def test_key_store_refresh_sees_other_writers_and_survives_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    serving = KeyStore(path, "master-key-for-tests-0123456789")
    admin = KeyStore(path, "master-key-for-tests-0123456789")
    key, _ = admin.add("server", "acme")
    assert serving.refresh(min_interval_s=0) and serving.get(key.key_id) is not None
    assert not serving.refresh(min_interval_s=0)  # nothing changed since
    assert not admin.refresh(min_interval_s=0)  # its own write is no news
    path.write_text("[not json")
    with pytest.raises(KeyFileError):
        serving.refresh(min_interval_s=0)
    assert serving.get(key.key_id) is not None  # the keys in memory stay in use
    assert not serving.refresh(min_interval_s=0)  # the same broken file is not reported again
