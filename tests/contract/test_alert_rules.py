"""Alert rules and Alertmanager routing, checked with the real promtool and amtool.

promtool (Debian `prometheus`) and amtool (Debian `prometheus-alertmanager`) are installed by
`make system-packages`; a missing tool fails these tests, it never skips them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from connectors.kiosk.bridge import KioskBridge
from connectors.kiosk.connector import KioskConfig
from cxpulse import stack
from cxpulse.settings import Settings

PROMETHEUS_DIR = stack.INFRA_DIR / "prometheus"
RULES = PROMETHEUS_DIR / "rules.yml"
RULES_TEST = PROMETHEUS_DIR / "rules_test.yml"

REQUIRED_ALERTS = {"SatisfactionDrop", "KioskSilent", "KioskNoFeedback", "DeadLetterRateHigh",
                   "ConsumerLagHigh", "SinkFailing"}


def _tool(name: str, package: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(f"{name} not found: apt-get install {package} (or `make system-packages`)")
    return path


def _run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{output}"
    return output


def _alert_names(text: str) -> set[str]:
    return set(re.findall(r"^\s*- alert:\s*(\w+)\s*$", text, re.MULTILINE))


SETTINGS = Settings(alertmanager_port=29093, webhook_port=29094)
"""Ports other than the defaults, to see the templates use the settings."""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stack's configs rendered into a fresh run folder, exactly as `cxpulse stack up` does."""
    run_dir = tmp_path_factory.mktemp("run")
    stack.render_configs(SETTINGS.model_copy(update={"run_dir": run_dir}))
    return run_dir


def test_rules_are_valid() -> None:
    output = _run(_tool("promtool", "prometheus"), "check", "rules", str(RULES))
    assert "SUCCESS" in output


def test_rules_unit_tests_pass() -> None:
    output = _run(_tool("promtool", "prometheus"), "test", "rules", str(RULES_TEST))
    assert "SUCCESS" in output


def test_required_alerts_exist() -> None:
    assert _alert_names(RULES.read_text()) >= REQUIRED_ALERTS


def test_kiosk_rules_use_gauges_the_bridge_exports() -> None:
    """A renamed gauge would silence the alert for good: every kiosk device gauge a rule names exists."""
    bridge = KioskBridge(KioskConfig(), publisher=None)  # type: ignore[arg-type]
    exported = {metric.name for metric in bridge.gauges.describe()}
    used = set(re.findall(r"cxpulse_kiosk_device_\w+", RULES.read_text() + RULES_TEST.read_text()))
    assert {"cxpulse_kiosk_device_silent", "cxpulse_kiosk_device_open"} <= used
    assert used <= exported


def test_every_alert_has_firing_and_quiet_cases() -> None:
    """Each alert is expected to fire somewhere in rules_test.yml, and to stay quiet somewhere."""
    tests = RULES_TEST.read_text()
    firing = set(re.findall(r"alertname:\s*(\w+)\s*\n\s*exp_alerts:\s*\n\s*- exp_labels:", tests))
    quiet = set(re.findall(r"alertname:\s*(\w+)\s*\n\s*exp_alerts:\s*\[\]", tests))
    alerts = _alert_names(RULES.read_text())
    assert alerts - firing == set(), "alerts never expected to fire"
    assert alerts - quiet == set(), "alerts without a case that must not fire"


def test_rendered_prometheus_config_loads_rules_and_alertmanager(rendered: Path) -> None:
    config = rendered / "prometheus" / "prometheus.yml"
    output = _run(_tool("promtool", "prometheus"), "check", "config", str(config))
    assert "1 rule files found" in output
    assert (rendered / "prometheus" / "rules.yml").read_text() == RULES.read_text()
    assert f"127.0.0.1:{SETTINGS.alertmanager_port}" in config.read_text()


def test_rendered_alertmanager_config_is_valid(rendered: Path) -> None:
    config = rendered / "alertmanager" / "alertmanager.yml"
    _run(_tool("amtool", "prometheus-alertmanager"), "check-config", str(config))
    urls = re.findall(r"url:\s*(\S+)", config.read_text())
    assert urls, "no webhook receivers"
    webhook = f"http://127.0.0.1:{SETTINGS.webhook_port}/"
    assert all(url.startswith(webhook) for url in urls), urls


@pytest.mark.parametrize(("labels", "receivers"), [
    # Pages reach the on-call and the owner; tickets only the owner.
    ({"alertname": "SatisfactionDrop", "severity": "page", "channel": "kiosk", "team": "cx-ops"},
     ["oncall-page", "channel-kiosk"]),
    ({"alertname": "SatisfactionDrop", "severity": "ticket", "channel": "web", "team": "cx-ops"},
     ["channel-digital"]),
    ({"alertname": "SatisfactionDrop", "severity": "ticket", "channel": "chat", "team": "cx-ops"},
     ["channel-digital"]),
    ({"alertname": "SatisfactionDrop", "severity": "ticket", "channel": "call_center",
      "team": "cx-ops"}, ["channel-call-center"]),
    ({"alertname": "SatisfactionDrop", "severity": "page", "channel": "retail_partner",
      "team": "cx-ops"}, ["oncall-page", "channel-retail-partner"]),
    ({"alertname": "SatisfactionDrop", "severity": "ticket", "channel": "other", "team": "cx-ops"},
     ["cx-ops"]),
    ({"alertname": "KioskSilent", "severity": "ticket", "channel": "kiosk", "team": "cx-ops"},
     ["channel-kiosk"]),
    ({"alertname": "KioskNoFeedback", "severity": "ticket", "channel": "kiosk", "team": "cx-ops"},
     ["channel-kiosk"]),
    ({"alertname": "DeadLetterRateHigh", "severity": "ticket", "team": "data-platform"},
     ["data-platform"]),
    ({"alertname": "SinkFailing", "severity": "page", "team": "data-platform"},
     ["oncall-page", "data-platform"]),
])
def test_alertmanager_routes(rendered: Path, labels: dict[str, str], receivers: list[str]) -> None:
    output = _run(_tool("amtool", "prometheus-alertmanager"), "config", "routes", "test",
                  f"--config.file={rendered / 'alertmanager' / 'alertmanager.yml'}",
                  *(f"{k}={v}" for k, v in labels.items()))
    routed = [line for line in output.splitlines() if line and not line.startswith("Warning")]
    assert routed == [",".join(receivers)]
