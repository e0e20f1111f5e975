"""A real ClickHouse 18.16 cluster (2 shards x 2 replicas, ZooKeeper 3.8), started here: exact through it.

The test starts its own cluster on free ports through ``cxpulse.cluster`` (what ``make cluster-up``
runs), migrates it with ``cxpulse db migrate --cluster``, and writes what the worker writes, the way
the worker must on a cluster: events and FCR rows through the Distributed tables, synchronously;
minute counts with their checkpoints in one insert straight into one shard's local table, with
``insert_deduplicate = 0``. Every board panel over the figures, read through Distributed tables (FINAL
included) as the read-only reports user, shows the figures recomputed from the events by METRICS.md
rules. Then one replica is killed: writes and reads go on, exact, and the replica catches up.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cxpulse import cluster
from cxpulse.access import REPORTS_USER, WORKER_USER, Credentials, kept_credentials
from sql.client import ServerDatabase
from sql.migrate import CLUSTER_MIGRATIONS_DIR, alter_shard_by_shard, discover
from streams.fcr.processor import FCR_COLUMNS
from streams.satisfaction.contributions import COUNT_COLUMNS, EVENT_COLUMNS
from streams.sinks.checkpoints import LEDGER_COLUMNS, minute_rows
from tests.conftest import free_port, unique_name
from tests.integration.dashboard_reference import Scenario, build_scenario
from tests.integration.test_dashboard_queries import (
    FIGURE_QUERIES,
    assert_panel_shows_the_recomputed_figures,
    event_rows,
    fcr_batches,
)

NAME = "cxtest"
SYNC = {"insert_distributed_sync": 1}
"""Through Distributed: return only once every shard stored its rows (the worker reads them next)."""
LEDGER = {"insert_deduplicate": 0}
"""Into a shard's minute_counts_local: identical blocks are distinct deltas, never dropped."""
LEDGER_INSERT = f"INSERT INTO minute_counts_local ({', '.join(LEDGER_COLUMNS)}) VALUES"
LOCAL_TABLES = ("touchpoint_events_local", "fcr_contacts_local", "minute_counts_local")


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[cluster.Layout, Credentials]]:
    run = Path(tmp_path_factory.mktemp("cluster"))
    database = unique_name("cxc")
    layout = cluster.plan(run, NAME, shards=2, replicas=2, port=free_port)
    credentials = kept_credentials(run, database)
    try:
        cluster.up(layout, credentials)
        yield layout, credentials
    finally:
        cluster.down(layout)


def connect(layout: cluster.Layout, credentials: Credentials, shard: int, replica: int,
            user: str | None = None) -> ServerDatabase:
    return cluster.client(layout.node(shard, replica), credentials, credentials.database, user=user)


