"""When the worker calls itself stuck (and exits to be restarted): idle while its partitions wait."""

from __future__ import annotations

from typing import Any

from streams.app import STALLED_AFTER_S, WorkerHealth


class _Sink:
    failing = False


def health(**state: Any) -> WorkerHealth:
    h = WorkerHealth(_Sink(), lambda: True, started=1000.0)  # type: ignore[arg-type]
    for name, value in state.items():
        setattr(h, name, value)
    return h


def test_records_waiting_while_idle_past_the_limit_is_a_stall() -> None:
    h = health(last_batch_at=1000.0, lag=5, lag_at=1000.0 + STALLED_AFTER_S + 1)
    assert h.stalled() and not h.snapshot()["ok"]


def test_a_busy_worker_a_caught_up_worker_and_a_short_pause_are_not() -> None:
    late = 1000.0 + STALLED_AFTER_S + 1
    assert not health(busy=True, last_batch_at=1000.0, lag=5, lag_at=late).stalled()
    assert not health(last_batch_at=1000.0, lag=0, lag_at=late).stalled()
    assert not health(last_batch_at=1000.0, lag=5, lag_at=1000.0 + STALLED_AFTER_S - 1).stalled()
    assert health(lag=5, lag_at=late).stalled()  # never a batch since start: idle since start
