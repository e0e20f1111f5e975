"""Latency at a steady rate: produce -> figures queryable in ClickHouse (our worker), -> counted (peers).

The producer (``SteadyProducer``) sends simulator events at a steady rate and stamps each as it is
sent: ``received_at`` = now (ms; the field a connector sets at ingest), ``occurred_at`` moved by the
same amount (the simulator's lateness is kept). The events are made, protected and validated as our
connectors do before the run and replayed with fresh ids; it publishes them as a connector does
(``wiring.publisher``: envelopes per partition), flushing every ``LINGER_S``.

Our worker (``worker_latency``): a thread polls the minute ledger's checkpoints every ``POLL_S``
(``Checkpoints.read``, the worker's own query: the checkpoint rows only) and notes when each
partition's checkpoint passes an offset. A batch's minute counts and its checkpoints are one insert,
so an event's figures are queryable exactly when the checkpoint of its partition passed its record's
offset. After the run, every stored event's (``kafka_partition``, ``kafka_offset``,
``received_at_ms``) from ``touchpoint_events`` gives its latency: the end of the first poll that saw
its checkpoint passed, minus its stamp. An upper bound, late by at most one poll interval plus one
query; the worker is neither changed nor asked anything. Events stamped during the warm-up are left out.

R and the peers (``consumer_latency``): the consumer notes the wall clock when it counts an event
(``bench.peers.common``), on a topic of its own, fed by the same producer at the same rate.
"""

from __future__ import annotations

import bisect
import itertools
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.consumers import ConsumerRun, ConsumerSpec
from bench.report import Latency
from bench.workers import live_worker
from connectors.sdk.publisher import BasePublisher
from connectors.simulator import generate_events
from cxpulse import wiring
from cxpulse.settings import Settings
from schemas.event import TouchpointEvent
from schemas.kafka import end_offsets, ensure_topics
from streams.sinks.checkpoints import Checkpoints, topic_id

LINGER_S = 0.1
"""The producer flushes its open envelopes this often (a live source sending as events come)."""
TICK_S = 0.005
POLL_S = 0.05
SIMULATED_RATE = 50.0
"""Events/s of simulated traffic the producer draws from (only the event mix matters: it restamps)."""
SEED_STRIDE = 1_000_003

Timeline = list[tuple[int, float]]
"""One partition's checkpoint as seen: (next offset not yet applied, epoch ms first seen), ascending."""


def visible_at(timeline: Timeline, offset: int) -> float | None:
    """When the record at ``offset`` was first seen applied (checkpoint > offset); None if never."""
    index = bisect.bisect_right([applied for applied, _seen in timeline], offset)
    return timeline[index][1] if index < len(timeline) else None


def now_ms() -> float:
    """The wall clock, epoch ms (the stamps' clock)."""
    return time.time() * 1000


POOL_EVENTS = 100_000
"""Simulator events made (and protected, validated) before the run, then replayed with fresh ids."""


def replayed(event: TouchpointEvent, cycle: int, stamp: int) -> TouchpointEvent:
    """A copy of a pool event as a new event of pass ``cycle``, received at ``stamp`` (epoch ms).

    Its ids (event, interaction, customer: still a ``c_`` pseudonym) are made unique to the pass, so
    each pass is new traffic with the pool's contact chains, not re-deliveries or repeat contacts of
    the last pass; ``occurred_at`` moves with ``received_at`` (the simulator's lateness is kept).
    """
    copy = dict(event)
    copy["event_id"] = f"{event['event_id']}-p{cycle}"
    if event.get("interaction_id"):
        copy["interaction_id"] = f"{event['interaction_id']}-p{cycle}"
    customer = event.get("customer_id")
    if customer:
        copy["customer_id"] = f"{customer[:-8]}{cycle:08x}"
    copy["occurred_at"] = event["occurred_at"] + stamp - event["received_at"]
    copy["received_at"] = stamp
    return copy


class SteadyProducer:
    """Simulator events at ``rate``/s for ``seconds``, stamped when sent, published like a connector.

    The events are made before the run (``POOL_EVENTS``, protected and validated as a connector
    does) and replayed pass after pass with fresh ids (``replayed``): before the Kafka send, an event
    then costs a copy, its partition and its Avro encoding, 15-16 us (27-28 us with the Python
    murmur2 and fastavro's writer the publisher used before), against 69 us for making, protecting,
    validating and encoding it live, which took a whole core at 10,000 events/s on this two-core
    machine and starved the worker it measured.
    """

    def __init__(self, settings: Settings, rate: float, seconds: float, seed: int = 7) -> None:
        self.settings, self.rate, self.total = settings, rate, int(rate * seconds)
        self.seed = seed
        self.started_ms = 0.0

    def pool(self, publisher: BasePublisher) -> list[TouchpointEvent]:
        """The pool: ``POOL_EVENTS`` (at most the run's total) simulator events, as published.

        One span's count depends on where it falls on the simulator's daily curve, and so on the
        time of day the bench runs, hence span after span until the pool is full.
        """
        size = min(self.total, POOL_EVENTS)
        span_s = size / SIMULATED_RATE * 1.5 + 3600
        start_ms = int(now_ms() - span_s * 1000)
        made = (publisher.prepare(raw) for n in itertools.count()
                for raw in generate_events("steady", self.seed + n * SEED_STRIDE, start_ms, span_s,
                                           SIMULATED_RATE))
        return list(itertools.islice(made, size))

    def run(self) -> int:
        """Publish every event on schedule; returns how many Kafka accepted (raises on a rejection).

        Every ``TICK_S`` it stamps and publishes the events due by then.
        """
        publisher = wiring.publisher(self.settings, "bench-latency")
        pool = self.pool(publisher)
        started = time.monotonic()
        self.started_ms = now_ms()
        next_flush, sent = started + LINGER_S, 0
        while sent < self.total:
            now = time.monotonic()
            stamp = int(now_ms())
            for _ in range(min(self.total, int((now - started) * self.rate) + 1) - sent):
                cycle, place = divmod(sent, len(pool))
                publisher.publish_event(replayed(pool[place], cycle, stamp))
                sent += 1
            if now >= next_flush:
                publisher.flush()
                next_flush = now + LINGER_S
            time.sleep(TICK_S)
        summary = publisher.flush()
        if summary.rejected:
            raise RuntimeError(f"latency producer: {summary.line()}")
        return summary.accepted


