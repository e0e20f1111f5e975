"""Satisfaction-drop alerts on the real stack: an injected incident, replayed as history, raises
exactly one FIRING and one RESOLVED alert per affected scope, in Kafka, ClickHouse and Prometheus,
and Alertmanager delivers both to the webhook."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

from connectors.simulator.traffic import Incident, Simulation
from cxpulse.settings import Settings
from schemas.topics import Topics
from sql.client import ServerDatabase
from tests.integration.test_end_to_end import cxpulse
from tests.integration.topic_reader import read_topic

DAY_S = 86_400


def incident_history(before: Path, after: Path) -> tuple[int, int]:
    """8 h of web traffic ten days ago, one hour of it 25 CSAT points worse; returns the incident.

    ``before`` gets the events up to 20 minutes into the incident, ``after`` the rest.
    """
    day = (int(time.time()) - 10 * DAY_S) // DAY_S * DAY_S
    start_s = day + 10 * 3600 + 30 * 60
    incident = Incident(start_s * 1000, (start_s + 3600) * 1000, channel="web", touchpoint="",
                        location_id="", drop=0.25)
    simulation = Simulation(seed=42, start_ms=(start_s - 6 * 3600) * 1000,
                            end_ms=(start_s + 2 * 3600) * 1000, rate=1.2, incident=incident,
                            id_prefix="alert-e2e")
    # Only the web channel: the other tests' figures are by channel over recent windows.
    events = [e for e in simulation.events() if e["channel"] == "web"]
    cut = (start_s + 20 * 60) * 1000
    before.write_bytes(b"\n".join(orjson.dumps(e) for e in events if e["received_at"] < cut) + b"\n")
    after.write_bytes(b"\n".join(orjson.dumps(e) for e in events if e["received_at"] >= cut) + b"\n")
    return start_s, start_s + 3600


def webhook_statuses(settings: Settings) -> list[str]:
    """Statuses of the SatisfactionDrop notifications for channel web that reached the webhook."""
    path = settings.run_path / "alerts" / "webhook.jsonl"
    statuses = []
    for line in path.read_text().splitlines() if path.exists() else []:
        for alert in orjson.loads(line).get("alerts", []):
            labels = alert.get("labels", {})
            if labels.get("alertname") == "SatisfactionDrop" and labels.get("scope") == "web" \
                    and labels.get("scope_kind") == "channel":
                statuses.append(alert["status"])
    return statuses


def wait_for(what: str, check: Any, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def kafka_alerts(settings: Settings) -> list[dict[str, Any]]:
    return [orjson.loads(msg.value())
            for msg in read_topic(settings.bootstrap, Topics(settings.topic_prefix).alerts)]


def by_scope(alerts: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    result: dict[tuple[str, str], list[str]] = defaultdict(list)
    for a in sorted(alerts, key=lambda a: (a["at"], a["status"] != "FIRING")):
        result[(a["scope_kind"], a["scope"])].append(a["status"])
    return dict(result)


def test_incident_fires_and_resolves_once_per_scope(
        running_stack: Settings, cli_env: dict[str, str], server_db: ServerDatabase,
        tmp_path: Path) -> None:
    before, after = tmp_path / "before.jsonl", tmp_path / "after.jsonl"
    incident_start, incident_end = incident_history(before, after)
    cxpulse(cli_env, "publish", str(before))
    cxpulse(cli_env, "drain", "--timeout", "180")
    # The drop is FIRING now: Prometheus sees the gauge, its rule fires, Alertmanager notifies.
    wait_for("the firing notification at the webhook",
             lambda: "firing" in webhook_statuses(running_stack))
    cxpulse(cli_env, "publish", str(after))
    cxpulse(cli_env, "drain", "--timeout", "180")
    wait_for("the resolved notification at the webhook",
             lambda: "resolved" in webhook_statuses(running_stack))

    # The detector catches up on event time after the drain: wait until its alerts stop changing
    # with the web alert resolved.
    deadline, stable_since, last = time.monotonic() + 120, time.monotonic(), None
    stored: list[dict[str, Any]] = []
    scopes: dict[tuple[str, str], list[str]] = {}
    while time.monotonic() < deadline:
        stored = server_db.query("SELECT * FROM alerts FINAL WHERE toUInt32(first_seen) >= %(s)s "
                                 "AND toUInt32(first_seen) < %(e)s",
                                 {"s": incident_start - 3600, "e": incident_end + 3600})
        scopes = by_scope([{**a, "at": a["at"].timestamp()} for a in stored])
        if scopes != last:
            last, stable_since = scopes, time.monotonic()
        elif scopes.get(("channel", "web")) == ["FIRING", "RESOLVED"] and (
                time.monotonic() - stable_since > 8):
            break
        time.sleep(1)
    assert ("channel", "web") in scopes
    assert all(statuses == ["FIRING", "RESOLVED"] for statuses in scopes.values()), scopes
    assert all(kind.startswith("channel") and scope.split("/")[0] == "web"
               for kind, scope in scopes), scopes

    web = {a["status"]: a for a in stored if a["scope"] == "web"}
    assert incident_start < web["FIRING"]["at"].timestamp() <= incident_start + 15 * 60
    assert web["RESOLVED"]["at"].timestamp() <= incident_end + 30 * 60
    assert web["FIRING"]["baseline_pct"] - web["FIRING"]["recent_pct"] >= 15
    assert web["FIRING"]["recent_n"] > 0 and web["FIRING"]["baseline_n"] > 0
    assert "var-channel=web" in web["FIRING"]["link"]

    in_kafka = [a for a in kafka_alerts(running_stack)
                if incident_start - 3600 <= a["first_seen"] < incident_end + 3600]
    assert by_scope(in_kafka) == scopes

    query = urllib.parse.quote('cxpulse_alert_active{scope="web",scope_kind="channel"}')
    url = f"http://127.0.0.1:{running_stack.prometheus_port}/api/v1/query?query={query}"
    deadline, result = time.monotonic() + 30, []
    while time.monotonic() < deadline and not result:
        with urllib.request.urlopen(url) as response:
            result = json.loads(response.read())["data"]["result"]
        time.sleep(1)
    assert result and result[0]["value"][1] == "0"  # known to Prometheus, and resolved
    assert result[0]["metric"]["severity"] == "page"

    backtest = cxpulse(cli_env, "alerts", "backtest", "--from", str(incident_start - 3600),
                       "--to", str(incident_end + 3600))
    assert "FIRING   channel=web" in backtest and "RESOLVED channel=web" in backtest
