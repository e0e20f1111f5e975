"""``make chaos``: the fault matrix on the real local stack, printed as a table.

Every row publishes the same seeded month of history (about 78k events with contact chains, a share
re-sent) into fresh topics and a fresh database, injects its fault, waits until the pipeline drained,
and compares every count by channel, touchpoint and agent (FCR included), every contact's FCR role,
the open follow-ups and the pain points by touchpoint with an independent recomputation. A row
passes when every count is exact, every event is stored once, and every bad record is on the
dead-letter topic with its reason.

    python -m tests.chaos [--customers 6000] [--rows name,name] [--seed 1] [--run-dir D]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.failpoints import POINTS
from tests.chaos.harness import DAY_MS, ChaosStack
from tests.chaos.poison import dead_letter_reasons, poison_lines, produce_poison
from tests.chaos.workload import History, received_order, shuffled


@dataclass
class RowResult:
    """One line of the table."""

    fault: str
    acknowledged: int = 0
    stored: str = ""
    duplicates: str = ""
    counts: str = ""
    recover_s: float = 0.0
    ok: bool = False
    note: str = ""


Row = Callable[[ChaosStack, History, RowResult], None]


def _finish(h: ChaosStack, history: History, result: RowResult, fault_at: float,
            extra: list[dict[str, Any]] = (), end_ms: int | None = None) -> None:  # type: ignore[assignment]
    """Drain, then fill the result from the stored events and the figures."""
    h.drain()
    result.recover_s = round(time.monotonic() - fault_at, 1)
    events = [*history.events, *extra]
    expected = len({e["event_id"] for e in events})
    twice, distinct = h.stored_events()
    result.stored = f"{distinct}/{expected}"
    result.duplicates = "none" if not twice else f"{twice} rows stored twice"
    check = h.check(events, history.start_ms - 8 * DAY_MS, end_ms or history.now_ms + 60_000)
    bad = len(check.mismatches)
    result.counts = f"{check.compared - bad}/{check.compared} exact"
    result.ok = bad == 0 and not twice and distinct == expected
    if check.mismatches:
        path = h.run_dir / f"mismatches-{h.settings.topic_prefix.rstrip('.')}.txt"
        path.write_text("\n".join(check.mismatches) + "\n")
        result.note = "; ".join(check.mismatches[:3]) + f" (all {bad} in {path}, kept with --run-dir)"


def once(h: ChaosStack, history: History, result: RowResult) -> None:
    result.acknowledged = h.publish(received_order(history.events))
    _finish(h, history, result, time.monotonic())


def twice(h: ChaosStack, history: History, result: RowResult) -> None:
    ordered = received_order(history.events)
    result.acknowledged = h.publish(ordered) + h.publish(ordered, "again")
    _finish(h, history, result, time.monotonic())


def backfill(h: ChaosStack, history: History, result: RowResult) -> None:
    result.acknowledged = h.publish(shuffled(history.events, 11))
    _finish(h, history, result, time.monotonic())


def _killed_at(h: ChaosStack, point: str, events: list[dict[str, Any]]) -> tuple[int, float]:
    """Publish ``events`` with the worker set to die at its 3rd batch's ``point``; wait until it did
    and is back. Returns (acknowledged, when it died)."""
    h.arm_failpoint(point, 3)
    acknowledged = h.publish(events)
    deadline = time.monotonic() + 120
    while not h.failpoint_fired() and time.monotonic() < deadline:
        time.sleep(0.1)
    fired = time.monotonic()
    if not h.failpoint_fired():
        raise RuntimeError(f"failpoint {point} never reached")
    h.wait_running("worker")
    return acknowledged, fired


def failpoint(point: str) -> Row:
    def row(h: ChaosStack, history: History, result: RowResult) -> None:
        result.acknowledged, fired = _killed_at(h, point, shuffled(history.events, 12))
        _finish(h, history, result, fired)
    return row


def kill_worker_repeatedly(h: ChaosStack, history: History, result: RowResult) -> None:
    result.acknowledged = h.publish(shuffled(history.events, 13))
    first = time.monotonic()
    rng = random.Random(3)
    for _ in range(3):
        time.sleep(rng.uniform(2.0, 6.0))
        h.kill("worker")
        h.wait_running("worker")
    _finish(h, history, result, first)


def kill_clickhouse(h: ChaosStack, history: History, result: RowResult) -> None:
    result.acknowledged = h.publish(shuffled(history.events, 14))
    time.sleep(3.0)
    fault = time.monotonic()
    h.kill("clickhouse")  # mid-insert: the worker writes continuously while it catches up
    h.wait_running("clickhouse")
    time.sleep(2.0)
    h.kill("clickhouse")
    h.wait_running("clickhouse")
    _finish(h, history, result, fault)


def clickhouse_outage_two_workers(h: ChaosStack, history: History, result: RowResult) -> None:
    h.add_worker()
    time.sleep(15)  # both workers in the group
    result.acknowledged = h.publish(shuffled(history.events, 15))
    time.sleep(2.0)
    fault = time.monotonic()
    h.stop("clickhouse")
    time.sleep(40)  # twice the poll interval this row runs with
    h.start("clickhouse")
    _finish(h, history, result, fault)
    result.note = (result.note + f" extra worker restarted {h.extra_worker_exits()}x").strip()


def poison(h: ChaosStack, history: History, result: RowResult) -> None:
    lines, valid, expected_reasons = poison_lines(history)
    ordered = received_order(history.events)
    result.acknowledged = h.publish(ordered[: len(ordered) // 2])
    fault = time.monotonic()
    produced = produce_poison(h.settings.bootstrap, h.settings.topic_prefix, history)
    path = h.run_dir / "poison.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = h.cxpulse("publish", str(path))
    result.acknowledged += int(out.split("accepted ", 1)[1].split(",", 1)[0])
    result.acknowledged += h.publish(ordered[len(ordered) // 2:], "rest")
    _finish(h, history, result, fault, valid)
    reasons = dead_letter_reasons(h.settings.bootstrap, h.settings.topic_prefix)
    want = {**expected_reasons}
    for reason, n in produced.items():
        want[reason] = want.get(reason, 0) + n
    if reasons != want:
        result.ok = False
        result.note = f"dead letters {reasons} != {want}"
    else:
        result.note = f"dead-lettered {sum(want.values())}: " + ", ".join(
            f"{k} {v}" for k, v in sorted(want.items()))


def _versioned(history: History) -> History:
    return History(history.seed + 100, history.now_ms, customers=history.customers, versions=True)


def versioned_contacts(h: ChaosStack, history: History, result: RowResult) -> None:
    """Contact records updated later and transferred, shuffled, delivered twice, a kill between."""
    versioned = _versioned(history)
    events = shuffled(versioned.events, 16)
    half = len(events) // 2
    result.acknowledged = h.publish(events[:half])
    fault = time.monotonic()
    h.kill("worker")
    h.wait_running("worker")
    result.acknowledged += h.publish(events[half:], "rest") + h.publish(events, "again")
    _finish(h, versioned, result, fault)


def versioned_kill_after_fcr(h: ChaosStack, history: History, result: RowResult) -> None:
    """Versioned contacts, the worker killed once a batch's FCR rows are written but not committed.

    The restarted worker reads that batch again in a take of its own, beside versions of its events
    the dead one never saw: whatever the dead one wrote for a version that then loses must go.
    """
    versioned = _versioned(history)
    events = shuffled(versioned.events, 17)
    result.acknowledged, fired = _killed_at(h, "after_fcr", events)
    result.acknowledged += h.publish(events, "again")
    _finish(h, versioned, result, fired)


def future_received_at(h: ChaosStack, history: History, result: RowResult) -> None:
    ahead = [{**e, "event_id": f"{e['event_id']}-future", "received_at": history.now_ms + 2 * DAY_MS,
              "occurred_at": history.now_ms + 2 * DAY_MS - 30 * 60_000}
             for e in history.events[:300]]
    ordered = received_order(history.events)
    half = len(ordered) // 2
    result.acknowledged = h.publish([*ordered[:half], *ahead, *ordered[half:]])
    _finish(h, history, result, time.monotonic(), ahead, history.now_ms + 3 * DAY_MS)


def _six_batches(events: int) -> dict[str, Any]:
    """For the rows that kill the worker at its 3rd batch: batches small enough that an input of
    3,000 events or more makes at least six, so a small ``--customers`` still reaches the failpoint
    (the full size keeps 10,000)."""
    return {"sink_batch_size": max(500, min(10_000, events // 6))}


ROWS: dict[str, tuple[str, Row, dict[str, Any] | Callable[[int], dict[str, Any]]]] = {
    "once": ("delivered once, in received_at order", once, {}),
    "twice": ("the whole input delivered twice", twice, {}),
    "backfill": ("30-day backfill, shuffled", backfill, {}),
    **{f"kill-{p}": (f"kill -9 worker {p.replace('_', ' ')} (3rd batch)", failpoint(p), _six_batches)
       for p in POINTS},
    "kill-random": ("kill -9 worker 3x at random moments", kill_worker_repeatedly, {}),
    "kill-clickhouse": ("kill -9 ClickHouse mid-insert, twice", kill_clickhouse, {}),
    "outage-2-workers": ("ClickHouse down 40 s > poll interval 20 s, 2 workers",
                         clickhouse_outage_two_workers, {"worker_max_poll_interval_s": 20.0}),
    "poison": ("poison records on the topic and in the input", poison, {}),
    "future": ("future received_at (+2 days) in the stream", future_received_at, {}),
    "versions": ("versioned and transferred contacts, shuffled, twice, kill -9",
                 versioned_contacts, {}),
    "versions-kill-after-fcr": ("versioned contacts, kill -9 worker after fcr (3rd batch), twice",
                                versioned_kill_after_fcr, _six_batches),
}


def print_table(results: list[RowResult]) -> None:
    header = ("fault", "acked", "stored", "duplicate effect", "counts vs recomputation", "recover s",
              "result")
    lines = [(r.fault, str(r.acknowledged), r.stored, r.duplicates, r.counts, f"{r.recover_s:.1f}",
              "PASS" if r.ok else "FAIL") for r in results]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in lines:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |")
    for r in results:
        if r.note:
            print(f"  {r.fault}: {r.note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=6000, help="~13 events each (default 6000)")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated: {', '.join(ROWS)}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--run-dir", type=Path, help="keep the stack's logs and data here "
                        "(default: a temporary folder, removed at the end)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.rows.split(",") if n.strip()]
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        parser.error(f"unknown row(s) {unknown}; choose from {', '.join(ROWS)}")
    history = History(args.seed, int(time.time() * 1000), customers=args.customers)
    print(f"workload: {len(history.events)} events ({len({e['event_id'] for e in history.events})} "
          f"distinct) over 30 days, seed {args.seed}", flush=True)
    results: list[RowResult] = []
    with tempfile.TemporaryDirectory(prefix="cxpulse-chaos-") as tmp:
        run_dir = args.run_dir.resolve() if args.run_dir else Path(tmp)
        run_dir.mkdir(parents=True, exist_ok=True)
        h = ChaosStack(run_dir)
        try:
            for name in names:
                fault, row, spec = ROWS[name]
                overrides = spec(len(history.events)) if callable(spec) else spec
                result = RowResult(fault)
                print(f"- {fault} ...", flush=True)
                try:
                    h.row(name.replace("-", ""), **overrides)
                    row(h, history, result)
                except Exception as exc:
                    result.ok = False
                    result.note = f"{type(exc).__name__}: {str(exc)[:300]}"
                    traceback.print_exc()
                results.append(result)
                print(f"  {'PASS' if result.ok else 'FAIL'} in {result.recover_s:.1f} s "
                      f"{result.counts} {result.note}", flush=True)
        finally:
            h.down()
    print()
    print_table(results)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    threading.excepthook = lambda args: None  # respawn threads end with the harness
    sys.exit(main())
