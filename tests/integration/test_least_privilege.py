"""Least privilege on the stack's ClickHouse 18.16: each user can do its job and nothing more.

The Grafana user runs every board query in its boards' database, and cannot write, change the
schema, lift its read-only mode, or read the raw events (comments). The worker writes rows but no
DDL; reports only read. Secrets stay in files only their owner can read.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_driver.errors import ServerException

from cxpulse.access import GRAFANA_USER, REPORTS_USER, WORKER_USER, kept_credentials
from cxpulse.settings import Settings
from dashboards.build import BOARDS
from dashboards.macros import TimeRange, expand
from dashboards.panels import annotation_queries, sql_queries
from sql.access import BOARD_TABLES, boards_database
from sql.client import ServerDatabase

ACCESS_DENIED, READONLY, DDL_PROHIBITED, UNKNOWN_COLUMN = 291, 164, 392, 47


def user_db(settings: Settings, user: str, database: str) -> ServerDatabase:
    password = kept_credentials(settings.run_path, settings.clickhouse_database).password_of(user)
    return ServerDatabase(settings.clickhouse_host, settings.clickhouse_port, database, user, password)


@pytest.fixture()
def grafana(running_stack: Settings) -> Iterator[ServerDatabase]:
    db = user_db(running_stack, GRAFANA_USER, boards_database(running_stack.clickhouse_database))
    yield db
    db.close()


def refused(db: ServerDatabase, sql: str) -> int:
    with pytest.raises(ServerException) as raised:
        db.execute(sql)
    return int(raised.value.code)


def test_grafana_user_runs_every_board_query(running_stack: Settings, grafana: ServerDatabase) -> None:
    now = int(time.time())
    window = TimeRange(now - 86_400, now)
    failed = []
    for name, build in BOARDS.items():
        board = build()
        variables = {v["name"]: [v["query"]] if v["type"] == "textbox" else ["web", "kiosk"]
                     for v in board["templating"]["list"]}
        for panel, sql in [*sql_queries(board), *annotation_queries(board)]:
            expanded = expand(sql, window, variables)
            try:  # max_execution_time: the plugin sets it on every query
                grafana.client.execute(expanded, settings={"max_execution_time": 30})
            except ServerException as exc:
                failed.append(f"{name}: {panel.get('title', panel.get('name'))}: {str(exc).splitlines()[1]}")
    assert failed == []


def test_grafana_user_cannot_write_drop_or_read_raw_events(
        running_stack: Settings, grafana: ServerDatabase) -> None:
    pipeline = running_stack.clickhouse_database
    assert refused(grafana, "INSERT INTO alerts (alert_id) SELECT 'x'") == READONLY
    assert refused(grafana, "DROP TABLE alerts") == READONLY
    assert refused(grafana, "CREATE TABLE t (a UInt8) ENGINE = Memory") == READONLY
    assert refused(grafana, "ALTER TABLE alerts DELETE WHERE 1") == READONLY
    assert refused(grafana, f"SELECT comment FROM {pipeline}.touchpoint_events") == ACCESS_DENIED
    assert refused(grafana, f"SELECT count() FROM {pipeline}.minute_counts") == ACCESS_DENIED
    assert refused(grafana, "SELECT 1 SETTINGS readonly = 0") == READONLY
    tables = {name for (name,) in grafana.execute("SHOW TABLES")}
    assert tables == set(BOARD_TABLES)
    assert refused(grafana, "SELECT comment FROM touchpoint_events") == UNKNOWN_COLUMN
    assert refused(grafana, "SELECT attribute_values FROM touchpoint_events") == UNKNOWN_COLUMN


def test_worker_writes_rows_but_no_ddl_and_reports_only_read(running_stack: Settings) -> None:
    worker = user_db(running_stack, WORKER_USER, running_stack.clickhouse_database)
    reports = user_db(running_stack, REPORTS_USER, running_stack.clickhouse_database)
    try:
        worker.execute("INSERT INTO alerts (alert_id, status) SELECT 'least-privilege', 'TEST'")
        assert worker.execute("SELECT count() FROM alerts WHERE alert_id = 'least-privilege'") == [(1,)]
        assert refused(worker, "DROP TABLE alerts") == DDL_PROHIBITED
        assert refused(worker, "ALTER TABLE alerts ADD COLUMN x UInt8") == DDL_PROHIBITED
        assert refused(worker, "SELECT 1 FROM default.system_tables_do_not_exist") == ACCESS_DENIED
        assert reports.execute("SELECT count() FROM alerts WHERE alert_id = 'least-privilege'") == [(1,)]
        assert refused(reports, "INSERT INTO alerts (alert_id) SELECT 'x'") == READONLY
    finally:
        worker.close()
        reports.close()


def test_secrets_are_in_owner_only_files(running_stack: Settings) -> None:
    run = running_stack.run_path
    secret_files = [run / "supervisord.conf", run / "clickhouse/users.xml", run / "clickhouse/config.xml",
                    *(run / "secrets").iterdir()]
    for path in secret_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    password = kept_credentials(run, running_stack.clickhouse_database).password_of(WORKER_USER)
    for path in run.rglob("*"):
        if path.is_file() and path.suffix in (".conf", ".xml", ".yml", ".log") and "data" not in path.parts:
            assert password not in path.read_text(errors="replace"), f"the worker's password in {path}"
    assert Path(run / "secrets/worker.env.json").exists()
