"""The worker's pipeline on a real ClickHouse cluster (2 shards x 2 replicas, ClickHouse 18.16 and
ZooKeeper), writing as a cluster needs (``streams.sinks.clickhouse.cluster_settings``, the minute
ledger into one shard's local table), with a replica killed mid-run: every figure exact.

Versioned and transferred contacts, shuffled and partly delivered twice, in envelopes; the broker
is the session stack's (for dead letters and follow-ups). With a write quorum of 2, a write waits
(the batch retries) while a replica is down, and nothing a later batch reads can be missing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cxpulse import cluster
from cxpulse.access import Credentials, kept_credentials
from cxpulse.settings import Settings
from schemas.kafka import ensure_topics
from schemas.topics import Topics
from sql.client import ServerDatabase
from streams.sinks.clickhouse import ClickHouseSink, cluster_settings
from tests.chaos.workload import History, shuffled
from tests.conftest import free_port, unique_name
from tests.integration.pipeline_lane import PARTITIONS, Lane, records_of
from tests.integration.test_cluster import migrate_cli


@pytest.fixture(scope="module")
def cluster_lane(running_stack: Settings, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[Lane, cluster.Layout, Credentials]]:
    run = Path(tmp_path_factory.mktemp("cluster-pipeline"))
    layout = cluster.plan(run, "cxpipe", shards=2, replicas=2, port=free_port)
    credentials = kept_credentials(run, unique_name("cxp"))
    try:
        cluster.up(layout, credentials)
        migrate_cli(layout, credentials)
        db = cluster.client(layout.node(1, 1), credentials, credentials.database)
        topics = Topics(unique_name("clp") + ".")
        ensure_topics(running_stack.bootstrap, topics.specs(PARTITIONS))
        yield Lane(running_stack, db, topics), layout, credentials
    finally:
        cluster.down(layout)


def test_exact_on_a_cluster_with_a_replica_killed_mid_run(
        cluster_lane: tuple[Lane, cluster.Layout, Credentials]) -> None:
    lane, layout, credentials = cluster_lane
    node = layout.node(1, 1)

    def connect() -> ServerDatabase:
        return ServerDatabase("127.0.0.1", node.tcp_port, credentials.database,
                              credentials.admin_user, credentials.password_of(credentials.admin_user),
                              send_receive_timeout=10, settings=cluster_settings(2))

    history = History(9, int(time.time() * 1000), customers=120, hot_keys=1, versions=True)
    events = shuffled(history.events, 6)
    records = records_of([*events, *events[: len(events) // 3]], envelope=20)
    half = len(records) // 2
    pipeline = lane.pipeline(sink=ClickHouseSink(connect, cluster=True), cached=30)
    lane.feed(pipeline, records[:half], 40)

    victim = layout.node(2, 2)
    cluster.kill_node(layout, victim)
    back = threading.Timer(8.0, cluster.start_node, (layout, victim, credentials))
    back.start()
    started = time.monotonic()
    lane.feed(pipeline, records[half:], 40)  # waits out the dead replica, then carries on
    back.join()
    assert time.monotonic() - started > 5, "a write with a replica down should have waited"
    assert lane.mismatches(history.events, int(time.time() * 1000)) == []
    shards = {shard: cluster.client(layout.node(shard, 1), credentials, credentials.database)
              for shard in (1, 2)}
    local = {s: db.execute("SELECT count() FROM fcr_contacts_local")[0][0] for s, db in shards.items()}
    assert all(local.values()), f"FCR rows on both shards: {local}"
