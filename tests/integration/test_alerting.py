"""Alerting on the real stack: Prometheus loads the rules and knows the Alertmanager; Alertmanager
routes by severity and channel and delivers to the webhook receiver, firing then resolved.

Alerts are posted straight to Alertmanager's API v2 with a scope unique to the test, so whatever else
the session's stack alerts on does not interfere.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from cxpulse.settings import Settings
from cxpulse.stack import INFRA_DIR
from cxpulse.webhook import notifications_file
from tests.conftest import unique_name

pytestmark = pytest.mark.integration

DELIVERY_TIMEOUT_S = 20.0
"""group_wait 1 s and group_interval 5 s locally: a delivery takes seconds."""

T = TypeVar("T")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def _post(url: str, body: Any) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _eventually(what: str, probe: Callable[[], T | None], timeout: float = DELIVERY_TIMEOUT_S) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.2)


def _alert(labels: dict[str, str], ends_in: timedelta, starts: datetime) -> dict[str, Any]:
    return {"labels": labels, "annotations": {"summary": f"test alert {labels['alertname']}"},
            "startsAt": starts.isoformat(), "endsAt": (starts + ends_in).isoformat()}


def _deliveries(settings: Settings, key: str, value: str) -> dict[str, list[str]]:
    """Per receiver, the statuses of the delivered alerts whose label ``key`` is ``value``, in order."""
    path = notifications_file(settings.run_path)
    found: dict[str, list[str]] = defaultdict(list)
    if path.exists():
        for line in path.read_text().splitlines():
            notification = json.loads(line)
            for alert in notification["alerts"]:
                if alert["labels"].get(key) == value:
                    found[notification["receiver"]].append(alert["status"])
    return dict(found)


def test_prometheus_loads_the_rules_and_knows_alertmanager(running_stack: Settings) -> None:
    prometheus = f"http://127.0.0.1:{running_stack.prometheus_port}"
    groups = _get(f"{prometheus}/api/v1/rules?type=alert")["data"]["groups"]
    loaded = {rule["name"] for group in groups for rule in group["rules"]}
    in_file = set(re.findall(r"^\s*- alert:\s*(\w+)\s*$",
                             (INFRA_DIR / "prometheus" / "rules.yml").read_text(), re.MULTILINE))
    assert loaded == in_file
    errors = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] == "err"]
    assert errors == []

    expected = f"http://127.0.0.1:{running_stack.alertmanager_port}/api/v2/alerts"
    _eventually("Prometheus lists the local Alertmanager", lambda: expected in [
        am["url"] for am in _get(f"{prometheus}/api/v1/alertmanagers")["data"]["activeAlertmanagers"]])


def test_alerts_routed_by_severity_and_channel_reach_the_webhook(running_stack: Settings) -> None:
    alertmanager = f"http://127.0.0.1:{running_stack.alertmanager_port}/api/v2/alerts"
    scope = unique_name("L")
    page = {"alertname": "SatisfactionDrop", "severity": "page", "channel": "kiosk",
            "scope_kind": "location", "scope": scope, "metric": "csat", "team": "cx-ops"}
    ticket = {**page, "severity": "ticket", "channel": "web", "scope_kind": "channel_touchpoint",
              "scope": f"web/{scope}"}
    expected = {scope: {"oncall-page", "channel-kiosk"}, f"web/{scope}": {"channel-digital"}}
    started = datetime.now(UTC)
    assert _post(alertmanager, [_alert(page, timedelta(minutes=30), started),
                                _alert(ticket, timedelta(minutes=30), started)]) == 200

    def delivered(status_list: list[str]) -> bool:
        return all(set(_deliveries(running_stack, "scope", s)) == receivers
                   and all(_deliveries(running_stack, "scope", s)[r] == status_list for r in receivers)
                   for s, receivers in expected.items())

    _eventually("firing alerts delivered to their receivers", lambda: delivered(["firing"]))

    resolved = datetime.now(UTC)
    assert _post(alertmanager, [_alert(page, resolved - started, started),
                                _alert(ticket, resolved - started, started)]) == 200
    _eventually("resolved alerts delivered to the same receivers",
                lambda: delivered(["firing", "resolved"]))


def test_a_page_inhibits_the_ticket_of_the_same_alert(running_stack: Settings) -> None:
    alertmanager = f"http://127.0.0.1:{running_stack.alertmanager_port}/api/v2/alerts"
    run = unique_name("run")
    ticket = {"alertname": "DeadLetterRateHigh", "severity": "ticket", "team": "data-platform",
              "test_run": run}
    page = {**ticket, "severity": "page"}
    started = datetime.now(UTC)
    assert _post(alertmanager, [_alert(page, timedelta(minutes=30), started),
                                _alert(ticket, timedelta(minutes=30), started)]) == 200
    query = f'{alertmanager}?filter=test_run="{run}"&filter=severity="ticket"'.replace('"', "%22")

    def ticket_inhibited() -> bool:
        alerts = _get(query)
        return len(alerts) == 1 and alerts[0]["status"]["state"] == "suppressed" \
            and bool(alerts[0]["status"]["inhibitedBy"])

    _eventually("the ticket is inhibited by the page", ticket_inhibited)
    # The page is delivered to the on-call and the owner; the ticket to no one.
    deliveries = _eventually("the page delivered to both receivers", lambda: (
        found if len(found := _deliveries(running_stack, "test_run", run)) == 2 else None))
    assert deliveries == {"oncall-page": ["firing"], "data-platform": ["firing"]}
    ended = datetime.now(UTC)
    _post(alertmanager, [_alert(a, ended - started, started) for a in (page, ticket)])


def test_webhook_refuses_a_body_that_is_not_a_notification(running_stack: Settings) -> None:
    path = notifications_file(running_stack.run_path)
    marker = unique_name("not-a-notification")
    url = f"http://127.0.0.1:{running_stack.webhook_port}/cx-ops"
    assert _post(url, ["a list", marker]) == 400
    health = _get(f"http://127.0.0.1:{running_stack.webhook_port}/health")
    assert health["ok"] and health["file"] == str(path)
    assert marker not in (path.read_text() if path.exists() else "")
