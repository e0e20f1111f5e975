"""End to end on the real stack: publish -> Kafka -> Faust worker -> ClickHouse -> `cxpulse metrics`."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

from connectors.sdk.privacy import PrivacyKey, pseudonymise
from connectors.simulator import generate_events
from cxpulse import stack
from cxpulse.settings import Settings
from cxpulse.wiring import privacy_key
from schemas.topics import Topics
from sql.client import ServerDatabase
from sql.migrate import migrate
from tests.conftest import run_tag
from tests.integration.reference import COUNTS, FCR, expected_counts, expected_fcr, first_copies
from tests.integration.topic_reader import read_topic

HOUR_MS = 3_600_000


def cxpulse(env: dict[str, str], *args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "cxpulse", *args], env=env, input=stdin,
                          capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return done.stdout.decode()


def metrics(env: dict[str, str], by: str, start_ms: int, end_ms: int) -> dict[str, dict[str, Any]]:
    out = cxpulse(env, "metrics", "--by", by, "--from", str(start_ms // 1000), "--to",
                  str(end_ms // 1000), "--format", "json")
    return {row[by]: row for row in json.loads(out)}


def build_file(path: Path, tag: str, seed: int, start_ms: int, hours: float, rate: float,
               now_ms: int) -> tuple[list[dict[str, Any]], list[tuple[bytes, str]]]:
    """A file with duplicates, out-of-order and late lines, invalid and junk lines.

    Returns the events that must count (first copies) and the (line, reason) pairs that must be
    dead-lettered.
    """
    rng = random.Random(seed)
    events = list(generate_events("steady", seed, start_ms, hours * 3600, rate))
    sent: list[dict[str, Any]] = []
    for e in events:
        sent.append(e)
        if rng.random() < 0.05:  # a connector retry: same event, restamped a little later
            sent.append({**e, "received_at": e["received_at"] + 1500})
    late = []
    for i in range(40):  # arrives now, occurred two days ago (inside the 7-day window)
        late.append({**rng.choice(events), "event_id": f"{tag}-late-{i}",
                     "occurred_at": now_ms - 2 * 24 * HOUR_MS - i * 61_000, "received_at": now_ms})
    conflicting = [{**e, "csat": 1 if e.get("csat") != 1 else 5} for e in rng.sample(events, 20)]
    lines = [orjson.dumps(e) for e in sent]
    for i in range(0, len(lines), 40):  # out of order within chunks
        chunk = lines[i:i + 40]
        rng.shuffle(chunk)
        lines[i:i + 40] = chunk
    lines += [orjson.dumps(e) for e in late + conflicting]
    lines += [orjson.dumps(e) for e in rng.sample(sent, 50)]  # redelivered much later
    base = {**events[0], "event_id": f"{tag}-bad"}
    invalid = [
        ({**base, "event_id": f"{tag}-bad-csat", "csat": 7}, "score_out_of_range"),
        ({**base, "event_id": f"{tag}-bad-nps", "nps": 11}, "score_out_of_range"),
        ({**base, "event_id": f"{tag}-no-touchpoint", "touchpoint": None}, "missing_field"),
        ({**base, "event_id": f"{tag}-bad-channel", "channel": "carrier-pigeon"}, "invalid_field"),
        ({**base, "event_id": f"{tag}-too-old", "occurred_at": base["received_at"] - 8 * 24 * HOUR_MS},
         "occurred_at_out_of_range"),
        ({**base, "event_id": f"{tag}-bad-time", "occurred_at": "last tuesday"}, "invalid_timestamp"),
    ]
    rejected = [(orjson.dumps(obj), reason) for obj, reason in invalid]
    rejected += [(f"junk-{tag} {{not json".encode(), "invalid_json"),
                 (f'["{tag}", 1]'.encode(), "not_an_object"),
                 (f'{{"colour": "{tag} Xin chào"}}'.encode(), "unknown_field"),
                 (f'{{"comment": "{tag} Xin chào"}}'.encode(), "missing_field")]
    for raw, _ in rejected:
        lines.insert(rng.randrange(len(lines)), raw)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return first_copies([orjson.loads(line) for line in lines
                         if line not in {r for r, _ in rejected}]), rejected


def as_dead_lettered(rejected: list[tuple[bytes, str]], key: PrivacyKey) -> list[tuple[bytes, str]]:
    """The rejected lines as the dead-letter topic keeps them: customer ids pseudonymised."""
    out = []
    for raw, reason in rejected:
        obj = orjson.loads(raw) if raw.startswith(b"{") else None
        if isinstance(obj, dict) and obj.get("customer_id"):
            raw = orjson.dumps({**obj, "customer_id": pseudonymise(obj["customer_id"], key)})
        out.append((raw, reason))
    return out


def dead_letters(settings: Settings, tag: str) -> Counter[tuple[bytes, str]]:
    found: Counter[tuple[bytes, str]] = Counter()
    for msg in read_topic(settings.bootstrap, Topics(settings.topic_prefix).dlq):
        if tag.encode() in (msg.value() or b""):
            found[(msg.value(), dict(msg.headers() or [])["cx.reason"].decode())] += 1
    return found


def assert_figures_match(env: dict[str, str], events: list[dict[str, Any]], start_ms: int,
                         end_ms: int) -> None:
    now_ms = int(time.time() * 1000)
    for by in ("channel", "touchpoint"):
        expected = expected_counts(events, by, start_ms, end_ms)
        expected_fcr_counts = expected_fcr(events, by, start_ms, end_ms, now_ms)
        actual = metrics(env, by, start_ms, end_ms)
        assert set(actual) == set(expected), by
        for key, counts in expected.items():
            got = {name: actual[key][name] for name in COUNTS}
            assert got == counts, f"{by}={key}"
            fcr = expected_fcr_counts.get(key, dict.fromkeys(FCR, 0))
            assert {name: actual[key][name] for name in FCR} == fcr, f"FCR {by}={key}"
            if counts["csat_responses"]:
                assert actual[key]["csat_pct"] == round(
                    counts["csat_satisfied"] / counts["csat_responses"] * 100, 4)
            else:
                assert actual[key]["csat_pct"] is None


def test_publish_drain_metrics_exact_with_dead_letters_and_replay(
        running_stack: Settings, cli_env: dict[str, str], tmp_path: Path) -> None:
    now_ms = int(time.time() * 1000)
    start_ms = (now_ms - 5 * HOUR_MS) // 60_000 * 60_000
    tag = run_tag("etoe")
    path = tmp_path / "events.jsonl"
    events, rejected = build_file(path, tag, 11, start_ms, 1.0, 3.0, now_ms)

    summary = cxpulse(cli_env, "publish", str(path))
    assert f"rejected {len(rejected)}" in summary
    garbage = [f"{tag} not avro".encode(), b"\xc3\x01" + tag.encode()]
    producer = Producer({"bootstrap.servers": running_stack.bootstrap})
    for value in garbage:  # written past the publisher: the worker must dead-letter them itself
        producer.produce(Topics(running_stack.topic_prefix).touchpoints, value=value)
    assert producer.flush(10) == 0
    del producer
    cxpulse(cli_env, "drain", "--timeout", "180")

    window = (now_ms - 3 * 24 * HOUR_MS, now_ms - 3 * HOUR_MS)
    assert_figures_match(cli_env, events, *window)
    expected_dlq = Counter(as_dead_lettered(rejected, privacy_key(running_stack))) + Counter(
        (g, "undecodable") for g in garbage)
    assert dead_letters(running_stack, tag) == expected_dlq

    before = {by: metrics(cli_env, by, *window) for by in ("channel", "touchpoint")}
    cxpulse(cli_env, "publish", str(path))
    cxpulse(cli_env, "drain", "--timeout", "180")
    assert {by: metrics(cli_env, by, *window) for by in ("channel", "touchpoint")} == before


def test_worker_killed_mid_stream_changes_no_figure(
        running_stack: Settings, cli_env: dict[str, str], server_db: ServerDatabase,
        tmp_path: Path) -> None:
    now_ms = int(time.time() * 1000)
    start_ms = (now_ms - 150 * 60_000) // 60_000 * 60_000
    path = tmp_path / "events.jsonl"
    # more events than one batch takes (CXPULSE_SINK_BATCH_SIZE), or a backlog can be one batch
    events, _ = build_file(path, f"kill{now_ms}", 23, start_ms, 1.0, 40.0, now_ms)
    assert len(events) > 1.2 * running_stack.sink_batch_size
    stack.stop_component(running_stack, "worker")
    cxpulse(cli_env, "publish", str(path))
    stack.start_component(running_stack, "worker")
    ids = [e["event_id"] for e in events]
    deadline = time.monotonic() + 120
    stored = 0
    while stored == 0 and time.monotonic() < deadline:
        stored = server_db.client.execute(
            "SELECT count() FROM touchpoint_events WHERE event_id IN ids",
            external_tables=[{"name": "ids", "structure": [("event_id", "String")],
                              "data": [{"event_id": i} for i in ids]}])[0][0]
        time.sleep(0.05)
    assert 0 < stored < len(events), "the kill must land mid-stream"
    pid = stack.supervisor(running_stack).getProcessInfo("worker")["pid"]
    os.kill(pid, signal.SIGKILL)  # supervisord restarts it
    stack.start_component(running_stack, "worker", timeout=120)
    cxpulse(cli_env, "drain", "--timeout", "240")
    assert_figures_match(cli_env, events, start_ms, now_ms - HOUR_MS)


def test_migrations_are_recorded_and_idempotent_on_the_server(server_db: ServerDatabase) -> None:
    assert migrate(server_db) == []
    assert server_db.execute("SELECT count() FROM schema_migrations")[0][0] >= 4


def test_worker_metrics_are_scraped_by_prometheus(
        running_stack: Settings, cli_env: dict[str, str], server_db: ServerDatabase,
        tmp_path: Path) -> None:
    import urllib.request

    now_ms = int(time.time() * 1000)
    path = tmp_path / "events.jsonl"
    events, _ = build_file(path, run_tag("metrics"), 5, now_ms - HOUR_MS, 1.0, 1.0, now_ms)
    cxpulse(cli_env, "publish", str(path))
    cxpulse(cli_env, "drain", "--timeout", "180")
    with urllib.request.urlopen(f"http://127.0.0.1:{running_stack.worker_port}/metrics") as r:
        text = r.read().decode()
    for name in ("cxpulse_worker_events_in_total", "cxpulse_worker_duplicates_dropped_total",
                 "cxpulse_sink_batch_size", "cxpulse_sink_write_seconds"):
        assert name in text
    gauges = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
              if line.startswith("cxpulse_stored_index_bytes{")}
    stored_here = server_db.client.execute(
        "SELECT count() FROM touchpoint_events WHERE event_id IN ids",
        external_tables=[{"name": "ids", "structure": [("event_id", "String")],
                          "data": [{"event_id": e["event_id"]} for e in events]}])[0][0]
    assert stored_here == len(events) > 0
    # every stored row is indexed, at 8 bytes a row: these events' rows at least
    index_bytes = gauges['cxpulse_stored_index_bytes{index="events"}']
    assert index_bytes >= 8 * stored_here and index_bytes % 8 == 0
    assert 'cxpulse_stored_index_bytes{index="fcr_keys"}' in gauges
    for job in ("cxpulse-worker", "cxpulse-ingest"):
        url = (f"http://127.0.0.1:{running_stack.prometheus_port}/api/v1/query?"
               f"query=up%7Bjob%3D%22{job}%22%7D")
        deadline = time.monotonic() + 30
        value = None
        while time.monotonic() < deadline and value != "1":
            with urllib.request.urlopen(url) as r:
                result = json.loads(r.read())["data"]["result"]
            value = result[0]["value"][1] if result else None
            time.sleep(1)
        assert value == "1", job
