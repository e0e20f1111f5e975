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
    batch_seconds: float = 1.0
    schema_registry_url: str = ""
    partitions: int = 4
    """Partitions of cx.touchpoints; the FCR state table is co-partitioned with it."""
    data_dir: str = ".run/worker-data"
    """Where the worker keeps its state store (RocksDB)."""
    fcr_window_ms: int = 7 * 86_400_000
    followup_sla: SlaPolicy = DEFAULT_SLA_POLICY
    """Follow-up SLA per channel."""
    alerts_enabled: bool = True
    """Run the satisfaction-drop detector in this worker (one worker of a deployment is enough)."""
    board_url: str = "http://127.0.0.1:3000"
    """Grafana base URL for the links in alerts."""
