"""What the worker needs to know, built by the command line from the one settings object."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.topics import Topics
from streams.followups.rules import DEFAULT_SLA_POLICY, SlaPolicy


@dataclass(frozen=True)
class WorkerConfig:
    """Worker configuration (all values already validated by the settings object)."""

    app_id: str
    bootstrap: str
    topics: Topics
    clickhouse_host: str
    clickhouse_port: int
    clickhouse_database: str
    clickhouse_user: str
    clickhouse_password: str
    web_port: int
    batch_size: int = 10_000
    batch_seconds: float = 0.25
    schema_registry_url: str = ""
    partitions: int = 4
    """Partitions of cx.touchpoints."""
    data_dir: str = ".run/worker-data"
    """Faust's data folder."""
    web_bind: str = "127.0.0.1"
    """Address /health and /metrics listen on."""
    fcr_window_ms: int = 7 * 86_400_000
    fcr_cached_contacts: int = 500_000
    """FCR contacts kept in memory; the rest is fetched from ClickHouse when an event needs it."""
    rebalance_timeout_s: float = 20.0
    rebalance_grace_s: float = 5.0
    """How long a batch in flight may keep writing after a rebalance started (see ``streams.fence``)."""
    clickhouse_cluster: bool = False
    """ClickHouse is a cluster (``sql/cluster``): see ``streams.sinks.clickhouse.cluster_settings``."""
    clickhouse_insert_quorum: int = 0
    """On a cluster: replicas that must hold a write before it returns (0: no quorum)."""
    failpoint_file: str = ""
    """Fault matrix only (``streams.failpoints``)."""
    max_poll_interval_s: float = 300.0
    """The consumer leaves the group when a batch takes longer; a batch stops writing at 80% of it."""
    followup_sla: SlaPolicy = DEFAULT_SLA_POLICY
    """Follow-up SLA per channel."""
    alerts_enabled: bool = True
    """Run the satisfaction-drop detector in this worker (one worker of a deployment is enough)."""
    board_url: str = "http://127.0.0.1:3000"
    """Grafana base URL for the links in alerts."""
