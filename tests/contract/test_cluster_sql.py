"""Every migration has its cluster form, generated and committed; the translator's rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from sql import clustering
from sql.migrate import CLUSTER_MIGRATIONS_DIR, MIGRATIONS_DIR, cluster_statement, discover


def test_every_migration_has_a_committed_cluster_form() -> None:
    names = {m.path.name for m in discover(MIGRATIONS_DIR)}
    assert {m.path.name for m in discover(CLUSTER_MIGRATIONS_DIR)} == names
    assert clustering.drift() == [], "run `make cluster-sql` and commit sql/cluster/"


def test_cluster_statements_fill_every_placeholder() -> None:
    for migration in discover(CLUSTER_MIGRATIONS_DIR):
        for statement in migration.statements():
            sql = cluster_statement(statement, "prod", "cx")
            assert "$" not in sql and "ON CLUSTER prod" in sql, migration.path.name


def test_a_new_migration_gets_its_cluster_form(tmp_path: Path) -> None:
    (tmp_path / "0001_create_things.sql").write_text(
        "CREATE TABLE IF NOT EXISTS alerts (alert_id String, v UInt64)\n"
        "ENGINE = ReplacingMergeTree(v)\nORDER BY alert_id;\n")
    (tmp_path / "0002_add_things_x.sql").write_text("ALTER TABLE alerts ADD COLUMN x UInt8 DEFAULT 0;\n")
    (tmp_path / "0003_drop_things.sql").write_text("DROP TABLE IF EXISTS alerts;\n")
    out = tmp_path / "cluster"
    clustering.write(out, tmp_path)
    create = (out / "0001_create_things.sql").read_text()
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/${database}/alerts', '{replica}', v)" \
        in create
    assert "Distributed(${cluster}, ${database}, alerts_local, cityHash64(alert_id))" in create
    assert "-- alerts: sharded by cityHash64(alert_id)" in create
    alter = (out / "0002_add_things_x.sql").read_text()
    assert "ALTER TABLE ${database}.alerts_local ON CLUSTER ${cluster} ADD COLUMN x" in alter
    assert "DROP TABLE IF EXISTS ${database}.alerts ON CLUSTER" in alter  # made again over the local
    drop = (out / "0003_drop_things.sql").read_text()
    assert drop.index("${database}.alerts ON") < drop.index("${database}.alerts_local ON")
    assert clustering.drift(out, tmp_path) == []
    (out / "0002_add_things_x.sql").write_text("-- edited by hand\n")
    assert clustering.drift(out, tmp_path) == [f"out of date: {out / '0002_add_things_x.sql'}"]


@pytest.mark.parametrize(("sql", "problem"), [
    ("CREATE TABLE IF NOT EXISTS novel (a String) ENGINE = MergeTree ORDER BY a", "add its sharding key"),
    ("CREATE TABLE IF NOT EXISTS alerts (a String) ENGINE = Log", "no replicated form"),
    ("INSERT INTO alerts SELECT 1", "no cluster form known"),
    ("ALTER TABLE never_made ADD COLUMN x UInt8", "not a table created before"),
])
def test_what_cannot_be_translated_says_so(tmp_path: Path, sql: str, problem: str) -> None:
    (tmp_path / "0001_do_it.sql").write_text(sql + ";\n")
    with pytest.raises(clustering.TranslationError, match=problem) as raised:
        clustering.render(discover(tmp_path), tmp_path / "handwritten")
    assert "0001_do_it.sql" in str(raised.value) and "handwritten" in str(raised.value)


def test_a_hand_written_form_is_used_as_written(tmp_path: Path) -> None:
    (tmp_path / "0001_copy_it.sql").write_text("INSERT INTO alerts SELECT 1;\n")
    (tmp_path / "handwritten").mkdir()
    (tmp_path / "handwritten/0001_copy_it.sql").write_text("-- nothing to copy on a cluster\n")
    [text] = clustering.render(discover(tmp_path), tmp_path / "handwritten").values()
    assert text.endswith("-- nothing to copy on a cluster\n") and "Hand-written" in text
