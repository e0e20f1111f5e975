"""Closed loop on the real stack: crafted responses -> worker -> followups table and cx.followups."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from cxpulse.settings import Settings
from schemas.topics import Topics
from sql.client import ServerDatabase
from sql.followups import followup_list
from tests.conftest import run_tag
from tests.integration.test_end_to_end import cxpulse
from tests.integration.topic_reader import read_topic

DAY_MS = 86_400_000


def event(tag: str, name: str, customer: str | None, at: int, channel: str = "web",
          kind: str = "response", **scores: Any) -> dict[str, Any]:
    return {"event_id": f"{tag}-{name}", "occurred_at": at, "received_at": at + 500,
            "channel": channel, "source": "followup-test", "kind": kind,
            "touchpoint": f"loop-{tag}", "customer_id": f"{tag}-{customer}" if customer else None,
            **scores}


def followup_messages(settings: Settings, tag: str) -> dict[str, int]:
    keys: dict[str, int] = {}
    for msg in read_topic(settings.bootstrap, Topics(settings.topic_prefix).followups):
        key = (msg.key() or b"").decode()
        if key.startswith(tag):
            keys[key] = keys.get(key, 0) + 1
    return keys


def test_followups_are_created_routed_and_recovered_exactly(
        running_stack: Settings, cli_env: dict[str, str], server_db: ServerDatabase,
        tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    tag = run_tag("loop")
    t = now - 25 * DAY_MS
    events = [
        event(tag, "a-unhappy", "a", t, csat=2),
        event(tag, "a-happy-later", "a", t + 2 * DAY_MS, channel="chat", csat=5),
        event(tag, "b-detractor", "b", t, nps=3),
        event(tag, "b-meh", "b", t + DAY_MS, csat=3),
        # the recovery is published before its trigger but happened after it
        event(tag, "c-recovery-first", "c", t + 3 * 3_600_000, channel="call_center", csat=4),
        event(tag, "c-complaint", "c", t, channel="call_center", kind="contact", complaint=True,
              contact_reason="billing", resolved=False),
        {**event(tag, "d-kiosk", None, t, channel="kiosk", csat=1), "location_id": f"{tag}-k1"},
        event(tag, "e-happy", "e", t, csat=5),
        event(tag, "f-unhappy", "f", now - 40 * DAY_MS, channel="email", csat=1),
        event(tag, "f-too-late", "f", now - 40 * DAY_MS + 31 * DAY_MS, channel="email", csat=5),
    ]
    path = tmp_path / "loop.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    for _ in range(2):  # publishing twice changes nothing
        assert f"accepted {len(events)}, rejected 0" in cxpulse(cli_env, "publish", str(path))
        cxpulse(cli_env, "drain", "--timeout", "180")

    found = {f["event_id"]: f for f in followup_list(server_db, (now - 41 * DAY_MS) // 1000,
                                                       now // 1000) if f["event_id"].startswith(tag)}
    assert {k: v["status"] for k, v in found.items()} == {
        f"{tag}-a-unhappy": "recovered", f"{tag}-b-detractor": "overdue",
        f"{tag}-c-complaint": "recovered", f"{tag}-d-kiosk": "overdue",
        f"{tag}-f-unhappy": "overdue",
    }
    assert found[f"{tag}-d-kiosk"]["route"] == f"location:{tag}-k1"
    assert found[f"{tag}-a-unhappy"]["route"] == "channel:web"
    assert found[f"{tag}-c-complaint"]["due_at_ms"] == t + 4 * 3_600_000  # call center SLA 4 h
    rows = server_db.execute("SELECT count() FROM followups WHERE event_id LIKE %(p)s",
                             {"p": f"{tag}-%"})
    assert rows[0][0] == len(found)  # one row per follow-up, whatever was re-sent
    messages = followup_messages(running_stack, tag)
    assert set(messages) == set(found)  # at least once on cx.followups
    # each follow-up sent once: the second publish was all duplicates, which send nothing
    assert set(messages.values()) == {1}

    past = orjson.loads(cxpulse(cli_env, "followups", "--past-sla", "--from", str((t - DAY_MS) // 1000),
                                "--format", "json"))["rows"]
    mine = {r["route"]: r["overdue_followups"] for r in past if tag in r["route"]}
    assert mine == {f"location:{tag}-k1": 1}  # the kiosk's: the others route by channel
    assert any(r["route"] == "channel:web" and r["overdue_followups"] >= 1 for r in past)
