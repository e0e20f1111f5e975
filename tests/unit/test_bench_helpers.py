"""The benchmarks' pure helpers: percentiles, tables, the consumers' shared work, latency bookkeeping."""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import pytest

from bench.latency import replayed, visible_at
from bench.peers.common import EndOffsets, Tally, cell_key, digest
from bench.report import Latency, markdown_table, number, percentile, ratio, text_table
from bench.soak import rss_verdict, warm_up
from bench.workers import ReadyWatch
from connectors.sdk.privacy import is_pseudonym
from connectors.simulator import generate_events
from cxpulse import wiring
from cxpulse.settings import Settings
from schemas.event import validate_event

# --- percentiles --------------------------------------------------------------------------------------


def test_percentile_is_nearest_rank() -> None:
    values = [15.0, 20.0, 35.0, 40.0, 50.0]  # the textbook nearest-rank example
    assert [percentile(values, q) for q in (5, 30, 40, 50, 100)] == [15.0, 20.0, 20.0, 35.0, 50.0]


def test_percentile_p99_of_100_values_is_the_99th() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # order does not matter
    assert percentile(values, 99) == 99.0
    assert percentile(values, 50) == 50.0
    assert percentile(values, 0) == 1.0


def test_percentile_of_nothing_is_nan_and_q_is_checked() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101)


def test_latency_figures() -> None:
    figures = Latency.of([float(v) for v in range(1, 201)])
    assert (figures.samples, figures.p50_ms, figures.p99_ms, figures.max_ms) == (200, 100.0, 198.0, 200.0)
    assert math.isnan(Latency.of([]).max_ms)


# --- formats and tables -------------------------------------------------------------------------------


def test_numbers_and_ratios() -> None:
    assert number(12345.6) == "12,346"
    assert number(0.123, 1) == "0.1"
    assert number(None) == number(math.nan) == "-"
    assert ratio(30.0, 100.0) == "0.30"
    assert ratio(1.0, 0.0) == ratio(None, 1.0) == "-"


def test_text_table_aligns_numbers_right() -> None:
    table = text_table(("name", "n"), [["R", "1,000"], ["Bytewax", "12"]], (False, True))
    assert table.splitlines() == [
        "name         n",
        "-------  -----",
        "R        1,000",
        "Bytewax     12",
    ]


def test_markdown_table() -> None:
    table = markdown_table(("name", "n"), [["a|b", "1"]], (False, True))
    assert table.splitlines() == ["| name | n |", "| --- | ---: |", "| a\\|b | 1 |"]


# --- what every consumer does --------------------------------------------------------------------------


def _event(event_id: str, occurred_at: int, channel: str = "web") -> dict[str, object]:
    return {"event_id": event_id, "occurred_at": occurred_at, "channel": channel, "touchpoint": "checkout"}


def test_cell_key_is_the_minute_of_event_time() -> None:
    assert cell_key(_event("a", 1_700_000_040_000)) == "web|checkout|1700000040"
    assert cell_key(_event("a", 1_700_000_099_999)) == "web|checkout|1700000040"
    assert cell_key(_event("a", 1_700_000_039_999)) == "web|checkout|1699999980"


def test_tally_counts_each_event_id_once() -> None:
    tally = Tally()
    added = [tally.add(e) for e in (_event("a", 0), _event("b", 1000), _event("a", 0), _event("c", 61_000))]
    assert added == [True, True, False, True]
    assert tally.counts == {"web|checkout|0": 2, "web|checkout|60": 1}
    assert tally.duplicates == 1


def test_digest_depends_on_counts_only() -> None:
    assert digest({"a": 1, "b": 2}) == digest({"b": 2, "a": 1}) == digest({"b": 2, "a": 1, "c": 0})
    assert digest({"a": 1, "b": 2}) != digest({"a": 2, "b": 1})


def test_end_offsets_wait_for_the_file_then_for_every_partition(tmp_path: Path) -> None:
    end = EndOffsets(tmp_path / "end.json")
    assert not end.done({0: 10})
    (tmp_path / "end.json").write_text(json.dumps({"0": 10, "1": 0, "2": 5}))
    time.sleep(0.25)  # the file is looked for at most every 0.2 s
    assert not end.done({0: 10, 2: 4})
    assert end.done({0: 10, 2: 5})  # partition 1 is empty: nothing to wait for
    assert end.partition_done(2, 5) and not end.partition_done(0, 9)


# --- latency and soak bookkeeping ----------------------------------------------------------------------


def test_visible_at_is_the_first_poll_past_the_offset() -> None:
    timeline = [(3, 1000.0), (7, 1050.0), (12, 1100.0)]  # checkpoint = next offset not yet applied
    assert [visible_at(timeline, offset) for offset in (0, 2, 3, 6, 7, 11)] == [
        1000.0, 1000.0, 1050.0, 1050.0, 1100.0, 1100.0]
    assert visible_at(timeline, 12) is None
    assert visible_at([], 0) is None


