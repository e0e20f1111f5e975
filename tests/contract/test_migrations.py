from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest

from sql.client import ChdbDatabase
from sql.migrate import CLUSTER_MIGRATIONS_DIR, MIGRATIONS_DIR, ClusterMigrationError, discover, migrate
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


class _Replica:
    """One node of a fake 2 x 2 cluster: what it ran, which columns its tables have, whether it is up."""

    def __init__(self, host: str, up: bool = True, columns: tuple[str, ...] = (),
                 alter_error: int | None = None) -> None:
        self.host, self.up, self.columns, self.alter_error = host, up, set(columns), alter_error
        self.ran: list[str] = []

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        if not self.up:
            raise ConnectionRefusedError(f"Connection refused ({self.host})")
        self.ran.append(sql)
        if sql.startswith("ALTER") and self.alter_error:
            error = RuntimeError(f"Code: {self.alter_error}. DB::Exception: ...\nStack trace:\n0. ...")
            error.code = self.alter_error  # type: ignore[attr-defined]
            raise error
        return []

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.ran.append(sql)
        if "system.clusters" in sql:
            return [{"shard_num": s, "host_name": f"s{s}r{r}", "port": 9000} for s in (1, 2) for r in (1, 2)]
        if "system.columns" in sql and params and params["column"] in self.columns:
            return [{"name": params["column"]}]
        return []

    def close(self) -> None:
        pass


class _Cluster:
    def __init__(self, **replicas: _Replica) -> None:
        self.nodes = {name: replicas.get(name, _Replica(name)) for name in ("s1r1", "s1r2", "s2r1", "s2r2")}

    def connect(self, host: str, port: int) -> _Replica:
        return self.nodes[host]

    def migrate_to_0012(self) -> list[int]:
        only_0012 = [m for m in discover(CLUSTER_MIGRATIONS_DIR) if m.version <= 12]
        with patch("sql.migrate.discover", return_value=only_0012):
            applied = migrate(self.nodes["s1r1"], CLUSTER_MIGRATIONS_DIR, cluster="c", database="d",
                              connect=self.connect)
        return [m.version for m in applied]

    def altered(self, name: str) -> list[str]:
        return [sql for sql in self.nodes[name].ran if sql.startswith("ALTER")]


ADD_VERSION = "ALTER TABLE d.touchpoint_events_local ADD COLUMN version UInt64 DEFAULT 0"


def test_cluster_alter_of_a_replicated_table_runs_on_one_replica_a_shard_never_on_cluster() -> None:
    cluster = _Cluster()
    assert cluster.migrate_to_0012()[-1] == 12
    assert cluster.altered("s1r1") == [ADD_VERSION]
    assert cluster.altered("s2r1") == [ADD_VERSION]
    assert cluster.altered("s1r2") == cluster.altered("s2r2") == []  # replication takes it there
    on_cluster = [sql for sql in cluster.nodes["s1r1"].ran if "ON CLUSTER" in sql]
    assert on_cluster and not any(sql.startswith("ALTER") for sql in on_cluster)
    assert any(sql.startswith("DROP TABLE IF EXISTS d.touchpoint_events ON CLUSTER c") for sql in on_cluster)


def test_a_shard_whose_first_replica_is_down_is_altered_through_the_other() -> None:
    cluster = _Cluster(s2r1=_Replica("s2r1", up=False))
    cluster.migrate_to_0012()
    assert cluster.altered("s2r2") == [ADD_VERSION]


def test_an_alter_a_down_replica_will_take_when_it_starts_is_done_other_errors_stop_it(
        caplog: pytest.LogCaptureFixture) -> None:
    assert _Cluster(s2r1=_Replica("s2r1", alter_error=341)).migrate_to_0012()[-1] == 12
    assert "shard 2: a replica is down" in caplog.text
    with pytest.raises(RuntimeError, match="Code: 44"):
        _Cluster(s2r1=_Replica("s2r1", alter_error=44)).migrate_to_0012()


def test_a_shard_that_has_the_column_already_is_left_alone() -> None:
    cluster = _Cluster(s1r1=_Replica("s1r1", columns=("version",)))  # a run stopped half-way
    cluster.migrate_to_0012()
    assert cluster.altered("s1r1") == []
    assert cluster.altered("s2r1") == [ADD_VERSION]


def test_a_shard_with_no_replica_answering_stops_the_migration_naming_it() -> None:
    cluster = _Cluster(s2r1=_Replica("s2r1", up=False), s2r2=_Replica("s2r2", up=False))
    with pytest.raises(ClusterMigrationError, match=r"shard 2: no replica answered \(s2r1:9000: .*s2r2:9000"):
        cluster.migrate_to_0012()
    recorded = [sql for sql in cluster.nodes["s1r1"].ran if sql.startswith("INSERT INTO schema_migrations")]
    assert len(recorded) == 11  # 0001-0011; 0012 is not recorded, so the next run takes it again


def test_a_cluster_migration_needs_a_way_to_reach_each_shard() -> None:
    with pytest.raises(ValueError, match="connect"):
        migrate(_Replica("s1r1"), CLUSTER_MIGRATIONS_DIR, cluster="c", database="d")
