from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest

from sql.client import ChdbDatabase
from sql.migrate import CLUSTER_MIGRATIONS_DIR, MIGRATIONS_DIR, discover, migrate
from tests.conftest import unique_name


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in discover()]
    assert versions == list(range(1, len(versions) + 1))


@pytest.mark.parametrize("path", sorted(MIGRATIONS_DIR.glob("*.sql")), ids=lambda p: p.name)
def test_no_construct_the_old_server_lacks(path: Path) -> None:
    text = path.read_text()
    for forbidden in ("DateTime64", "toStartOfInterval", "TTL", "JSONExtract", " OVER ("):
        assert forbidden not in text, f"{path.name} uses {forbidden}"


def test_migrations_apply_once_on_modern_clickhouse() -> None:
    db = ChdbDatabase(unique_name("mig"))
    try:
        assert len(migrate(db)) == len(discover())
        assert migrate(db) == []
        rows = db.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
        tables = {r["name"] for r in rows}
        assert {"touchpoint_events", "minute_counts", "schema_migrations"} <= tables
    finally:
        db.close()


class _Node:
    """A node whose cluster ALTER failed after the column had been added (or not)."""

    def __init__(self, has_column: bool, shards_with_column: int = 2) -> None:
        self.has_column = has_column
        self.shards_with_column = shards_with_column
        self.ran: list[str] = []

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        self.ran.append(sql)
        if "ON CLUSTER" in sql and "ADD COLUMN" in sql:
            raise RuntimeError("Code: 44. Cannot add column version: column with this name already exists")
        return []

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        if "system.settings" in sql:
            return [{"value": "180"}]
        if "system.clusters" in sql:
            return [{"shard_num": 1}, {"shard_num": 2}]
        if "system, columns" in sql or "system.columns" in sql:
            return [{"n": self.shards_with_column * int(self.has_column)}]
        return [{"n": 0}]


@pytest.mark.parametrize("has_column", [True, False])
def test_cluster_add_column_that_failed_but_took_effect_is_not_an_error(has_column: bool) -> None:
    node = _Node(has_column)
    only_0012 = [m for m in discover(CLUSTER_MIGRATIONS_DIR) if m.version <= 12]
    def runner() -> list[Any]:
        return migrate(node, CLUSTER_MIGRATIONS_DIR, cluster="c", database="d")

    with patch("sql.migrate.discover", return_value=only_0012), \
            patch("sql.migrate.ADD_COLUMN_CHECK_SECONDS", 0.0):
        if has_column:
            assert [m.version for m in runner()][-1] == 12
        else:
            with pytest.raises(RuntimeError, match="already exists"):
                runner()
    alter = next(i for i, sql in enumerate(node.ran) if "ADD COLUMN" in sql)
    assert node.ran[alter - 1] == "SET distributed_ddl_task_timeout = 30"
    assert node.ran[alter + 1] == "SET distributed_ddl_task_timeout = 180"


def test_cluster_add_column_missing_on_a_shard_is_an_error() -> None:
    node = _Node(True, shards_with_column=1)
    only_0012 = [m for m in discover(CLUSTER_MIGRATIONS_DIR) if m.version <= 12]
    with patch("sql.migrate.discover", return_value=only_0012), \
            patch("sql.migrate.ADD_COLUMN_CHECK_SECONDS", 0.0), \
            pytest.raises(RuntimeError, match="already exists"):
        migrate(node, CLUSTER_MIGRATIONS_DIR, cluster="c", database="d")
