"""A real local ClickHouse cluster (`cxpulse cluster up|down|status`, `make cluster-up`): shards x replicas.

ClickHouse 18.16 server processes (one per replica, each its own ports and data) and one ZooKeeper
(Debian's ``zookeeper`` package, 3.8, standalone) that replicates them, all under one run folder
(``<run dir>/cluster/``: configs, data, logs, pid files and ``cluster.json``, the layout). Every
node's ``remote_servers`` names the cluster with ``internal_replication`` on: a Distributed insert
writes one replica per shard and ReplicatedMergeTree copies it to the others. The integration test
starts, kills and restarts nodes through the same functions.

Processes are started in their own session and stopped by the pids this module recorded, never by
name.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from string import Template
from xml.sax.saxutils import escape

from cxpulse.access import Credentials, render_users
from sql.client import ServerDatabase, checked_identifier

INFRA_DIR = Path(__file__).resolve().parent.parent / "infra"
ZOOKEEPER_CLASSPATH = ("/usr/share/java/zookeeper.jar",)
"""Debian's zookeeper jar; its manifest names every library it needs."""


class ClusterError(RuntimeError):
    """A node did not start or answer; the message names it and its log."""


@dataclass(frozen=True)
class Node:
    """One ClickHouse server: replica ``replica`` of shard ``shard`` (both from 1)."""

    shard: int
    replica: int
    tcp_port: int
    http_port: int
    interserver_port: int

    @property
    def name(self) -> str:
        """``s<shard>r<replica>``: its folder, its ``{replica}`` macro, its pid file."""
        return f"s{self.shard}r{self.replica}"


