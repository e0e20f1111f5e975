from pathlib import Path

import pytest

from sql.client import ChdbDatabase
from sql.migrate import MIGRATIONS_DIR, discover, migrate
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
