"""The real local stack for integration tests, started through the same code as `cxpulse stack up`.

One stack per test session: free ports, its own run folder, topic prefix and database; stopped at the
end. A component that cannot start fails the tests: nothing here skips.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.harness import memory_data_dir
from cxpulse import stack
from cxpulse.settings import Settings
from sql.client import Database, ServerDatabase
from sql.migrate import migrate
from tests.conftest import stack_ports, unique_name


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings of this session's stack, also exported as CXPULSE_* for `cxpulse` subprocesses."""
    run_dir = Path(tmp_path_factory.mktemp("run"))
    settings = Settings(
        run_dir=run_dir,
        **stack_ports(),
        topic_prefix=unique_name("t") + ".",
        clickhouse_database=unique_name("cxtest"),
        touchpoint_partitions=4,
        sink_batch_seconds=0.3,
        clickhouse_data_dir=memory_data_dir("test"),  # as the bench stacks: tmpfs (bench.harness)
    )
    yield settings


@pytest.fixture(scope="session")
def running_stack(stack_settings: Settings) -> Iterator[Settings]:
    """The whole stack up and healthy for the session."""
    try:
        stack.up(stack_settings, progress=lambda line: None)
    except Exception:
        logs = stack_settings.run_path / "logs"
        for log in sorted(logs.glob("*.log")):
            print(f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-30:]))
        stack.down(stack_settings, progress=lambda line: None)
        raise
    yield stack_settings
    stack.down(stack_settings, progress=lambda line: None)


@pytest.fixture(scope="session")
def cli_env(running_stack: Settings) -> dict[str, str]:
    """Environment for running `cxpulse` against the test stack."""
    return {**os.environ, **stack.worker_environment(running_stack)}


@pytest.fixture()
def server_db(running_stack: Settings) -> Iterator[ServerDatabase]:
    """The stack's ClickHouse 18.16 server, connected to this run's migrated database."""
    db = ServerDatabase(running_stack.clickhouse_host, running_stack.clickhouse_port,
                        running_stack.clickhouse_database)
    yield db
    db.close()


@contextmanager
def fresh_database(settings: Settings, prefix: str, migrations: Path | None = None
                   ) -> Iterator[ServerDatabase]:
    """A database of its own on the stack's server, migrated (by ``migrations``, default all), dropped
    afterwards: for tests whose figures must come from their own rows only."""
    db = ServerDatabase(settings.clickhouse_host, settings.clickhouse_port, unique_name(prefix))
    try:
        db.create_database()
        migrate(db, migrations)
        yield db
    finally:
        db.drop_database()
        db.close()


ENGINES = ("clickhouse-18.16", "chdb")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Database:
    """Each SQL test once per engine: the module's ``server_data`` and ``chdb_data`` fixtures."""
    db: Database = request.getfixturevalue("server_data" if request.param == ENGINES[0] else "chdb_data")
    return db