@dataclass(frozen=True)
class Layout:
    """Where everything of one local cluster lives, and its ports."""

    name: str
    run_dir: Path
    zookeeper_port: int
    nodes: tuple[Node, ...]

    def node(self, shard: int, replica: int) -> Node:
        """The node of ``shard``, ``replica``."""
        return next(n for n in self.nodes if (n.shard, n.replica) == (shard, replica))

    @property
    def shards(self) -> int:
        """How many shards."""
        return max(n.shard for n in self.nodes)

    def save(self) -> None:
        """Write ``cluster.json`` (what `down` and `status` read)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        data = {"name": self.name, "zookeeper_port": self.zookeeper_port,
                "nodes": [asdict(n) for n in self.nodes]}
        (self.run_dir / "cluster.json").write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, run_dir: Path) -> Layout | None:
        """The layout saved in ``run_dir``, or None when no cluster was set up there."""
        path = run_dir / "cluster.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(data["name"], run_dir, data["zookeeper_port"],
                   tuple(Node(**n) for n in data["nodes"]))


def plan(run_dir: Path, name: str, shards: int, replicas: int, port: Callable[[], int]) -> Layout:
    """A layout of ``shards`` x ``replicas`` nodes; ``port()`` hands out each port."""
    checked_identifier(name)
    zookeeper = port()
    nodes = tuple(Node(s, r, port(), port(), port())
                  for s in range(1, shards + 1) for r in range(1, replicas + 1))
    return Layout(name, run_dir.resolve(), zookeeper, nodes)


def sequential_ports(base: int) -> Callable[[], int]:
    """``base``, ``base + 1``, ...: the fixed ports of `make cluster-up`."""
    counter = iter(range(base, base + 1000))
    return lambda: next(counter)


def remote_servers(layout: Layout, credentials: Credentials) -> str:
    """The ``<remote_servers>`` body: every shard's replicas, queried as the cluster's own user."""
    user, password = escape(credentials.cluster_user), escape(credentials.cluster_password)
    lines = [f"        <{layout.name}>"]
    for shard in range(1, layout.shards + 1):
        lines += ["            <shard>", "                <internal_replication>true</internal_replication>"]
        for node in (n for n in layout.nodes if n.shard == shard):
            lines.append(f"                <replica><host>127.0.0.1</host><port>{node.tcp_port}</port>"
                         f"<user>{user}</user><password>{password}</password></replica>")
        lines.append("            </shard>")
    lines.append(f"        </{layout.name}>")
    return "\n".join(lines)


def render(layout: Layout, credentials: Credentials) -> None:
    """Write ZooKeeper's and every node's config (and the users file, mode 0600) into the run folder."""
    zk = layout.run_dir / "zookeeper"
    (zk / "data").mkdir(parents=True, exist_ok=True)
    (zk / "zoo.cfg").write_text(Template((INFRA_DIR / "zookeeper/zoo.cfg.tmpl").read_text()).substitute(
        data_dir=zk / "data", port=layout.zookeeper_port))
    users = layout.run_dir / "users.xml"
    render_users(users, credentials)
    servers = remote_servers(layout, credentials)
    template = Template((INFRA_DIR / "clickhouse/cluster-node.xml.tmpl").read_text())
    for node in layout.nodes:
        node_dir = layout.run_dir / node.name
        for sub in ("data", "tmp", "user_files", "format_schemas"):
            (node_dir / sub).mkdir(parents=True, exist_ok=True)
        values = {"node_dir": node_dir, "users_config": users, "tcp_port": node.tcp_port,
                  "http_port": node.http_port, "interserver_port": node.interserver_port,
                  "zookeeper_port": layout.zookeeper_port, "shard": node.shard, "replica": node.name}
        text = template.substitute({k: escape(str(v)) for k, v in values.items()},
                                   remote_servers=servers)
        (node_dir / "config.xml").write_text(text)
    layout.save()


def _spawn(command: list[str], log: Path, pid_file: Path) -> None:
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    pid_file.write_text(str(process.pid))


def _pid(pid_file: Path) -> int:
    """The recorded pid if that process still runs (and is not a zombie), else 0."""
    if not pid_file.exists():
        return 0
    pid = int(pid_file.read_text() or 0)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return 0
    if state == "Z":
        try:
            os.waitpid(pid, os.WNOHANG)  # our own child: reap it
        except ChildProcessError:
            pass
        return 0
    return pid


def zookeeper_ok(port: int) -> bool:
    """ZooKeeper opens a session (the handshake a ClickHouse node makes), then it is closed.

    Not ``ruok``: a fresh ZooKeeper answers ``imok`` about a quarter of a second before it takes
    sessions. A node that starts then logs "Cannot read all data ... while receiving handshake",
    its DDL worker retries 5 s later, and an ``ON CLUSTER`` query meanwhile crashes 18.16
    (a null ZooKeeper in ``DDLWorker::enqueueQuery``).
    """
    connect = struct.pack(">iqiqi16s", 0, 0, 6000, 0, 16, bytes(16))  # protocol 0, new session
    close_session = struct.pack(">ii", 1, -11)  # xid 1, closeSession
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(struct.pack(">i", len(connect)) + connect)
            if len(conn.recv(4)) < 4:  # closed: not serving yet
                return False
            conn.sendall(struct.pack(">i", len(close_session)) + close_session)
            return True
    except OSError:
        return False


def node_ok(node: Node, credentials: Credentials) -> bool:
    """The node answers a query (as the migrations user)."""
    try:
        db = client(node, credentials, "default", connect_timeout=1)
    except Exception:  # connecting fails while it starts
        return False
    try:
        return db.execute("SELECT 1") == [(1,)]
    except Exception:  # refused or starting: not healthy yet
        return False
    finally:
        db.close()


def client(node: Node, credentials: Credentials, database: str,
           connect_timeout: float = 5.0, user: str | None = None) -> ServerDatabase:
    """A client of one node (as ``user``, default the migrations user)."""
    name = user or credentials.admin_user
    return ServerDatabase("127.0.0.1", node.tcp_port, database, name, credentials.password_of(name),
                          connect_timeout=connect_timeout)


def _wait(what: str, check: Callable[[], bool], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    tail = "\n    ".join(log.read_text(errors="replace").splitlines()[-10:]) if log.exists() else ""
    raise ClusterError(f"{what} did not answer within {timeout:.0f}s (log {log}):\n    {tail}")


def start_zookeeper(layout: Layout) -> None:
    """Start ZooKeeper unless it runs; wait until it answers."""
    zk = layout.run_dir / "zookeeper"
    if not _pid(zk / "pid"):
        _spawn(["java", "-Xmx256m", "-Dzookeeper.log.dir=" + str(zk), "-cp",
                ":".join([str(zk), *ZOOKEEPER_CLASSPATH]),
                "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(zk / "zoo.cfg")],
               zk / "zookeeper.log", zk / "pid")
    _wait("zookeeper", lambda: zookeeper_ok(layout.zookeeper_port), 60, zk / "zookeeper.log")


def start_node(layout: Layout, node: Node, credentials: Credentials, timeout: float = 60) -> None:
    """Start one node unless it runs; wait until it answers."""
    node_dir = layout.run_dir / node.name
    if not _pid(node_dir / "pid"):
        _spawn(["clickhouse-server", f"--config-file={node_dir / 'config.xml'}"],
               node_dir / "stdout.log", node_dir / "pid")
    _wait(f"clickhouse {node.name}", lambda: node_ok(node, credentials), timeout,
          node_dir / "server.err.log")


def up(layout: Layout, credentials: Credentials) -> None:
    """Render the configs, start ZooKeeper and every node (those not running), wait for all."""
    # clickhouse-driver logs a traceback per refused connection while a node starts
    logging.getLogger("clickhouse_driver.connection").setLevel(logging.CRITICAL)
    render(layout, credentials)
    start_zookeeper(layout)
    for node in layout.nodes:
        start_node(layout, node, credentials)


def kill_node(layout: Layout, node: Node, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to one node (kill -9 by default) and wait until it is gone."""
    _stop(layout.run_dir / node.name / "pid", sig, 30)


def _stop(pid_file: Path, sig: int, timeout: float) -> None:
    pid = _pid(pid_file)
    if not pid:
        return
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while _pid(pid_file) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _pid(pid_file):
        os.kill(pid, signal.SIGKILL)
        while _pid(pid_file):
            time.sleep(0.1)


def down(layout: Layout) -> None:
    """Stop every node, then ZooKeeper (SIGTERM, SIGKILL after 30 s)."""
    for node in layout.nodes:
        _stop(layout.run_dir / node.name / "pid", signal.SIGTERM, 30)
    _stop(layout.run_dir / "zookeeper" / "pid", signal.SIGTERM, 30)


def status(layout: Layout, credentials: Credentials) -> Iterator[tuple[str, int, int, bool]]:
    """(name, pid, port, healthy) of ZooKeeper and each node."""
    yield ("zookeeper", _pid(layout.run_dir / "zookeeper/pid"), layout.zookeeper_port,
           zookeeper_ok(layout.zookeeper_port))
    for node in layout.nodes:
        yield (node.name, _pid(layout.run_dir / node.name / "pid"), node.tcp_port,
               node_ok(node, credentials))
