"""Migration 0021 copies ``touchpoint_events`` into weekly partitions: every row kept, nothing left."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cxpulse.settings import Settings
from sql.client import ServerDatabase
from sql.migrate import MIGRATIONS_DIR, migrate
from tests.integration.conftest import fresh_database

BASE_S = 1_790_000_000
COPY = "0021_partition_touchpoint_events_by_week.sql"


@pytest.fixture()
def old_db(running_stack: Settings, tmp_path: Path) -> Iterator[ServerDatabase]:
    """A database migrated up to (not including) the copy."""
    before = tmp_path / "before"
    before.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < COPY:
            shutil.copy(path, before / path.name)
    with fresh_database(running_stack, "copies", before) as db:
        yield db


def parts_by_partition(db: ServerDatabase) -> int:
    return int(db.execute("SELECT uniqExact(partition) FROM system.parts WHERE active AND "
                          "database = currentDatabase() AND table = 'touchpoint_events'")[0][0])


def test_the_copy_keeps_every_row_in_weekly_partitions_and_leaves_no_table_behind(
        old_db: ServerDatabase) -> None:
    old_db.execute("INSERT INTO touchpoint_events (event_id, occurred_at, channel, comment) "
                   "SELECT concat('e', toString(number)), toDateTime(%(base)s + number * 3600), "
                   "'web', concat('c', toString(modulo(number, 7))) FROM system.numbers LIMIT 2000",
                   {"base": BASE_S})  # 2,000 hours: 84 days, 13 weeks
    before = old_db.execute("SELECT * FROM touchpoint_events ORDER BY event_id")
    assert parts_by_partition(old_db) == 84

    applied = migrate(old_db)

    assert applied[0].name == COPY.removesuffix(".sql")[5:]
    assert old_db.execute("SELECT * FROM touchpoint_events ORDER BY event_id") == before
    assert parts_by_partition(old_db) in (12, 13, 14)
    leftovers = old_db.execute("SELECT name FROM system.tables WHERE database = currentDatabase() "
                               "AND match(name, '_by_(day|week)$')")
    assert leftovers == []
    assert migrate(old_db) == []
