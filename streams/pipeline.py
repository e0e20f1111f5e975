"""The worker's flow for one batch of Kafka records, as a plain class (no Faust in here).

decode -> skip what is already applied -> dead-letter rejects -> dedupe against stored copies ->
each concern's rows (events, follow-ups, FCR outcomes, minute count deltas) -> write -> commit.

The commit is one atomic insert of the minute ledger (count deltas + Kafka checkpoints,
``streams.sinks.checkpoints``); every write before it may be repeated without changing a figure, and
every Kafka send before it is acknowledged. So whatever stops the worker — kill -9 between any two
writes, ClickHouse dying mid-insert, a rebalance — the batch is either committed exactly once or
read again and committed then. ``process`` returns only when the batch is committed; it raises
``Interrupted`` when it must not be acknowledged (stopping with a failing write, or partitions lost).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.codec import AvroCodec
from schemas.event import TouchpointEvent
from sql.client import ColumnRows
from streams.dedupe.copies import Copy, Decision, resolve
from streams.dedupe.lookup import load_event_index, place_of, stored_copies, stored_events
from streams.failpoints import Failpoints
from streams.fcr.outcomes import contact_from_event, is_eligible
from streams.fcr.processor import FCR_COLUMNS, FcrPlan, FcrProcessor, Removal, Upsert, state_key
from streams.fcr.store import keys_stored_since, load_key_index, stored_contacts
from streams.fence import Fence
from streams.followups.processor import FOLLOWUP_COLUMNS, FollowUpProcessor
from streams.intake import Intake, Interrupted, Record, decode_chunks
from streams.metrics import DUPLICATES_DROPPED, EVENTS_IN, EVENTS_STORED, SINK_BATCH_SIZE
from streams.satisfaction.contributions import (
    EVENT_COLUMNS,
    Column,
    event_columns,
    event_sums,
    minute_sums,
)
from streams.sinks.checkpoints import LEDGER_COLUMNS, MINUTE_TABLE, Checkpoints, MinuteDeltas
from streams.sinks.clickhouse import ClickHouseSink, Retriable, TableRows, Unstorable
from streams.sinks.kafka import Outbox
from streams.stored_index import StoredIndex, event_second, key_hashes

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0
UNSTORABLE = "unstorable"
"""Dead-letter reason of a record ClickHouse refused although it passed validation."""
WRITTEN_EVENT_COLUMNS = (*EVENT_COLUMNS, "inserted_at")
"""The worker's ``touchpoint_events`` rows: ``event_row`` and the batch's first-attempt stamp."""

Winner = Decision[tuple[int, TouchpointEvent]]
"""A decision whose winner's payload is (batch position, event)."""


@dataclass
class BatchResult:
    """What one committed batch did (for metrics, logs and the alerting hook)."""

    records: int = 0
    already_applied: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    fcr_rows: int = 0
    events: list[TouchpointEvent] = field(default_factory=list)
    """What the detector must see of the events this batch counted (``clock_events``)."""

    def add(self, other: BatchResult) -> None:
        """Fold in the result of the batch's next chunk."""
        self.records += other.records
        self.already_applied += other.already_applied
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.dead_lettered += other.dead_lettered
        self.fcr_rows += other.fcr_rows
        self.events.extend(other.events)


def clock_events(events: list[TouchpointEvent]) -> list[TouchpointEvent]:
    """The few events that move the detector as all of ``events`` would (``AlertEngine.observe``).

    The oldest and the newest (its event-time clock), and the newest press of each kiosk location
    (liveness). Keeping every event of a take for the detector held ~100k decoded events at once.
    """
    if not events:
        return []
    kiosks: dict[str, TouchpointEvent] = {}
    for event in events:
        if event["channel"] == "kiosk" and event.get("location_id"):
            known = kiosks.get(event["location_id"])
            if known is None or event["occurred_at"] > known["occurred_at"]:
                kiosks[event["location_id"]] = event
    times = [int(event["occurred_at"]) for event in events]
    by_time = [events[times.index(min(times))], events[times.index(max(times))]]
    return [*by_time, *kiosks.values()]


