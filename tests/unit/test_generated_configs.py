"""Values put into generated configs survive any character, and secrets stay out of shared files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from cxpulse import stack
from cxpulse.access import Credentials, render_users
from cxpulse.settings import ENV_FILE_VARIABLE, Settings

NASTY = 'p"a\'s%(s)s%%w\n<o>&r${HOME}\\d'


def test_a_password_with_quotes_percent_and_newlines_reaches_the_program_intact(tmp_path: Path) -> None:
    settings = Settings(run_dir=tmp_path, clickhouse_password=NASTY, pseudonym_key=SecretStr(NASTY * 2))
    conf = stack.render_configs(settings)
    env_file = tmp_path / "secrets/ingest.env.json"
    loaded = Settings.load({ENV_FILE_VARIABLE: str(env_file)})
    assert loaded.clickhouse_password == NASTY
    assert loaded.pseudonym_key is not None and loaded.pseudonym_key.get_secret_value() == NASTY * 2
    worker = json.loads((tmp_path / "secrets/worker.env.json").read_text())
    assert worker["CXPULSE_CLICKHOUSE_USER"] == "cxpulse_worker"
    text = conf.read_text()
    assert NASTY not in text and "CXPULSE_CLICKHOUSE_PASSWORD" not in text
    for path in (conf, env_file, tmp_path / "clickhouse/users.xml", tmp_path / "clickhouse/config.xml"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_supervisord_values_are_escaped_or_refused() -> None:
    assert stack.supervisor_escape("/srv/100%/run") == "/srv/100%%/run"
    for bad in ('a"b', "a\nb"):
        with pytest.raises(stack.StackError):
            stack.supervisor_escape(bad)


def test_users_file_holds_hashes_only_and_is_valid_xml(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    users = ("cxpulse_migrate", "cxpulse_worker", "cxpulse_grafana", "cxpulse_reports", "cxpulse_cluster")
    credentials = Credentials({u: NASTY + u for u in users}, "cx", "cx_boards")
    render_users(tmp_path / "users.xml", credentials)
    text = (tmp_path / "users.xml").read_text()
    assert NASTY not in text
    root = ET.fromstring(text)
    assert root.find("users/cxpulse_grafana/allow_databases/database").text == "cx_boards"  # type: ignore[union-attr]
    assert root.find("profiles/boards/readonly").text == "2"  # type: ignore[union-attr]


def test_clickhouse_keeps_its_data_where_the_settings_say(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    default = Settings(run_dir=tmp_path / "a")
    stack.render_configs(default)
    path = ET.parse(tmp_path / "a/clickhouse/config.xml").getroot().findtext("path")
    assert path == f"{tmp_path / 'a/clickhouse/data'}/" and (tmp_path / "a/clickhouse/data").is_dir()
    moved = Settings(run_dir=tmp_path / "b", clickhouse_data_dir=tmp_path / "elsewhere")
    stack.render_configs(moved)
    path = ET.parse(tmp_path / "b/clickhouse/config.xml").getroot().findtext("path")
    assert path == f"{tmp_path / 'elsewhere'}/" and (tmp_path / "elsewhere").is_dir()
    assert not (tmp_path / "b/clickhouse/data").exists()
