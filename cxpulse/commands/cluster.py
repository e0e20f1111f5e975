"""``cxpulse cluster up|down|status``: a real local ClickHouse cluster (``make cluster-up``)."""

from __future__ import annotations

import argparse

from cxpulse import cluster, console
from cxpulse.access import kept_credentials
from cxpulse.settings import Settings


def cmd_cluster(args: argparse.Namespace, settings: Settings) -> int:
    """Start, stop or show the cluster; ``status`` exits 3 when a process is not healthy."""
    run = settings.cluster_path
    credentials = kept_credentials(run, settings.clickhouse_database)
    layout = cluster.Layout.load(run)
    if args.action == "up":
        layout = layout or cluster.plan(run, settings.cluster_name, settings.cluster_shards,
                                        settings.cluster_replicas,
                                        cluster.sequential_ports(settings.cluster_base_port))
        cluster.up(layout, credentials)
        first = layout.nodes[0]
        console.stdout.print(
            f"cluster {layout.name} up: {layout.shards} shard(s) x "
            f"{len(layout.nodes) // layout.shards} replica(s), ZooKeeper on {layout.zookeeper_port}, "
            f"run folder {run}\nmigrate it: CXPULSE_CLICKHOUSE_PORT={first.tcp_port} "
            f"CXPULSE_CLICKHOUSE_USER={credentials.admin_user} CXPULSE_CLICKHOUSE_PASSWORD=\"$(cat "
            f"{run}/secrets/{credentials.admin_user}.password)\" cxpulse db migrate --cluster {layout.name}")
        return 0
    if layout is None:
        console.stdout.print(f"no cluster in {run}")
        return 0 if args.action == "down" else 3
    if args.action == "down":
        cluster.down(layout)
        console.stdout.print(f"cluster {layout.name} stopped")
        return 0
    rows = list(cluster.status(layout, credentials))
    console.show(console.table(["process", "pid", "port", "health"],
                               [(n, pid or "-", port, "healthy" if ok else "-") for n, pid, port, ok in rows],
                               right=["pid", "port"]))
    return 0 if all(ok for *_rest, ok in rows) else 3


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``cluster``."""
    p = commands.add_parser("cluster", help="a local ClickHouse cluster (shards x replicas, ZooKeeper)")
    p.add_argument("action", choices=["up", "down", "status"])
    p.set_defaults(func=cmd_cluster)