class CheckpointWatch:
    """Polls the worker's checkpoints in ClickHouse in a thread; a ``Timeline`` per partition."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.checkpoints = Checkpoints(topic_id(settings.bootstrap, wiring.topics(settings).touchpoints))
        self.timelines: dict[int, Timeline] = {}
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        db = wiring.database(self.settings)
        try:
            while not self._stop.is_set():
                current = self.checkpoints.read(db)
                seen = now_ms()
                self.polls += 1
                for partition, offset in current.items():
                    timeline = self.timelines.setdefault(partition, [])
                    if not timeline or offset > timeline[-1][0]:
                        timeline.append((offset, seen))
                self._stop.wait(POLL_S)
        finally:
            db.close()

    def reached(self, ends: dict[int, int]) -> bool:
        """Whether every partition's checkpoint is at its end offset."""
        return all(end == 0 or (p in self.timelines and self.timelines[p][-1][0] >= end)
                   for p, end in ends.items())

    def wait_for(self, ends: dict[int, int], timeout: float) -> None:
        """Until every checkpoint reached ``ends`` (or ``timeout`` s), then stop polling."""
        deadline = time.monotonic() + timeout
        while not self.reached(ends) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        self.stop()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        self._thread.join(10)


@dataclass(frozen=True)
class LatencyRun:
    """Latency figures of one row, and what the run was."""

    name: str
    rate: float
    sent: int
    latency: Latency
    missing: int


def topic_ends(settings: Settings) -> dict[int, int]:
    """End offset of every partition of the settings' touchpoint topic."""
    topic = wiring.topics(settings).touchpoints
    found = end_offsets(settings.bootstrap, [(topic, p) for p in range(settings.touchpoint_partitions)])
    return {p: offset for (_topic, p), offset in found.items()}


def worker_latency(settings: Settings, rate: float, seconds: float, warmup_s: float,
                   timeout: float = 300.0) -> LatencyRun:
    """Our worker on a live topic of its own: produce -> figures queryable in ClickHouse."""
    with live_worker(settings, "latency", timeout) as run:
        checkpoints = CheckpointWatch(run)
        producer = SteadyProducer(run, rate, seconds + warmup_s)
        sent = producer.run()
        checkpoints.wait_for(topic_ends(run), timeout)
    pairs, missing = stored_latencies(run, checkpoints, producer.started_ms + warmup_s * 1000)
    return LatencyRun("worker", rate, sent, Latency.of([latency for _stamp, latency in pairs]), missing)


Pairs = list[tuple[float, float]]
"""(stamp, latency) of events, ms."""


def stored_latencies(settings: Settings, checkpoints: CheckpointWatch, since_ms: float,
                     until_ms: float = math.inf, sample_every: int = 1) -> tuple[Pairs, int]:
    """(stamp, latency) in ms of the events stamped in [since, until) that the worker stored.

    ``sample_every`` > 1 keeps one event in that many (by a hash of its id, chosen by ClickHouse)
    for long runs. Also returns how many of them no poll saw applied.
    """
    db = wiring.database(settings)
    try:
        rows = db.execute(
            "SELECT kafka_partition, kafka_offset, received_at_ms FROM touchpoint_events "
            "WHERE received_at_ms >= %(since)s AND received_at_ms < %(until)s "
            "AND modulo(cityHash64(event_id), %(every)s) = 0",
            {"since": int(since_ms), "until": int(min(until_ms, 2**62)), "every": sample_every})
    finally:
        db.close()
    pairs: Pairs = []
    missing = 0
    for partition, offset, received_at in rows:
        seen = visible_at(checkpoints.timelines.get(partition, []), offset)
        if seen is None:
            missing += 1
        else:
            pairs.append((float(received_at), seen - received_at))
    return pairs, missing


def consumer_latency(spec: ConsumerSpec, settings: Settings, rate: float, seconds: float,
                     warmup_s: float, folder: Path, timeout: float = 300.0) -> LatencyRun:
    """R or a peer on a live topic of its own: produce -> counted by the consumer."""
    run = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}lat-{spec.name}."})
    ensure_topics(run.bootstrap, wiring.topics(run).specs(run.touchpoint_partitions))
    consumer = ConsumerRun(spec, run.bootstrap, wiring.topics(run).touchpoints, folder, latency=True)
    try:
        consumer.wait_ready()
        producer = SteadyProducer(run, rate, seconds + warmup_s)
        sent = producer.run()
        consumer.set_end(topic_ends(run))
        result = consumer.finish(timeout)
    finally:
        consumer.kill()
    measured_from = producer.started_ms + warmup_s * 1000
    values = [latency for stamp, latency in consumer.latency_pairs() if stamp >= measured_from]
    return LatencyRun(spec.name, rate, sent, Latency.of(values), sent - result.distinct)
