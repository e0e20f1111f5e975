"""Benchmark: the worker's FCR history read as ``fcr_contacts`` grows.

`make bench-fcr-read` runs it. It starts ClickHouse (free ports, a temporary run folder), fills
``fcr_contacts`` with synthetic contacts (``INSERT ... SELECT`` from ``numbers()``: 4 rows per
customer over 2 reasons, event times spread over 180 days, so 7 month partitions) up to each size
asked for, and times ``streams.fcr.store.stored_contacts`` for batches of keys that have contacts
in the last 15 days (the keys the worker asks about), with the rows ClickHouse read for each:

- over all history (``from_ms`` 0), and since 15 days ago (what the worker asks: months wholly
  before are not read);
- as the worker reads on one server (``IN``) and on a cluster (``GLOBAL IN``, with which 18.16 does
  not use the table's primary key for the external table on one server).

It checks that every form finds the contacts ``FINAL`` holds. Not a test: nothing here asserts a
speed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

from bench.harness import clickhouse_alone, median_ms
from sql.client import ServerDatabase
from streams.fcr.processor import KEY_SEPARATOR, state_key
from streams.fcr.store import stored_contacts

BASE_S = 1_790_000_000
SPREAD_S = 180 * 86_400
STEP_S = 7_919
"""Row ``n`` occurred at ``BASE_S + n * STEP_S mod SPREAD_S``: every size spans the 180 days."""
RECENT_S = 15 * 86_400
REPEATS = 7


def fill(db: ServerDatabase, start: int, stop: int) -> None:
    """Contact rows ``start`` .. ``stop - 1``, in inserts of 1M rows, merged into few parts."""
    for first in range(start, stop, 1_000_000):
        db.execute("INSERT INTO fcr_contacts (customer_id, contact_reason, event_id, occurred_at, "
                   "occurred_at_ms, resolved, version) "
                   "SELECT concat('c_', hex(halfMD5(intDiv(number, 4)))), "
                   "concat('r', toString(modulo(number, 2))), concat('e', toString(number)), "
                   "toDateTime(%(base)s + modulo(number * %(step)s, %(spread)s)), "
                   "(%(base)s + modulo(number * %(step)s, %(spread)s)) * 1000, modulo(number, 3) = 0, 1 "
                   "FROM numbers(%(first)s, %(count)s)",
                   {"base": BASE_S, "step": STEP_S, "spread": SPREAD_S, "first": first,
                    "count": min(1_000_000, stop - first)})
    db.execute("OPTIMIZE TABLE fcr_contacts FINAL")


def recent_keys(db: ServerDatabase, count: int, since_s: int) -> list[str]:
    """``count`` distinct keys with a contact since ``since_s``, at random."""
    return [state_key(c, r) for c, r in db.execute(
        "SELECT DISTINCT customer_id, contact_reason FROM fcr_contacts "
        "WHERE occurred_at >= toDateTime(%(since)s) ORDER BY rand() LIMIT %(n)s",
        {"since": since_s, "n": count})]


def final_count(db: ServerDatabase, keys: list[str], since_s: int) -> int:
    """Contacts of ``keys`` since ``since_s`` as ``FINAL`` sees them (the reference)."""
    pairs = tuple(tuple(k.split(KEY_SEPARATOR, 1)) for k in keys)
    [(n,)] = db.execute("SELECT count() FROM fcr_contacts FINAL WHERE (customer_id, contact_reason) "
                        "IN %(keys)s AND occurred_at >= toDateTime(%(since)s)",
                        {"keys": pairs, "since": since_s})
    return int(n)


def timed(db: ServerDatabase, read: Callable[[], int], expected: int) -> tuple[float, int]:
    """(median ms, rows ClickHouse read) of ``read``, checking how many contacts it found."""
    return median_ms(read, expected, REPEATS, "an FCR read"), int(db.client.last_query.progress.rows)


def main(argv: list[str] | None = None) -> int:
    """Fill, time, print one line per size and batch."""
    parser = argparse.ArgumentParser(prog="python -m bench.fcr_read", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="1000000,3000000,6000000",
                        help="stored contact rows, comma-separated sizes (default 1M, 3M, 6M)")
    parser.add_argument("--keys", default="200,2000", help="keys a read asks for (default 200, 2000)")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.rows.split(","))
    batches = sorted(int(k) for k in args.keys.split(","))
    print(f"FCR history read of a batch's keys (streams.fcr.store.stored_contacts), median of {REPEATS}, "
          "ms and rows read")
    print(f"{'stored rows':>12} | {'keys':>5} | {'all history':>20} | {'last 15 days':>20} | "
          f"{'GLOBAL IN, 15 days':>20}")
    with clickhouse_alone("fcr_read") as db:
        stored = 0
        end_s = BASE_S + SPREAD_S
        for size in sizes:
            started = time.perf_counter()
            fill(db, stored, size)
            stored = size
            print(f"  (filled to {size:,} rows in {time.perf_counter() - started:.0f} s)", flush=True)
            for count in batches:
                keys = recent_keys(db, count, end_s - RECENT_S)

                def read(since_s: int, cluster: bool, keys: list[str] = keys) -> int:
                    return sum(map(len, stored_contacts(db, keys, since_s * 1000, cluster).values()))

                cells = []
                for since_s, cluster in ((0, False), (end_s - RECENT_S, False), (end_s - RECENT_S, True)):
                    ms, rows = timed(db, partial(read, since_s, cluster), final_count(db, keys, since_s))
                    cells.append(f"{ms:>7.1f} {rows:>12,}")
                print(f"{size:>12,} | {len(keys):>5,} | " + " | ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
