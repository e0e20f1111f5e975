"""The one place the console wires components from ``Settings``.

Every command, the demo, the stack runner and the benchmarks build their codec, publisher,
database client, keys and drain here, so a setting means the same thing everywhere and each
component is configured once. Nothing here reads the environment: ``Settings`` is passed in.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from pydantic import SecretStr

from connectors.sdk.files import publish_stream
from connectors.sdk.privacy import PrivacyKey
from connectors.sdk.publisher import EventPublisher, PublishSummary
from cxpulse.settings import Settings
from schemas.codec import AvroCodec
from schemas.kafka import consumer_lag
from schemas.topics import Topics
from sql.client import ServerDatabase
from sql.experience import Assumptions


def topics(settings: Settings) -> Topics:
    """The topic names under the configured prefix."""
    return Topics(settings.topic_prefix)


def codec(settings: Settings) -> AvroCodec:
    """The touchpoint codec: Confluent wire format when a schema registry is set, else single-object."""
    return AvroCodec(registry_url=settings.schema_registry_url,
                     subject=f"{topics(settings).touchpoints}-value")


def publisher(settings: Settings, source: str, *, raw_id_fields: Iterable[str] = (),
              keyless: bool = False) -> EventPublisher:
    """A publisher in ``source``'s name with the deployment's privacy key (none if ``keyless``)."""
    return EventPublisher(settings.bootstrap, topics(settings), codec(settings), source,
                          privacy_key=None if keyless else privacy_key(settings),
                          raw_id_fields=raw_id_fields, batch_events=settings.publish_batch_events)


def publish_lines(settings: Settings, stream: BinaryIO, source: str,
                  on_record: Callable[[], None] | None = None) -> PublishSummary:
    """JSON lines of canonical events (``stream``) through the ``jsonl`` connector into Kafka.

    What ``cxpulse publish`` does. Returns the publisher's summary (rejections by their exact
    dead-letter reason) once Kafka acknowledged everything; raises ``DeliveryFailed`` otherwise.
    """
    from connectors.jsonl import JsonLinesConfig, JsonLinesConnector

    events = publisher(settings, source)
    publish_stream(JsonLinesConnector(JsonLinesConfig()), stream, events, on_record)
    return events.summary


def database(settings: Settings, name: str | None = None, *,
             connect_timeout: float = 5.0) -> ServerDatabase:
    """A client of the configured ClickHouse, on its database (or ``name``, e.g. ``default``)."""
    return ServerDatabase(settings.clickhouse_host, settings.clickhouse_port,
                          name or settings.clickhouse_database, settings.clickhouse_user,
                          settings.clickhouse_password, connect_timeout=connect_timeout)


def assumptions(settings: Settings) -> Assumptions:
    """CLV defaults, loss rates and currency of the revenue-at-risk figures."""
    return Assumptions(settings.clv_defaults, settings.loss_rate_silent, settings.loss_rate_complained,
                       settings.loss_rate_recovered, settings.currency)


def local_defaults(settings: Settings, connector: str, config: object) -> object:
    """A connector config with the local stack's addresses where it names none.

    Only the kiosk bridge talks to a server of the stack (Mosquitto, on ``settings.mqtt_port``).
    """
    if connector == "kiosk-mqtt" and isinstance(config, dict) and "broker_host" not in config:
        return {"broker_port": settings.mqtt_port, **config}
    return config


def kept_key(setting: SecretStr | None, path: Path) -> PrivacyKey:
    """A ``PrivacyKey`` from a secret setting, else from a random key created once (0600) at ``path``."""
    if setting is not None:
        return PrivacyKey(setting)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return PrivacyKey(path.read_text().strip())


def privacy_key(settings: Settings) -> PrivacyKey:
    """The pseudonymisation key: the setting, else a random one kept in the run folder."""
    return kept_key(settings.pseudonym_key, settings.run_path / "pseudonym.key")


def master_key(settings: Settings) -> PrivacyKey:
    """The master key server keys are derived from: the setting, else one kept in the run folder."""
    return kept_key(settings.ingest_master_key, settings.run_path / "ingest-master.key")


def drain(settings: Settings, timeout: float,
          progress: Callable[[int], None] | None = None) -> dict[int, int]:
    """Wait until the worker committed every record (it commits only after ClickHouse stored them).

    ``progress`` gets the records still to store about twice a second. Returns the remaining lag
    per partition: all zero when drained.
    """
    topic = topics(settings).touchpoints
    deadline = time.monotonic() + timeout
    lag = consumer_lag(settings.bootstrap, settings.worker_group, topic)
    while any(lag.values()) and time.monotonic() < deadline:
        if progress:
            progress(sum(lag.values()))
        time.sleep(0.25)
        lag = consumer_lag(settings.bootstrap, settings.worker_group, topic)
    if progress:
        progress(sum(lag.values()))
    return lag
