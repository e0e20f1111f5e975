"""FCR on the real stack: crafted contact chains -> publish -> worker -> fcr_contacts -> metrics."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from sql.client import ServerDatabase
from tests.conftest import run_tag
from tests.integration.reference import FCR, expected_fcr, fcr_roles
from tests.integration.test_end_to_end import cxpulse, metrics

DAY_MS = 86_400_000


def contact(tag: str, name: str, customer: str, at: int, resolved: bool, channel: str,
            received_at: int | None = None) -> dict[str, Any]:
    return {"event_id": f"{tag}-{name}", "occurred_at": at,
            "received_at": received_at if received_at is not None else at + 1000,
            "channel": channel, "source": "fcr-test", "kind": "contact", "touchpoint": f"fcr-{tag}",
            "journey_stage": "support", "customer_id": f"{tag}-{customer}",
            "contact_reason": "billing", "resolved": resolved, "agent_id": f"agent-{channel}"}


def publish(env: dict[str, str], path: Path, events: list[dict[str, Any]]) -> None:
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    assert f"accepted {len(events)}, rejected 0" in cxpulse(env, "publish", str(path))
    cxpulse(env, "drain", "--timeout", "180")


def stored_roles(db: ServerDatabase, tag: str) -> dict[str, str]:
    rows = db.query(
        "SELECT event_id, is_first, failed, decides_at <= now() AS decided "
        "FROM fcr_contacts FINAL WHERE event_id LIKE %(prefix)s", {"prefix": f"{tag}-%"})
    return {r["event_id"]: "repeat" if not r["is_first"] else "failure" if r["failed"]
            else "success" if r["decided"] else "pending" for r in rows}


def test_crafted_chains_give_exactly_the_expected_outcomes(
        cli_env: dict[str, str], server_db: ServerDatabase, tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    tag = run_tag("fcr")
    late_first = contact(tag, "late-first", "e", now - 12 * DAY_MS, True, "web")
    chains = [
        # resolved web chat, then a call about the same thing 2 days later
        contact(tag, "chat", "a", now - 20 * DAY_MS, True, "chat"),
        contact(tag, "call", "a", now - 18 * DAY_MS, True, "call_center"),
        # a repeat after 8 days: a success, then a new first contact
        contact(tag, "first", "b", now - 30 * DAY_MS, True, "web"),
        contact(tag, "after-8-days", "b", now - 22 * DAY_MS, True, "call_center"),
        # an unresolved contact
        contact(tag, "unresolved", "c", now - 4 * DAY_MS, False, "call_center"),
        # the repeat arrives before the first
        contact(tag, "repeat-first", "d", now - 10 * DAY_MS, True, "call_center"),
        contact(tag, "first-late", "d", now - 11 * DAY_MS, True, "web"),
        # decided success, until a late repeat arrives (below)
        late_first,
        # resolved three days ago: pending (kept out of the other tests' time windows)
        contact(tag, "recent", "f", now - 3 * DAY_MS - 7_200_000, True, "chat"),
    ]
    publish(cli_env, tmp_path / "chains.jsonl", chains)
    expected = {
        f"{tag}-chat": "failure", f"{tag}-call": "repeat",
        f"{tag}-first": "success", f"{tag}-after-8-days": "success",
        f"{tag}-unresolved": "failure",
        f"{tag}-first-late": "failure", f"{tag}-repeat-first": "repeat",
        f"{tag}-late-first": "success", f"{tag}-recent": "pending",
    }
    assert expected == fcr_roles(chains, now)  # the crafted expectations agree with METRICS.md
    assert stored_roles(server_db, tag) == expected

    late_repeat = contact(tag, "late-repeat", "e", now - 6 * DAY_MS, True, "call_center",
                          received_at=now)
    publish(cli_env, tmp_path / "late.jsonl", [late_repeat])
    expected |= {f"{tag}-late-first": "failure", f"{tag}-late-repeat": "repeat"}
    assert stored_roles(server_db, tag) == expected

    window = (now - 40 * DAY_MS, now + 60_000)
    got = metrics(cli_env, "touchpoint", *window)[f"fcr-{tag}"]
    want = expected_fcr([*chains, late_repeat], "touchpoint", *window, now)[f"fcr-{tag}"]
    assert {k: got[k] for k in FCR} == want == {
        "fcr_first_contacts": 7, "fcr_success": 2, "fcr_failure": 4, "fcr_pending": 1,
        "repeat_contacts": 3}
    assert got["fcr_pct"] == round(2 / 6 * 100, 4)
    assert got["repeat_contact_rate"] == 30.0
    by_agent = cxpulse(cli_env, "metrics", "--by", "agent_id,touchpoint", "--from",
                       str(window[0] // 1000), "--to", str(window[1] // 1000), "--format", "json")
    agents = {r["agent_id"]: r for r in orjson.loads(by_agent) if r["touchpoint"] == f"fcr-{tag}"}
    assert agents["agent-call_center"]["repeat_contacts"] == 3
    assert agents["agent-web"]["fcr_failure"] == 2 and agents["agent-web"]["fcr_success"] == 1

    # --as-of: the "recent" first contact is pending until the clock passed occurred_at + R
    decided = -(-(chains[-1]["occurred_at"] + 7 * DAY_MS) // 1000)
    for as_of, pending in ((decided - 1, 1), (decided, 0)):
        out = cxpulse(cli_env, "metrics", "--by", "touchpoint", "--from", str(window[0] // 1000), "--to",
                      str(window[1] // 1000), "--as-of", str(as_of), "--format", "json")
        [row] = [r for r in orjson.loads(out) if r["touchpoint"] == f"fcr-{tag}"]
        assert (row["fcr_pending"], row["fcr_success"]) == (pending, 3 - pending)
