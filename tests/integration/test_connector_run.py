"""``cxpulse connector run`` on a pull source: it resumes exactly after the last record in Kafka."""

from __future__ import annotations

import json
import random
from pathlib import Path

from connectors.simulator.scenarios import simulation
from cxpulse import wiring
from cxpulse.settings import Settings
from schemas.codec import UndecodableMessage
from tests.integration.test_end_to_end import cxpulse
from tests.integration.topic_reader import read_topic

START_MS = 1_577_880_000_000  # 2020-01-01 12:00 UTC: far from every other test's time window


def test_a_pull_source_resumes_after_its_cursor(running_stack: Settings, cli_env: dict[str, str],
                                               tmp_path: Path) -> None:
    seed = random.randrange(2**31)
    run = {"seed": seed, "start_ms": START_MS, "duration_s": 900, "rate": 0.5, "realtime": False}
    expected = [e["event_id"] for e in simulation("steady", seed, START_MS, 900, 0.5,
                                                  f"sim-{seed}-{START_MS}").events()]
    half = tmp_path / "half.json"
    half.write_text(json.dumps({**run, "received_before_ms": START_MS + 450_000}))
    whole = tmp_path / "whole.json"
    whole.write_text(json.dumps(run))

    first = cxpulse(cli_env, "connector", "run", "simulator", "--config", str(half))
    cursor = int((running_stack.run_path / "connectors/simulator/simulator.cursor").read_text())
    assert 0 < cursor < len(expected)
    assert f"records {cursor}, accepted {cursor}, rejected 0" in first
    rest = cxpulse(cli_env, "connector", "run", "simulator", "--config", str(whole))
    left = len(expected) - cursor
    assert f"records {left}, accepted {left}, rejected 0; cursor '{len(expected)}'" in rest
    again = cxpulse(cli_env, "connector", "run", "simulator", "--config", str(whole))
    assert "records 0, accepted 0, rejected 0" in again

    codec = wiring.codec(running_stack)
    ours = []
    for message in read_topic(running_stack.bootstrap, wiring.topics(running_stack).touchpoints):
        try:
            events = codec.decode_all(message.value())  # one event, or an envelope of many
        except UndecodableMessage:  # other tests write junk past the publisher on purpose
            continue
        ours += [e["event_id"] for e in events if e["event_id"].startswith(f"sim-{seed}-{START_MS}-")]
    assert sorted(ours) == sorted(expected)  # every event once: nothing lost, nothing re-sent
