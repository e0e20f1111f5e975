"""Benchmark: the dedupe look-up of one batch as ``touchpoint_events`` grows.

`make bench-lookup` runs it. It starts the broker and ClickHouse (free ports, a temporary run folder), fills
``touchpoint_events`` with synthetic stored events (``INSERT ... SELECT`` from ``numbers()``, event
times spread over 30 days) up to each size asked for, and times, for a batch of ids:

- the whole-column look-up the worker made before it kept an index (``event_id IN`` the batch's ids):
  ClickHouse reads every granule, since random ids touch them all;
- loading the worker's ``StoredIndex`` (what a worker pays at start-up and after a rebalance) and
  its memory;
- the look-up the worker makes now (``streams.dedupe.lookup.stored_copies``), for a batch of new ids
  and for batches in which a share of the ids are re-deliveries of stored events, of any day or of
  the last day of event time (the usual re-delivery: a retry, a restart).

It checks that every look-up found exactly the stored copies it should. Not a test: nothing here
asserts a speed.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.harness import clickhouse_alone, median_ms
from sql.client import ServerDatabase
from streams.dedupe.lookup import load_event_index, stored_copies

START_S = 1_795_514_400
SPREAD_S = 30 * 86_400
REPEATS = 5


def stored_id(n: int) -> str:
    """The event_id of synthetic stored event ``n`` (what the fill query writes)."""
    return hashlib.md5(str(n).encode()).hexdigest()


def fill(db: ServerDatabase, start: int, stop: int) -> None:
    """Stored events ``start`` .. ``stop - 1``, in inserts of 1M rows."""
    for first in range(start, stop, 1_000_000):
        db.client.execute(
            "INSERT INTO touchpoint_events (event_id, occurred_at, occurred_at_ms, channel, touchpoint) "
            "SELECT lower(hex(MD5(toString(number)))), toDateTime(%(start)s - number %% %(spread)s), "
            "0, 'web', 'bench' FROM numbers(%(first)s, %(count)s)",
            {"start": START_S, "spread": SPREAD_S, "first": first, "count": min(1_000_000, stop - first)})


def whole_column(db: ServerDatabase, ids: list[str]) -> int:
    """The look-up without an index: every stored copy of ``ids``."""
    rows = db.client.execute(
        "SELECT event_id, version, kafka_partition, kafka_offset, kafka_index FROM touchpoint_events "
        "WHERE event_id IN batch_ids",
        external_tables=[{"name": "batch_ids", "structure": [("event_id", "String")],
                          "data": [{"event_id": e} for e in set(ids)]}])
    return len(rows)


@dataclass
class Timing:
    """One size's figures (ms unless said)."""

    whole_column: float
    load_s: float
    index_mb: float
    new_ids: float
    redelivered: float
    redelivered_recent: float


def recent_id(stored: int, rng: random.Random) -> str:
    """A stored event of the last day of event time (a re-delivery soon after the first one)."""
    days = max(1, stored // SPREAD_S)
    while True:
        n = rng.randrange(days) * SPREAD_S + rng.randrange(86_400)
        if n < stored:
            return stored_id(n)


def timed(run: Callable[[], int], expected: int) -> float:
    """Median ms of a look-up that must find ``expected`` stored copies."""
    return median_ms(run, expected, REPEATS, "a look-up")


def measure(db: ServerDatabase, stored: int, batch: int, share: float, rng: random.Random) -> Timing:
    """Time every look-up over ``stored`` stored events."""
    new = [f"{rng.getrandbits(128):032x}" for _ in range(batch)]
    hits = int(batch * share)
    mixed = new[hits:] + [stored_id(n) for n in rng.sample(range(stored), hits)]
    recent = new[hits:] + list({recent_id(stored, rng) for _ in range(hits)})
    column = timed(lambda: whole_column(db, mixed), hits)
    started = time.perf_counter()
    index = load_event_index(db)
    load_s = time.perf_counter() - started

    def copies(ids: list[str]) -> int:
        return sum(map(len, stored_copies(db, index, ids).values()))

    return Timing(column, load_s, index.nbytes / 1e6, timed(lambda: copies(new), 0),
                  timed(lambda: copies(mixed), hits),
                  timed(lambda: copies(recent), len(recent) - (batch - hits)))


def main(argv: list[str] | None = None) -> int:
    """Fill, time, print one line per size."""
    parser = argparse.ArgumentParser(prog="python -m bench.lookup", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="1000000,4000000,8000000",
                        help="stored events, comma-separated sizes (default 1M, 4M, 8M)")
    parser.add_argument("--batch", type=int, default=10_000, help="ids a look-up asks for (default 10k)")
    parser.add_argument("--redelivered", type=float, default=0.1,
                        help="share of a batch's ids already stored (default 0.1)")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.rows.split(","))
    rng = random.Random(7)
    print(f"dedupe look-up of a batch of {args.batch:,} ids, median of {REPEATS}, ms; "
          f"re-delivered: {args.redelivered:.0%} of the ids are stored events, of any day or of the last")
    print(f"{'stored events':>14} | {'whole column':>12} | {'index load s':>12} | {'index MB':>8} | "
          f"{'new ids':>8} | {'re-delivered':>12} | {'last day':>8}")
    with clickhouse_alone("lookup") as db:
        stored = 0
        for size in sizes:
            fill(db, stored, size)
            stored = size
            t = measure(db, stored, args.batch, args.redelivered, rng)
            print(f"{size:>14,} | {t.whole_column:>12.1f} | {t.load_s:>12.1f} | {t.index_mb:>8.1f} | "
                  f"{t.new_ids:>8.1f} | {t.redelivered:>12.1f} | {t.redelivered_recent:>8.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