class WorkerPipeline:
    """One batch at a time; thread-confined (the Faust agent runs it in one executor thread)."""

    def __init__(self, *, codec: AvroCodec, sink: ClickHouseSink, outbox: Outbox,
                 checkpoints: Checkpoints, fcr: FcrProcessor, followups: FollowUpProcessor,
                 fence: Fence, failpoints: Failpoints | None = None,
                 max_events: int = 10_000) -> None:
        self.codec = codec
        self.max_events = max_events
        self.sink = sink
        self.outbox = outbox
        self.checkpoints = checkpoints
        self.fcr = fcr
        self.followups = followups
        self.fence = fence
        self.failpoints = failpoints or Failpoints()
        self._applied: dict[int, int] | None = None
        self._indexes: tuple[StoredIndex, StoredIndex] | None = None
        """What is stored in (``touchpoint_events``, ``fcr_contacts``): loaded at the first batch
        and again after partitions moved (another worker may have written for them meanwhile)."""
        self._moved = threading.Event()

    def partitions_moved(self) -> None:
        """A rebalance happened: cached state may belong to another worker now (any thread)."""
        self._moved.set()

    def index_bytes(self) -> dict[str, int]:
        """Memory of each stored index (``events``, ``fcr_keys``): 0 until the first batch loads them."""
        events, keys = self._indexes or (StoredIndex(), StoredIndex())
        return {"events": events.nbytes, "fcr_keys": keys.nbytes}

    def _forget(self) -> None:
        self._applied = None
        self.fcr.forget()

    def process(self, records: list[Record]) -> BatchResult:
        """Commit the batch, retrying until it is (see the module docstring).

        A batch of many envelopes is committed in chunks of about ``max_events`` events, each with
        its own checkpoints, so memory and the length of one write stay bounded.
        """
        started = time.monotonic()
        if self._moved.is_set():
            self._moved.clear()
            self._forget()
            self._indexes = None
        total = BatchResult()
        chunks = decode_chunks(records, self.codec, self.max_events, lambda: self._may_retry(started))
        for chunk, intake in chunks:
            EVENTS_IN.inc(len(intake.entries))
            total.add(self._commit(chunk, intake, started))
        return total

    def _commit(self, records: list[Record], intake: Intake, started: float) -> BatchResult:
        sent: set[int] = set()
        stamp = int(time.time())  # inserted_at, the same in every attempt (see _event_rows)
        delay = 0.5
        while True:
            try:
                return self._attempt(records, intake, sent, started, stamp)
            except Unstorable as exc:  # dead-letter the refused records, write the rest
                intake.reject(exc.sources, UNSTORABLE, exc.detail)
            except Retriable as exc:
                self._forget()
                if not self._may_retry(started):
                    raise Interrupted(f"batch not written: {exc}") from exc
                # never sleep through the last moment this batch may still be written
                pause = max(0.1, min(delay, self.fence.remaining(started) - 1.0))
                log.warning("batch of %d records not written (%s); retrying in %.1fs",
                            len(records), exc, pause)
                time.sleep(pause)
                delay = min(delay * 2, MAX_BACKOFF_S)

    def _may_retry(self, started: float) -> bool:
        return not self.fence.stopping.is_set() and self.fence.may_write(started)

    def _guard(self, started: float) -> None:
        if not self.fence.may_write(started):
            raise Interrupted("partitions may have moved: not writing")

    def _attempt(self, records: list[Record], intake: Intake, sent: set[int],
                 started: float, stamp: int) -> BatchResult:
        if self._applied is None:
            self._applied = self.sink.run("checkpoint read", self.checkpoints.read)
        if self._indexes is None:
            self._indexes = self.sink.run("stored index load",
                                          lambda db: (load_event_index(db), load_key_index(db)))
        applied = self._applied
        events_index, keys_index = self._indexes
        cluster = self.sink.cluster
        entries = intake.entries
        live: Sequence[int] = range(len(entries))  # the common case: nothing applied yet
        if any(r.offset < applied.get(r.partition, 0) for r in records):
            live = [i for i, e in enumerate(entries) if e.offset >= applied.get(e.partition, 0)]
        result = BatchResult(records=len(entries), already_applied=len(entries) - len(live))
        rejected, valid = intake.rejected, intake.events
        if rejected:
            for i in live:
                if i in rejected and i not in sent:
                    self.outbox.dead_letter(entries[i], rejected[i].reason, rejected[i].detail)
                    sent.add(i)
            result.dead_lettered = sum(1 for i in live if i in rejected)
        self.failpoints.reach("after_dead_letters")
        copies = [Copy(event["event_id"], int(event.get("version") or 0), entry.partition, entry.offset,
                       (i, event), entry.place)
                  for i in live if (event := valid.get(i)) is not None for entry in (entries[i],)]
        ids = [c.event_id for c in copies]
        hashes = key_hashes(ids)  # for the look-up, and for the index once the new ones are stored
        stored = self.sink.run("dedupe look-up",
                               lambda db: stored_copies(db, events_index, ids, cluster, hashes))
        resolution = resolve(copies, stored, lambda p, o: o < applied.get(p, 0))
        result.duplicates = resolution.duplicates
        winners: list[Winner] = resolution.decisions
        events = [d.winner.payload[1] for d in winners]
        result.events = clock_events(events)
        replaced, undone = self._earlier_versions(winners)

        # Each table's insert is sent, then the next step's rows are made while ClickHouse writes
        # it, then it is waited for: the writes stay in order, each confirmed before the next goes.
        self._guard(started)
        columns = self._event_columns(winners, events)
        event_rows, stored = self._event_rows(winners, columns, stamp)
        events_index.add(stored[0], [event_second(ms) for ms in stored[2]],
                         hashes if stored[0] == ids else None)  # the common case: every copy is new
        pending = self.sink.send(event_rows)
        try:
            followups = self._followup_rows(winners, events, replaced, undone)
            changes = self._contact_changes(winners, replaced, undone)
            pending.wait()
            self.failpoints.reach("after_events")
            pending = self.sink.send(followups[0])
            plan = self.fcr.plan(*changes, self._fetch_contacts)
            pending.wait()
            self.failpoints.reach("after_followups")
            self._guard(started)
            keys_index.add([state_key(r[0], r[1]) for r in plan.rows],
                           [event_second(r[4]) for r in plan.rows])
            pending = self.sink.send(TableRows("fcr_contacts", FCR_COLUMNS, plan.rows, plan.sources))
            advanced = self._advanced(records, applied)
            rows = self.checkpoints.ledger_rows(self._deltas(columns, replaced), applied, advanced)
            pending.wait()
        except BaseException:
            pending.abandon()
            raise
        self.failpoints.reach("after_fcr")
        for key, value in followups[1]:
            self.outbox.send(self.outbox.topics.followups, key, value)
        self.outbox.flush()
        self.failpoints.reach("after_messages")
        self._guard(started)
        self.sink.insert(TableRows(MINUTE_TABLE, LEDGER_COLUMNS, rows, atomic=True))
        self.failpoints.reach("after_commit")
        self._committed(advanced, plan)
        result.stored = sum(1 for d in winners if not d.already_stored)
        result.fcr_rows = len(plan.rows)
        SINK_BATCH_SIZE.observe(len(winners))
        EVENTS_STORED.inc(len(winners))
        DUPLICATES_DROPPED.inc(result.duplicates)
        return result

    @staticmethod
    def _advanced(records: list[Record], applied: dict[int, int]) -> dict[int, int]:
        """Each partition's checkpoint once this batch is committed."""
        advanced: dict[int, int] = {}
        for record in records:
            if record.offset >= advanced.get(record.partition, applied.get(record.partition, 0)):
                advanced[record.partition] = record.offset + 1
        return advanced

    def _committed(self, advanced: dict[int, int], plan: FcrPlan) -> None:
        assert self._applied is not None
        self._applied.update(advanced)
        self.fcr.commit(plan)
        self.sink.succeeded()

    def _fetch_contacts(self, keys: list[str], from_ms: int) -> dict[str, list[dict[str, Any]] | None]:
        """Stored rows of the keys that have any since ``from_ms``; ``None`` for those never stored.

        Most keys of a batch have no row recent enough, and are not asked for (``Fetch``).
        """
        assert self._indexes is not None
        held, never = keys_stored_since(self._indexes[1], keys, from_ms)
        found: dict[str, list[dict[str, Any]] | None] = dict.fromkeys(never)
        cluster = self.sink.cluster
        if held:
            found |= self.sink.run("fcr history", lambda db: stored_contacts(db, held, from_ms, cluster))
        return found

    @staticmethod
    def _event_columns(winners: list[Winner], events: list[TouchpointEvent]) -> list[Column]:
        """``EVENT_COLUMNS`` of every winner (``event_columns``), stored already or not."""
        if not winners:
            return event_columns([], [], [], [])
        _, _, partitions, offsets, _, places = zip(*[d.winner for d in winners], strict=True)
        return event_columns(events, partitions, offsets, places)

    @staticmethod
    def _event_rows(winners: list[Winner], columns: list[Column], stamp: int
                    ) -> tuple[TableRows, list[Column]]:
        """The rows of the winners not stored yet, and their ``EVENT_COLUMNS``.

        An attempt that did not commit may have stored some. ``inserted_at`` is the batch's first
        attempt, not the server's ``now()``: a retry then sends each shard the very block it sent
        before, which a cluster drops if the block did land
        (``streams.sinks.clickhouse.cluster_settings``).
        """
        fresh = [i for i, d in enumerate(winners) if not d.already_stored]
        if len(fresh) < len(winners):
            columns = [[column[i] for i in fresh] for column in columns]
        rows = ColumnRows([*columns, [stamp] * len(fresh)])
        sources = [frozenset((winners[i].winner.payload[0],)) for i in fresh]
        return TableRows("touchpoint_events", WRITTEN_EVENT_COLUMNS, rows, sources), columns

    def _earlier_versions(self, winners: list[Winner]
                          ) -> tuple[dict[str, TouchpointEvent], dict[str, list[TouchpointEvent]]]:
        """Each winner's earlier stored versions, by event id, read in one query.

        Returns the counted version it replaces, and the stored copies no commit applied whose rows
        elsewhere it undoes (``Decision.unapplied``).
        """
        wanted = [c for d in winners for c in (*((d.replaces,) if d.replaces else ()), *d.unapplied)]
        if not wanted:
            return {}, {}
        cluster = self.sink.cluster
        found = self.sink.run("earlier versions", lambda db: stored_events(db, wanted, cluster))
        replaced = {d.replaces.event_id: found[place_of(d.replaces)]
                    for d in winners if d.replaces is not None}
        undone: dict[str, list[TouchpointEvent]] = {}
        for d in winners:
            if d.unapplied:
                undone[d.winner.event_id] = [found[place_of(c)] for c in d.unapplied]
        return replaced, undone

    def _followup_rows(self, winners: list[Winner], events: list[TouchpointEvent],
                       replaced: dict[str, TouchpointEvent], undone: dict[str, list[TouchpointEvent]]
                       ) -> tuple[TableRows, list[tuple[bytes, bytes]]]:
        earlier = {event_id: [old] for event_id, old in replaced.items()}
        for event_id, olds in undone.items():
            earlier.setdefault(event_id, []).extend(olds)
        batch = self.followups.process(events, earlier)
        sources = [frozenset((winners[i].winner.payload[0],)) for i in batch.origins]
        return TableRows("followups", FOLLOWUP_COLUMNS, batch.rows, sources), batch.messages()

    @staticmethod
    def _contact_changes(winners: list[Winner], replaced: dict[str, TouchpointEvent],
                         undone: dict[str, list[TouchpointEvent]]
                         ) -> tuple[list[Upsert], list[Removal]]:
        """FCR's view of the batch: contacts added or replaced, and contacts that left their key.

        A newer version that changed an event's customer or reason (or made it no contact) takes
        it out of its old key; within one key it simply replaces the older version. A copy an
        attempt that did not commit wrote (``undone``) may have put the event under a key too.
        """
        upserts: list[Upsert] = []
        removals: list[Removal] = []
        for d in winners:
            position, event = d.winner.payload
            event_id = event["event_id"]
            key = state_key(event["customer_id"], event["contact_reason"]) if is_eligible(event) else None
            if key is not None:
                upserts.append((position, key, contact_from_event(event)))
            old = replaced.get(event_id)
            olds = undone.get(event_id, ()) if old is None else [old, *undone.get(event_id, ())]
            if not olds:  # most events: a first version
                continue
            left = {key}
            for old in olds:
                if is_eligible(old):
                    old_key = state_key(old["customer_id"], old["contact_reason"])
                    if old_key not in left:
                        left.add(old_key)
                        removals.append((position, old_key, event_id, int(old["occurred_at"])))
        return upserts, removals

    @staticmethod
    def _deltas(columns: list[Column], replaced: dict[str, TouchpointEvent]) -> MinuteDeltas:
        deltas = MinuteDeltas(minute_sums(columns))
        # newer versions: the old ones' counts come out, summed per cell in one pass
        for cell, counts in event_sums(list(replaced.values())).items():
            deltas.add(cell, counts, -1)
        return deltas