def test_rss_verdict_leaves_the_warm_up_out() -> None:
    warm_then_flat = [(float(i), 100.0 + 10 * i if i < 4 else 150.0) for i in range(20)]
    assert rss_verdict(warm_then_flat) == (True, 150.0, 150.0)
    growing = [(float(i), 100.0 + 5 * i) for i in range(20)]
    flat, early, late = rss_verdict(growing)
    assert not flat and late > early
    with pytest.raises(ValueError, match="5 samples"):
        rss_verdict(growing[:4])


def test_the_warm_up_lasts_until_the_fcr_cache_turned_over_once() -> None:
    evicting = [max(0, 200 * (i - 4)) for i in range(20)]  # full at the 5th sample, 800 gone at the 9th
    assert warm_up(evicting, 800) == 8
    assert warm_up([800] * 20, 800) == 4  # turned over at once: the first fifth
    with pytest.raises(ValueError, match="run longer"):
        warm_up([10 * i for i in range(20)], 800)  # never turned over
    cache_then_flat = [(float(i), 100.0 + 50 * min(i, 7)) for i in range(20)]
    assert rss_verdict(cache_then_flat) == (False, 375.0, 450.0)  # a fixed fifth reads the fill
    assert rss_verdict(cache_then_flat, warm_up(evicting, 800)) == (True, 450.0, 450.0)


def test_ready_watch_reads_fausts_ready_line_written_after_it_started(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text("[2026-12-01 12:00:00,100] [1] [INFO] [^Worker]: Ready \n")  # an earlier run's
    watch = ReadyWatch([log, tmp_path / "not-yet.log"])
    assert watch.ready_at() is None
    with log.open("a") as out:
        out.write("[2026-12-01 12:01:23,411] [2] [INFO] [^---Recovery]: Worker ready \n"
                  "[2026-12-01 12:01:23,411] [2] [INFO] [^Worker]: Ready \n")
    expected = time.mktime(time.strptime("2026-12-01 12:01:23", "%Y-%m-%d %H:%M:%S")) + 0.411
    assert watch.ready_at() == pytest.approx(expected)


def test_ready_watch_gives_each_logs_first_ready(tmp_path: Path) -> None:
    first, second = tmp_path / "worker.log", tmp_path / "worker-extra-0.log"
    watch = ReadyWatch([first, second])
    first.write_text("[2026-12-01 12:00:01,000] [1] [INFO] [^Worker]: Ready \n"
                     "[2026-12-01 12:00:09,000] [1] [INFO] [^Worker]: Ready \n")  # a restart's
    assert list(watch.ready_times()) == [first]
    second.write_text("[2026-12-01 12:00:02,250] [2] [INFO] [^Worker]: Ready \n")
    times = watch.ready_times()
    assert times[second] - times[first] == pytest.approx(1.25)
    assert watch.ready_at() == pytest.approx(times[first])


def test_replayed_pool_events_are_new_valid_events_with_their_chains_kept(tmp_path: Path) -> None:
    publisher = wiring.publisher(Settings(run_dir=tmp_path), "bench-latency")
    pool = [publisher.prepare(e) for e in generate_events("steady", 3, 1_700_000_000_000, 3600, 5.0)]
    assert any(e.get("interaction_id") for e in pool) and any(e.get("customer_id") for e in pool)
    stamp = 1_800_000_000_000
    passes = [[replayed(e, cycle, stamp) for e in pool] for cycle in (0, 1)]
    for field in ("event_id", "interaction_id", "customer_id"):
        first = {e[field] for e in passes[0] if e.get(field)}
        assert first and not first & {e[field] for e in passes[1] if e.get(field)}
        # a pass keeps the pool's links: one value in the pool is one value in the pass
        assert len(first) == len({e[field] for e in pool if e.get(field)})
    for original, copy in zip(pool, passes[1], strict=True):
        assert validate_event(copy) == copy
        assert not copy.get("customer_id") or is_pseudonym(copy["customer_id"])
        assert copy["received_at"] == stamp
        assert copy["received_at"] - copy["occurred_at"] == original["received_at"] - original["occurred_at"]
    assert pool[0]["received_at"] != stamp  # the pool itself is left as it was


def test_bench_stacks_keep_clickhouse_data_in_memory_unless_told(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    from bench import harness

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the run folders
    monkeypatch.setattr(harness, "MEMORY_DIR", tmp_path / "shm")
    (tmp_path / "shm").mkdir()
    settings = harness.bench_settings("unit", "unit.")
    assert settings.clickhouse_data_path.parent == tmp_path / "shm"
    assert harness.storage_note(settings).startswith("ClickHouse data in memory")
    on_disk = harness.bench_settings("unit", "unit.", on_disk=True)
    assert on_disk.clickhouse_data_path == on_disk.run_path / "clickhouse/data"
    assert harness.storage_note(on_disk).startswith("ClickHouse data on disk")
    parser = argparse.ArgumentParser()
    harness.add_disk_flag(parser)
    assert parser.parse_args(["--clickhouse-on-disk"]).clickhouse_on_disk
    assert not parser.parse_args([]).clickhouse_on_disk
    monkeypatch.setattr(harness, "MEMORY_DIR", tmp_path / "none")
    assert harness.memory_data_dir("unit") is None
