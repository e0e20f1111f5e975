"""Three workers in one group on their own stack, the leader killed mid-incident: every figure exact,
the incident alerted once (one FIRING, one RESOLVED per scope) however the lead moved.

The incident is on a channel of its own (``social``): two days of happy answers, then CSAT falls to
17% for 25 minutes and comes back. Its minutes are published one batch at a time, as live traffic would
arrive, so the detector's event-time clock moves minute by minute; the leader is killed once the
drop has fired, and the next leader must neither fire it again nor forget to resolve it (the 45
minutes of recovery outlast the detector's longest window).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from cxpulse import wiring
from schemas.topics import Topics
from tests.chaos.harness import ChaosStack
from tests.chaos.workload import History, received_order
from tests.integration.topic_reader import read_topic

MIN_MS = 60_000
SCOPES = {("channel", "social"), ("channel_touchpoint", "social/feed")}


def responses(start_ms: int, minutes: int, per_minute: int, satisfied: int, tag: str
              ) -> list[list[dict[str, Any]]]:
    """Per minute, ``per_minute`` CSAT answers: the first ``satisfied`` of them a 5, the rest a 1."""
    out = []
    for m in range(minutes):
        at = start_ms + m * MIN_MS
        out.append([{"event_id": f"{tag}-{at}-{i}", "occurred_at": at + i * 1000, "received_at": at + 5000,
                     "channel": "social", "source": "workers-test", "kind": "response",
                     "touchpoint": "feed", "csat": 5 if i < satisfied else 1}
                    for i in range(per_minute)])
    return out


def leader(h: ChaosStack) -> int | None:
    found = [port for port in h.worker_ports() if (h.health(port) or {}).get("leader")]
    return found[0] if len(found) == 1 else None


def wait_for(what: str, probe: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"{what}: not within {timeout:.0f} s")


def test_three_workers_the_leader_killed_figures_exact_and_each_incident_alerted_once(
        tmp_path: Path) -> None:
    h = ChaosStack(tmp_path)
    try:
        h.row("workers")
        h.add_worker()
        h.add_worker()
        wait_for("three healthy workers, one leader",
                 lambda: all(h.health(p) for p in h.worker_ports()) and leader(h))
        now = (int(time.time() * 1000) // MIN_MS) * MIN_MS
        # the history ends before the incident starts: the detector's clock then walks through it
        history = History(3, now - 3 * 60 * MIN_MS, customers=150, hot_keys=1)
        start = now - 70 * MIN_MS  # the incident; everything published before it is older
        baseline = [e for minute in responses(start - 2 * 86_400_000, 2 * 24 * 60, 1, 1, "base")
                    for e in minute][::5]  # a happy answer every five minutes for two days
        h.publish([*received_order(history.events), *baseline])
        h.drain()

        publisher = wiring.publisher(h.settings, "workers-test")
        incident = responses(start, 25, 6, 1, "drop")  # CSAT 17%
        recovery = responses(now - 45 * MIN_MS, 45, 6, 6, "back")  # past the 30-minute window
        killed: int | None = None
        for n, minute in enumerate([*incident, *recovery]):
            for event in minute:
                assert publisher.publish_object(event, b"")
            publisher.flush()
            time.sleep(0.6)  # one minute per batch, as live traffic arrives
            if killed is None and n >= 15 and fired(h):
                killed = wait_for("a leader", lambda: leader(h))
                h.kill_worker_on(killed)
        assert killed is not None, "the drop never fired"
        h.drain()
        wait_for("the drop resolved", lambda: resolved(h), timeout=120)

        extra = [e for minute in [*incident, *recovery] for e in minute] + baseline
        check = h.check([*history.events, *extra], history.start_ms - 8 * 86_400_000, now + MIN_MS)
        assert check.mismatches == []
        with h.database() as db:
            rows = db.query("SELECT scope_kind, scope, status, count() AS n FROM alerts FINAL "
                            "WHERE scope_kind LIKE 'channel%' AND scope LIKE 'social%' "
                            "GROUP BY scope_kind, scope, status")
        assert {(r["scope_kind"], r["scope"], r["status"]): r["n"] for r in rows} == {
            (kind, scope, status): 1 for kind, scope in SCOPES for status in ("FIRING", "RESOLVED")}
        sent = {m.key() for m in read_topic(h.settings.bootstrap, Topics(h.settings.topic_prefix).alerts)}
        assert len({k for k in sent if b"social" in k}) == len(SCOPES)  # one alert id per scope
    finally:
        h.down()


def fired(h: ChaosStack) -> bool:
    with h.database() as db:
        return bool(db.execute("SELECT count() FROM alerts WHERE scope = 'social/feed' "
                               "AND status = 'FIRING'")[0][0])


def resolved(h: ChaosStack) -> bool:
    with h.database() as db:
        return bool(db.execute("SELECT count() FROM alerts WHERE scope LIKE 'social%' "
                               "AND status = 'RESOLVED'")[0][0] == len(SCOPES))
