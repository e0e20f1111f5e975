"""The console as people meet it: the connector list, one-line errors, tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.sdk import registry
from cxpulse.cli import main


def test_connector_list_shows_real_connectors_with_their_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connector", "list"]) == 0
    rows = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows == {
        "call-center-ctr": "file", "call-center-ivr-survey": "file", "ingest-api": "push",
        "jsonl": "file", "kiosk-mqtt": "bridge", "retail-partner-csv": "file", "simulator": "pull",
        "web-survey": "push"}
    assert set(rows) == set(registry.known())


def test_an_error_is_one_line_not_a_traceback(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["connector", "ingest", "kiosk-mqtt", str(tmp_path / "x.json")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("cxpulse: ") and len(err.splitlines()) == 1
    assert "bridge connector" in err and "file" in err
    assert main(["connector", "run", "nope"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown connector 'nope'" in err and "simulator" in err


def test_a_bad_setting_is_one_line_naming_the_variable(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXPULSE_KAFKA_PORT", "many")
    assert main(["connector", "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "CXPULSE_KAFKA_PORT" in err
