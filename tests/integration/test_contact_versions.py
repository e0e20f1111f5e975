"""Real contact-center feeds on the real stack: updated records replace earlier versions, transfer and
callback legs are one contact, abandoned calls are unresolved — in any delivery order, delivered twice,
with the worker restarted in between.

The samples (``tests/samples/call_center/ctr_contact_chains.jsonl.tmpl``) follow Amazon Connect's
contact-record data model: a voice call delivered three times as after-call work sets its resolution
(and a repeat two days later), a call transferred twice, an abandoned call (and its repeat), a queued
call answered by a callback, a chat contact (and another first contact). They start six days ago: the
connector stamps ``received_at`` now, and the accepted window is seven days; so resolved first
contacts are still pending. The expected roles are written out by hand below, and recomputed
independently from the events by ``tests.integration.reference`` (legs folded, latest version only).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any

import orjson
import pytest

from connectors.call_center import AmazonConnectCtrConnector, CtrConfig
from connectors.sdk.files import ingest_file
from cxpulse import stack
from cxpulse.settings import Settings
from sql.client import ServerDatabase
from tests.conftest import run_tag
from tests.integration.reference import FCR, expected_fcr, fcr_roles, first_copies
from tests.integration.test_call_center_end_to_end import publisher_for
from tests.integration.test_end_to_end import cxpulse, metrics

DAY_MS = 86_400_000
MIN_MS = 60_000
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "call_center" / "ctr_contact_chains.jsonl.tmpl"
TIMES = {"d0_00": 0, "d0_05": 5 * MIN_MS, "d0_10": 10 * MIN_MS, "d0_20": 20 * MIN_MS,
         "d0_30": 30 * MIN_MS, "d2_00": 2 * DAY_MS, "d2_05": 2 * DAY_MS + 5 * MIN_MS,
         "d2_10": 2 * DAY_MS + 10 * MIN_MS}
EXPECTED = {"a1": "failure", "a2": "repeat",  # resolved at last, but the customer called again
            "b1": "pending",                  # three legs, one contact, resolved by its last agent
            "c1": "failure", "c3": "repeat",  # abandoned: unresolved whatever its attributes say
            "d1": "pending",                  # the callback resolved the queued call
            "e1": "pending", "e2": "failure"}  # another reason: another first contact, unresolved
DELIVERIES = ("as they happened", "newest first, then all again", "shuffled twice, a restart between")


def records(tag: str, base_ms: int) -> list[bytes]:
    """The sample's CTRs, one JSON line each, for this run's tag and times."""
    iso = {k: datetime.fromtimestamp((base_ms + v) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
           for k, v in TIMES.items()}
    return Template(SAMPLE.read_text()).substitute(tag=tag, **iso).encode().splitlines()


def deliver(settings: Settings, folder: Path, name: str, lines: list[bytes]) -> None:
    connector = AmazonConnectCtrConnector(CtrConfig())
    path = folder / f"{name}.json"
    path.write_bytes(b"\n".join(lines) + b"\n")
    summary = ingest_file(connector, path, publisher_for(settings, connector))
    assert summary.rejected == 0, summary.line()


def stored_roles(db: ServerDatabase, tag: str) -> dict[str, str]:
    rows = db.query(
        "SELECT event_id, is_first, failed, decides_at <= now() AS decided, removed "
        "FROM fcr_contacts FINAL WHERE event_id LIKE %(prefix)s", {"prefix": f"ctr/{tag}-%"})
    return {r["event_id"].removeprefix(f"ctr/{tag}-"): "repeat" if not r["is_first"] else
            "failure" if r["failed"] else "success" if r["decided"] else "pending"
            for r in rows if r["removed"] == 0}


@pytest.mark.parametrize("delivery", DELIVERIES)
def test_versions_and_legs_give_the_same_outcomes_in_any_delivery(
        running_stack: Settings, cli_env: dict[str, str], server_db: ServerDatabase, tmp_path: Path,
        delivery: str) -> None:
    tag = run_tag("legs")
    base = int(time.time() * 1000) - 6 * DAY_MS
    base -= base % 1000
    lines = records(tag, base)
    if delivery == DELIVERIES[0]:
        deliver(running_stack, tmp_path, "a", lines)
    elif delivery == DELIVERIES[1]:
        deliver(running_stack, tmp_path, "a", lines[::-1])
        deliver(running_stack, tmp_path, "b", lines)
    else:
        order = random.Random(tag).sample(lines, len(lines))
        deliver(running_stack, tmp_path, "a", order[: len(order) // 2])
        cxpulse(cli_env, "drain", "--timeout", "120")
        stack.stop_component(running_stack, "worker")
        stack.start_component(running_stack, "worker")
        deliver(running_stack, tmp_path, "b", order[len(order) // 2:] + order)
    cxpulse(cli_env, "drain", "--timeout", "180")

    events = mapped(lines)
    now = int(time.time() * 1000)
    assert {k.removeprefix(f"ctr/{tag}-"): v for k, v in fcr_roles(events, now).items()} == EXPECTED
    assert stored_roles(server_db, tag) == EXPECTED
    got = metrics(cli_env, "touchpoint", base - MIN_MS, base + 3 * DAY_MS)
    want = expected_fcr(events, "touchpoint", base - MIN_MS, base + 3 * DAY_MS, now)
    mine = {tp: row for tp, row in got.items() if tp.endswith(tag)}
    zero = dict.fromkeys(FCR, 0)  # a leg's touchpoint has events, and no contact of its own
    assert {tp: {k: row[k] for k in FCR} for tp, row in mine.items()} == {
        tp: want.get(tp, zero) for tp in mine}
    assert set(want) <= set(mine)
    assert sum(row["contacts"] for row in mine.values()) == len(EXPECTED)  # legs are no contacts


def mapped(lines: list[bytes]) -> list[dict[str, Any]]:
    """The events the connector makes of the records, the latest version of each (for the reference).

    Touchpoints are taken as mapped; customer ids stay raw here (pseudonyms group the same way).
    """
    connector = AmazonConnectCtrConnector(CtrConfig())
    events = [e for line in lines for e in connector.to_events(orjson.loads(line))]
    return first_copies(events)


def response(tag: str, version: int, at: int, csat: int, touchpoint: str) -> dict[str, Any]:
    return {"event_id": f"{tag}-survey", "version": version, "occurred_at": at,
            "received_at": at + 1000, "channel": "web", "source": "versions-test", "kind": "response",
            "touchpoint": f"{touchpoint}-{tag}", "customer_id": f"{tag}-cust", "csat": csat}


def test_a_later_version_moves_the_counts_exactly_and_cancels_its_follow_up(
        cli_env: dict[str, str], server_db: ServerDatabase, tmp_path: Path) -> None:
    tag = run_tag("vers")
    at = int(time.time() * 1000) - 5 * DAY_MS
    at -= at % MIN_MS
    window = (at - MIN_MS, at + 60 * MIN_MS)

    def publish(event: dict[str, Any]) -> dict[str, dict[str, Any]]:
        path = tmp_path / "one.jsonl"
        path.write_bytes(orjson.dumps(event) + b"\n")
        assert "accepted 1, rejected 0" in cxpulse(cli_env, "publish", str(path))
        cxpulse(cli_env, "drain", "--timeout", "120")
        return {tp: r for tp, r in metrics(cli_env, "touchpoint", *window).items() if tp.endswith(tag)}

    def csat(figures: dict[str, dict[str, Any]], tp: str) -> tuple[int, int, int]:
        row = figures.get(f"{tp}-{tag}", {})
        return row.get("csat_responses", 0), row.get("csat_satisfied", 0), row.get("csat_sum", 0)

    def followup() -> list[tuple[int, int]]:
        return server_db.execute("SELECT cancelled, csat FROM followups FINAL WHERE event_id = %(id)s",
                                 {"id": f"{tag}-survey"})

    assert csat(publish(response(tag, 1, at, 2, "checkout")), "checkout") == (1, 0, 2)
    assert followup() == [(0, 2)]
    assert csat(publish(response(tag, 5, at, 5, "checkout")), "checkout") == (1, 1, 5)  # 2 out, 5 in
    assert followup() == [(1, 2)]  # the unhappy answer was edited: its follow-up is taken back
    assert csat(publish(response(tag, 3, at, 1, "checkout")), "checkout") == (1, 1, 5)  # older: ignored
    moved = publish(response(tag, 9, at + 10 * MIN_MS, 4, "delivery"))  # another touchpoint and minute
    assert (csat(moved, "checkout"), csat(moved, "delivery")) == ((0, 0, 0), (1, 1, 4))
