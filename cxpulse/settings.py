"""The one typed settings object: environment variables with the ``CXPULSE_`` prefix.

Read once at start-up (``Settings()``) and passed down; nothing reads the environment at import time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sql.experience import DEFAULT_ASSUMPTIONS
from sql.figures import MIN_N

ENV_FILE_VARIABLE = "CXPULSE_ENV_FILE"
"""Names a JSON file of CXPULSE_* settings (mode 0600): how supervised programs get their secrets."""
STACK_PORTS = ("kafka_port", "clickhouse_port", "clickhouse_http_port", "prometheus_port", "worker_port",
               "alertmanager_port", "webhook_port", "mqtt_port", "ingest_port")
"""The settings naming a port of the local stack (a test or a benchmark gives each a free one)."""


class Settings(BaseSettings):
    """Configuration of every cxpulse process. Ports are local-stack defaults."""

    model_config = SettingsConfigDict(env_prefix="CXPULSE_", extra="ignore")

    run_dir: Path = Field(Path(".run"), description="data and logs of the local stack")

    kafka_bootstrap: str = Field("", description="host:port list; default: the local broker")
    kafka_port: int = 19092
    topic_prefix: str = Field("", description="prepended to every topic name (tests, tenants)")
    touchpoint_partitions: int = 4
    schema_registry_url: str = ""

    mqtt_port: int = Field(11883, description="the local Mosquitto broker kiosks publish to")

    clickhouse_host: str = "127.0.0.1"
    clickhouse_port: int = 19000
    clickhouse_http_port: int = 18123
    clickhouse_data_dir: Path | None = Field(
        None, description="the local ClickHouse's data folder; default <run_dir>/clickhouse/data")
    clickhouse_database: str = "cxpulse"
    clickhouse_user: str = "default"
    clickhouse_password: str = ""

    cluster_name: str = Field("cxpulse", description="`cxpulse cluster up`: the local cluster's name")
    clickhouse_cluster: bool = Field(False, description="ClickHouse is a cluster migrated with "
                                     "`db migrate --cluster` (the worker writes as a cluster needs)")
    clickhouse_insert_quorum: int = Field(
        0, description="on a cluster: replicas that must hold each worker write (set it to the "
        "replicas per shard so reads never miss a write; writes then wait while one is down)")
    cluster_shards: int = Field(2, ge=1, description="`cxpulse cluster up`: shards")
    cluster_replicas: int = Field(2, ge=1, description="`cxpulse cluster up`: replicas per shard")
    cluster_base_port: int = Field(29100, description="`cxpulse cluster up`: first of its ports "
                                   "(ZooKeeper, then three per node: native, HTTP, interserver)")

    prometheus_port: int = 19090
    alertmanager_port: int = 19093
    webhook_port: int = Field(19094, description="the local Alertmanager webhook receiver")
    worker_port: int = 16066
    worker_id: str = "cxpulse-worker"

    demo_rate: float = Field(20.0, description="events/s of the simulator `make demo` runs")
    demo_scenario: str = Field("incident", description="simulator scenario of `make demo` "
                               "(incident: CSAT drops 5-20 min after the start, and an alert fires)")
    demo_backfill_hours: float = Field(6.0, description="hours of history `make demo` publishes first")

    fcr_window: str = Field("7d", description="FCR repeat window R, e.g. 7d, 72h")
    fcr_cache_contacts: int = Field(500_000, description="FCR contacts a worker keeps in memory "
                                    "(about 300 bytes each); older ones are read from ClickHouse")
    worker_max_poll_interval_s: float = Field(
        300.0, description="a worker whose batch cannot be written for 80% of this (ClickHouse down) "
        "exits unacknowledged, so its partitions can move to another worker")
    worker_bind: str = Field("127.0.0.1", description="address of the worker's /health and /metrics")
    worker_failpoint_file: str = Field("", description="fault matrix only: a file naming a step of "
                                       "the batch where the worker dies once (streams.failpoints)")

    followup_sla: str = Field("web=24h,call_center=4h,kiosk=48h,default=24h",
                              description="follow-up SLA per channel; others take the default")

    @field_validator("followup_sla")
    @classmethod
    def _valid_sla(cls, value: str) -> str:
        from streams.followups.rules import parse_sla_spec

        parse_sla_spec(value)
        return value

    min_n: int = Field(MIN_N, ge=1, description="a ratio over fewer answers (its n) is masked on boards, "
                       "tables and reports (shown as n<N); JSON keeps it and lists it in `masked`")
    analysis_window: str = Field("90d", description="W: default span of journey, impact and scorecards")
    moments_of_truth: str = Field("", description="touchpoints configured as moments of truth, "
                                  "comma-separated (the data scores every touchpoint as well)")
    currency: str = Field("USD", description="currency of CLV and revenue at risk")
    clv_defaults: str = Field(DEFAULT_ASSUMPTIONS.clv_defaults,
                              description="CLV of a customer without attributes.clv, by the channel of "
                              "their latest event; 'default' for the rest")
    loss_rate_silent: float = Field(DEFAULT_ASSUMPTIONS.loss_silent, ge=0, le=1,
                                    description="share of CLV lost when a customer with a problem "
                                    "neither complains nor recovers")
    loss_rate_complained: float = Field(DEFAULT_ASSUMPTIONS.loss_complained, ge=0, le=1,
                                        description="... who complained and did not recover")
    loss_rate_recovered: float = Field(DEFAULT_ASSUMPTIONS.loss_recovered, ge=0, le=1,
                                       description="... who complained and recovered")
    fix_window: str = Field("14d", description="L: length of the before and after periods of a fix")
    fix_settle: str = Field("0d", description="time after a fix before its after period starts")

    @field_validator("clv_defaults")
    @classmethod
    def _valid_clv(cls, value: str) -> str:
        from sql.experience import clv_spec_problems

        problems = clv_spec_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    pseudonym_key: SecretStr | None = Field(
        None, description="HMAC key (>= 16 bytes) that pseudonymises customer ids at the edge; "
        "default: a random key kept in the run folder (local stack only)")

    alerts_enabled: bool = Field(True, description="run the satisfaction-drop detector in the worker")
    board_url: str = Field("http://127.0.0.1:3000", description="Grafana URL used in alert links")

    ingest_port: int = Field(18080, description="the HTTP ingest service (web surveys, partner API)")
    ingest_max_body_bytes: int = Field(256 * 1024, description="request body cap, checked before reading")
    ingest_max_items: int = Field(500, description="items per request")
    ingest_keys_file: Path | None = Field(None, description="API keys (hashed); default: "
                                          "ingest-keys.json in the run folder")
    ingest_master_key: SecretStr | None = Field(
        None, description="derives every server key's signing secret (>= 16 bytes); default: a "
        "random key kept in the run folder (local stack only). Changing it revokes all server keys")
    ingest_redis_url: str = Field("", description="Redis shared by ingest instances (rate limits, "
                                  "replay cache), e.g. redis://redis:6379/0; empty: per instance")
    ingest_trusted_proxies: str = Field("", description="load balancers whose X-Forwarded-For is "
                                        "believed: addresses or networks, comma-separated")
    ingest_client_rate: float = Field(2.0, gt=0, description="items/s one client may post with a "
                                      "browser key (per address, or per widget-token subject)")
    ingest_client_burst: int = Field(20, ge=1, description="burst of that per-client limit")
    web_survey_stages: str = Field("", description="journey stage per web survey touchpoint, "
                                   "e.g. checkout=purchase,delivery=delivery")

    sink_batch_size: int = Field(10_000, description="max events per ClickHouse insert")
    publish_batch_events: int = Field(
        500, description="events per Kafka record sent by connectors, the simulator and publish "
        "(envelopes per partition; 0 or 1: one event per record; never with a schema registry)")
    sink_batch_seconds: float = Field(
        0.25, description="max wait for more records before a batch is written; under load batches "
        "grow by themselves (records arrive while one is written), so this bounds latency at low load")

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of this process: the environment, then the file ``CXPULSE_ENV_FILE`` names.

        Values in that file win over the environment; it is a JSON object of ``CXPULSE_*`` names.
        """
        path = (os.environ if environ is None else environ).get(ENV_FILE_VARIABLE)
        if not path:
            return cls()
        values = json.loads(Path(path).read_text())
        return cls(**{k.removeprefix("CXPULSE_").lower(): v for k, v in values.items()
                      if k.startswith("CXPULSE_") and k != ENV_FILE_VARIABLE})

    @property
    def bootstrap(self) -> str:
        """The Kafka bootstrap servers to use."""
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def worker_group(self) -> str:
        """The worker's Kafka consumer group (= Faust app id, prefix of its changelog topics)."""
        return f"{self.topic_prefix}{self.worker_id}"

    @property
    def ingest_keys_path(self) -> Path:
        """The ingest service's key file."""
        return (self.ingest_keys_file or self.run_path / "ingest-keys.json").resolve()

    @property
    def worker_data_path(self) -> Path:
        """The worker's local table state (RocksDB), rebuilt from changelog topics when lost."""
        return self.run_path / "worker-data"

    @property
    def voc_models_path(self) -> Path:
        """Trained sentiment models, one folder per version, and ``active.json`` (``voc.sentiment``)."""
        return self.run_path / "voc" / "models"

    @property
    def clickhouse_data_path(self) -> Path:
        """The local ClickHouse server's data folder."""
        return (self.clickhouse_data_dir or self.run_path / "clickhouse" / "data").resolve()

    @property
    def cluster_path(self) -> Path:
        """The local cluster's run folder (`cxpulse cluster up`)."""
        return self.run_path / "cluster"

    @property
    def run_path(self) -> Path:
        """Absolute run folder."""
        return self.run_dir.resolve()
