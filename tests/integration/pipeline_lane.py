"""The worker pipeline on the real ClickHouse server and broker, driven without Faust.

A lane is a database and a topic prefix of its own on the session's stack. Records are made as
Kafka would deliver them (keyed like our producer, offsets per partition), fed in batches, and the
figures in ClickHouse compared with ``tests.integration.reference``. A crash is an exception out of
the pipeline at a failpoint, after which a new pipeline (nothing kept in memory) reads again from
the last batch acknowledged: what kill -9 and a restart do to the worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.sdk.publisher import partition_key
from cxpulse.settings import Settings
from schemas.codec import AvroCodec
from schemas.event import validate_event
from schemas.kafka import ensure_topics, partition_for
from schemas.topics import Topics
from sql.client import ServerDatabase
from sql.migrate import migrate
from streams.failpoints import Failpoints
from streams.fcr.processor import FcrProcessor
from streams.fence import Fence
from streams.followups.processor import FollowUpProcessor
from streams.intake import Record
from streams.pipeline import BatchResult, WorkerPipeline
from streams.sinks.checkpoints import Checkpoints
from streams.sinks.clickhouse import ClickHouseSink
from streams.sinks.kafka import Outbox
from tests.conftest import unique_name
from tests.integration.reference import (
    COUNTS,
    OPEN_FOLLOWUPS,
    expected_counts,
    fcr_roles,
    first_copies,
    followups_mismatch,
)

PARTITIONS = 4


class Crash(BaseException):
    """The process died here (BaseException: nothing in the pipeline may catch it)."""


class CrashAt(Failpoints):
    """Dies the ``nth`` time ``point`` is reached."""

    def __init__(self, point: str, nth: int) -> None:
        super().__init__()
        self.point, self.left = point, nth

    def reach(self, point: str) -> None:
        if point == self.point:
            self.left -= 1
            if self.left == 0:
                raise Crash(point)


def records_of(events: list[dict[str, Any]], codec: AvroCodec | None = None,
               envelope: int = 1) -> list[Record]:
    """Events as Kafka delivers them: partitioned by the producer's key, offsets per partition.

    ``envelope`` > 1: consecutive events of a partition travel together, up to that many a record.
    """
    codec = codec or AvroCodec()
    offsets = [0] * PARTITIONS
    open_envelopes: dict[int, list[dict[str, Any]]] = {}
    out = []

    def close(partition: int) -> None:
        batch = open_envelopes.pop(partition)
        value = codec.encode(batch[0]) if envelope == 1 else codec.encode_batch(batch)
        out.append(Record(partition, offsets[partition], value))
        offsets[partition] += 1

    for event in events:
        canonical = validate_event(event)
        partition = partition_for(partition_key(canonical), PARTITIONS)
        open_envelopes.setdefault(partition, []).append(canonical)
        if len(open_envelopes[partition]) >= envelope:
            close(partition)
    for partition in list(open_envelopes):
        close(partition)
    return out


@dataclass
class Lane:
    """One database and topic prefix on the stack; ``pipeline()`` builds a fresh worker over them."""

    settings: Settings
    db: ServerDatabase
    topics: Topics
    sent: list[Any] = field(default_factory=list)

    @classmethod
    def open(cls, settings: Settings) -> Lane:
        db = ServerDatabase(settings.clickhouse_host, settings.clickhouse_port, unique_name("lane"))
        db.create_database()
        migrate(db)
        topics = Topics(unique_name("lane") + ".")
        ensure_topics(settings.bootstrap, topics.specs(PARTITIONS))
        return cls(settings, db, topics)

    def close(self) -> None:
        self.db.drop_database()
        self.db.close()

    def connect(self) -> ServerDatabase:
        return ServerDatabase(self.settings.clickhouse_host, self.settings.clickhouse_port,
                              self.db.database, send_receive_timeout=10)

    def pipeline(self, failpoints: Failpoints | None = None, fence: Fence | None = None,
                 sink: ClickHouseSink | None = None, cached: int = 10_000) -> WorkerPipeline:
        return WorkerPipeline(
            codec=AvroCodec(), sink=sink or ClickHouseSink(self.connect),
            outbox=Outbox(self.settings.bootstrap, self.topics),
            checkpoints=Checkpoints("lane-topic"), fcr=FcrProcessor(max_cached_contacts=cached),
            followups=FollowUpProcessor(), fence=fence or Fence(), failpoints=failpoints)

    def feed(self, pipeline: WorkerPipeline, records: list[Record], batch: int) -> list[BatchResult]:
        return [pipeline.process(records[i:i + batch]) for i in range(0, len(records), batch)]

    def mismatches(self, events: list[dict[str, Any]], now_ms: int) -> list[str]:
        """Every count by touchpoint, FCR role and open follow-up that differs from the recomputation."""
        counted = first_copies(events)
        want = expected_counts(counted, "touchpoint", 0, 2**62)
        sums = ", ".join(f"sum({c}) AS {c}" for c in COUNTS)
        got = {r["touchpoint"]: r for r in self.db.query(
            f"SELECT touchpoint, {sums} FROM minute_counts WHERE checkpoint = '' "
            "GROUP BY touchpoint")}
        bad = [f"{tp} {c}: {got.get(tp, {}).get(c, 0)} != {want.get(tp, {}).get(c, 0)}"
               for tp in set(got) | set(want) for c in COUNTS
               if int(got.get(tp, {}).get(c, 0)) != want.get(tp, {}).get(c, 0)]
        roles = fcr_roles(counted, now_ms)
        stored = {r["event_id"]: ("repeat" if not r["is_first"] else "failure" if r["failed"]
                                  else "success" if r["decided"] else "pending")
                  for r in self.db.query(
                      "SELECT event_id, is_first, failed, decides_at <= toDateTime(%(now)s) AS decided, "
                      "removed FROM fcr_contacts FINAL", {"now": now_ms // 1000}) if r["removed"] == 0}
        bad += [f"contact {e}: {stored.get(e)} != {role}" for e, role in roles.items()
                if stored.get(e) != role]
        if len(stored) != len(roles):
            bad.append(f"{len(stored)} FCR rows for {len(roles)} eligible contacts")
        if (followups := followups_mismatch({r[0] for r in self.db.execute(OPEN_FOLLOWUPS)}, counted)):
            bad.append(followups)
        [(rows, versions, distinct)] = self.db.execute(
            "SELECT count(), uniqExact(event_id, version), uniqExact(event_id) FROM touchpoint_events")
        if rows != versions or distinct != len(counted):
            bad.append(f"touchpoint_events: {rows} rows of {versions} versions, {distinct} ids, "
                       f"{len(counted)} events")
        return bad