def migrate_cli(layout: cluster.Layout, credentials: Credentials) -> str:
    node = layout.nodes[0]
    env = {**os.environ, "CXPULSE_CLICKHOUSE_PORT": str(node.tcp_port),
           "CXPULSE_CLICKHOUSE_USER": credentials.admin_user,
           "CXPULSE_CLICKHOUSE_PASSWORD": credentials.password_of(credentials.admin_user),
           "CXPULSE_CLICKHOUSE_DATABASE": credentials.database}
    done = subprocess.run([sys.executable, "-m", "cxpulse", "db", "migrate", "--cluster", layout.name],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return build_scenario(int(time.time()))


@pytest.fixture(scope="module")
def migrated(local_cluster: tuple[cluster.Layout, Credentials]) -> tuple[cluster.Layout, Credentials]:
    layout, credentials = local_cluster
    out = migrate_cli(layout, credentials)
    assert f"{len(discover())} migration(s) applied" in out
    assert "0 migration(s) applied" in migrate_cli(layout, credentials)  # recorded once, cluster-wide
    return layout, credentials


def write_like_the_worker(db: ServerDatabase, ledger: dict[int, ServerDatabase], scenario: Scenario,
                          offset: int = 0) -> None:
    """Events and FCR batches through Distributed; minute-count batches into alternating shards."""
    db.client.execute(f"INSERT INTO touchpoint_events ({', '.join(EVENT_COLUMNS)}) VALUES",
                      event_rows(scenario.events), settings=SYNC)
    for rows in fcr_batches(scenario.events):  # rewrites: FINAL must pick the latest
        db.client.execute(f"INSERT INTO fcr_contacts ({', '.join(FCR_COLUMNS)}) VALUES", rows,
                          settings=SYNC)
    counts = minute_rows(scenario.events)
    random.Random(3).shuffle(counts)
    for n, start in enumerate(range(0, len(counts), 50)):
        # each batch advances its partition's checkpoint by 50
        checkpoint = (0, *[""] * 6, "topic/0", *[0] * len(COUNT_COLUMNS), 50)
        shard = 1 + n % len(ledger)
        ledger[shard].client.execute(LEDGER_INSERT, [*counts[start:start + 50], checkpoint],
                                     settings=LEDGER)


def test_every_migration_has_its_cluster_form_on_every_node(
        migrated: tuple[cluster.Layout, Credentials]) -> None:
    layout, credentials = migrated
    columns = []
    for node in layout.nodes:
        db = cluster.client(node, credentials, credentials.database)
        columns.append(db.execute("SELECT table, name, type FROM system.columns "
                                  "WHERE database = currentDatabase() ORDER BY table, name"))
        engines = dict(db.execute(
            "SELECT name, engine FROM system.tables WHERE database = currentDatabase()"))
        assert engines["touchpoint_events"] == "Distributed"
        assert engines["fcr_contacts_local"] == "ReplicatedReplacingMergeTree"
        assert engines["minute_counts_local"] == "ReplicatedSummingMergeTree"
        macros = dict(db.execute("SELECT macro, substitution FROM system.macros"))
        assert macros == {"shard": str(node.shard), "replica": node.name}
    assert all(c == columns[0] for c in columns), "every node has every table with the same columns"


def test_an_alter_stopped_half_way_runs_again_and_reaches_every_replica(
        migrated: tuple[cluster.Layout, Credentials]) -> None:
    """The cluster ALTER goes shard by shard (never through 18.16's racy ON CLUSTER lock)."""
    layout, credentials = migrated
    db = connect(layout, credentials, 1, 1)
    added = next(s for m in discover(CLUSTER_MIGRATIONS_DIR) for s in m.statements()
                 if "ADD COLUMN contact_group" in s)
    connect(layout, credentials, 2, 2).execute("ALTER TABLE fcr_contacts_local DROP COLUMN contact_group")
    assert [has_column(layout, credentials, node, "contact_group") for node in layout.nodes] == [
        True, True, False, False]  # the drop went to shard 2's other replica too
    assert alter_shard_by_shard(db, added, layout.name, credentials.database, db.sibling)
    # when it returns, every replica of every shard has it
    assert all(has_column(layout, credentials, node, "contact_group") for node in layout.nodes)


def has_column(layout: cluster.Layout, credentials: Credentials, node: cluster.Node, column: str) -> bool:
    db = connect(layout, credentials, node.shard, node.replica)
    try:
        return bool(db.query("SELECT name FROM system.columns WHERE database = currentDatabase() "
                             "AND table = 'fcr_contacts_local' AND name = %(column)s", {"column": column}))
    finally:
        db.close()


def test_figures_exact_through_distributed_tables_then_with_a_replica_killed(
        migrated: tuple[cluster.Layout, Credentials], scenario: Scenario) -> None:
    layout, credentials = migrated
    writer = connect(layout, credentials, 2, 1, WORKER_USER)
    ledger = {s: connect(layout, credentials, s, 1, WORKER_USER) for s in (1, 2)}
    write_like_the_worker(writer, ledger, scenario)
    caught_up(layout, credentials)  # a reader may be served by either replica of a shard
    reports = connect(layout, credentials, 2, 2, REPORTS_USER)
    for _board, panel, sql in FIGURE_QUERIES:
        assert_panel_shows_the_recomputed_figures(reports, scenario, panel, sql, scenario.channels)
    spread = [connect(layout, credentials, s, 1).execute("SELECT count() FROM touchpoint_events_local")
              for s in (1, 2)]
    assert all(n[0][0] > 0 for n in spread), "both shards hold events"
    assert checkpoint(reports) == 50 * -(-len(minute_rows(scenario.events)) // 50)

    cluster.kill_node(layout, layout.node(1, 1), signal.SIGKILL)  # the replica in_order prefers
    again = build_scenario(scenario.now, seed=99)  # a second set of events, its own ids
    for event in again.events:
        event["event_id"] = f"second-{event['event_id']}"
    ledger[1] = connect(layout, credentials, 1, 2, WORKER_USER)  # shard 1's surviving replica
    write_like_the_worker(writer, ledger, again)
    caught_up(layout, credentials, skip=layout.node(1, 1))
    total = [e for s in (scenario, again) for e in s.events]
    assert event_totals(reports) == (len(total), sum(e["csat"] or 0 for e in total))
    assert minute_totals(reports) == (len(total), sum(e["csat"] or 0 for e in total))

    cluster.start_node(layout, layout.node(1, 1), credentials)
    caught_up(layout, credentials)
    revived, peer = connect(layout, credentials, 1, 1), connect(layout, credentials, 1, 2)
    for table in LOCAL_TABLES:
        assert revived.execute(f"SELECT count() FROM {table}") == peer.execute(f"SELECT count() FROM {table}")


def caught_up(layout: cluster.Layout, credentials: Credentials, skip: cluster.Node | None = None) -> None:
    """Every live replica fetched every part its shard's log names (SYSTEM SYNC REPLICA)."""
    for node in layout.nodes:
        if node != skip:
            db = cluster.client(node, credentials, credentials.database)
            for table in LOCAL_TABLES:
                db.execute(f"SYSTEM SYNC REPLICA {table}")


def event_totals(db: ServerDatabase) -> tuple[int, int]:
    [(n, csat)] = db.execute("SELECT count(), sum(ifNull(csat, 0)) FROM touchpoint_events")
    return int(n), int(csat)


def minute_totals(db: ServerDatabase) -> tuple[int, int]:
    [(n, csat)] = db.execute(
        "SELECT sum(events), sum(csat_sum) FROM minute_counts WHERE minute > toDateTime(0)")
    return int(n), int(csat)


def checkpoint(db: ServerDatabase) -> int:
    [(offset,)] = db.execute("SELECT sum(applied_offset) FROM minute_counts WHERE checkpoint = 'topic/0'")
    return int(offset)


def ledger_insert(db: ServerDatabase, settings: dict[str, Any] | None = None) -> None:
    row = (120, *[""] * 6, "", 1, *[0] * (len(COUNT_COLUMNS) - 1), 0)
    db.client.execute(LEDGER_INSERT, [row], settings=settings)


def test_what_18_16_does_to_the_worker_writes(migrated: tuple[cluster.Layout, Credentials]) -> None:
    """The write rules the worker's sink follows on a cluster, each shown on the real server."""
    layout, credentials = migrated
    db = connect(layout, credentials, 2, 2, WORKER_USER)
    def minute_120() -> int:
        [(n,)] = db.execute("SELECT sum(events) FROM minute_counts_local WHERE minute = toDateTime(120)")
        return int(n or 0)

    before = minute_120()
    ledger_insert(db)
    ledger_insert(db)  # the same block again: a replicated table drops it as a duplicate ...
    assert minute_120() == before + 1
    ledger_insert(db, LEDGER)  # ... unless insert_deduplicate = 0: two equal batches are two deltas
    assert minute_120() == before + 2
    with pytest.raises(Exception, match="Code: 55"):  # minute_counts' Distributed table: reads only
        db.client.execute("INSERT INTO minute_counts (minute, events) VALUES", [(60, 1)], settings=SYNC)
    cluster.kill_node(layout, layout.node(2, 1))
    try:  # a quorum of both replicas refuses to write while one is down
        with pytest.raises(Exception, match=r"Code: 319|quorum"):
            ledger_insert(db, {**LEDGER, "insert_quorum": 2, "insert_quorum_timeout": 5000})
    finally:
        cluster.start_node(layout, layout.node(2, 1), credentials)


def test_a_write_retried_after_its_quorum_timed_out_is_stored_once(
        migrated: tuple[cluster.Layout, Credentials], scenario: Scenario) -> None:
    """Why the sink writes idempotent tables with ``insert_deduplicate = 1`` on a cluster, and the
    worker sends ``inserted_at`` rather than leave it to the server's ``now()``.

    A quorum insert whose quorum times out is not undone: its part waits on the replica that took
    it, invisible to sequentially consistent reads (the retry's dedupe look-up) until the other
    replica fetches it. The retry then sends the rows again; only block deduplication keeps them
    once, and only if the block is the same to the byte: a default of now() a second later is not.
    """
    layout, credentials = migrated
    taker = layout.node(2, 2)
    db = ServerDatabase("127.0.0.1", taker.tcp_port, credentials.database, credentials.admin_user,
                        credentials.password_of(credentials.admin_user), send_receive_timeout=30,
                        settings={"insert_quorum": 2, "select_sequential_consistency": 1})
    stamp = int(time.time())
    rows = [(f"quorum-{i}", *row[1:], stamp) for i, row in enumerate(event_rows(scenario.events)[:40])]
    insert = f"INSERT INTO touchpoint_events_local ({', '.join(EVENT_COLUMNS)}, inserted_at) VALUES"

    def stored() -> int:
        [(n,)] = db.execute("SELECT count() FROM touchpoint_events_local WHERE event_id LIKE 'quorum-%'")
        return int(n)

    laggard = int((layout.run_dir / layout.node(2, 1).name / "pid").read_text())
    os.kill(laggard, signal.SIGSTOP)  # alive to ZooKeeper, but fetches nothing
    try:
        with pytest.raises(Exception, match="Code: 319"):  # "Timeout while waiting for quorum"
            db.client.execute(insert, rows, settings={"insert_quorum_timeout": 1500})
        assert stored() == 0, "the part is in, but not for a sequentially consistent read"
    finally:
        os.kill(laggard, signal.SIGCONT)
    deadline = time.monotonic() + 30
    while stored() < len(rows) and time.monotonic() < deadline:  # the quorum is reached late
        time.sleep(0.2)
    assert stored() == len(rows)
    db.client.execute(insert, rows, settings={"insert_deduplicate": 1})  # the retry's same block
    assert stored() == len(rows)
    later = [(*row[:-1], stamp + 1) for row in rows]  # the same events, inserted_at a second later
    db.client.execute(insert, later, settings={"insert_deduplicate": 1})
    assert stored() == 2 * len(rows), "a block that differs in any byte is written again"
    db.close()
