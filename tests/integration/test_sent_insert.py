"""Inserts sent now and answered later (``ServerDatabase.send_insert``, ``ClickHouseSink.send``).

The worker sends a table's rows, makes the next table's rows while ClickHouse writes the part, then
waits for the answer; a wait must never report rows as stored that were not, and a table's
connection must be usable again whatever happened to the insert before.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clickhouse_driver import errors

from cxpulse.settings import Settings
from sql.client import ServerDatabase
from streams.sinks.clickhouse import ClickHouseSink, Retriable, TableRows, Unstorable
from tests.conftest import unique_name
from tests.integration.conftest import fresh_database

ROWS = [(f"k{i}", i) for i in range(20_000)]


@pytest.fixture()
def db(running_stack: Settings) -> Iterator[ServerDatabase]:
    with fresh_database(running_stack, "sent") as database:
        for table in ("a", "b"):
            database.execute(f"CREATE TABLE {table} (k String, v UInt32) ENGINE = MergeTree ORDER BY k")
        yield database


def count(db: ServerDatabase, table: str) -> int:
    return int(db.execute(f"SELECT count() FROM {table}")[0][0])


def test_rows_are_stored_once_waited_and_other_work_goes_on_meanwhile(db: ServerDatabase) -> None:
    first = db.send_insert("a", ("k", "v"), ROWS)
    second = db.send_insert("b", ("k", "v"), ROWS[:5])  # another table: another connection
    assert db.execute("SELECT 1") == [(1,)]  # the client's own connection is free
    first.wait()
    second.wait()
    assert (count(db, "a"), count(db, "b")) == (len(ROWS), 5)


def test_a_table_takes_one_insert_at_a_time(db: ServerDatabase) -> None:
    sent = db.send_insert("a", ("k", "v"), ROWS[:10])
    with pytest.raises(RuntimeError, match="still unanswered"):
        db.send_insert("a", ("k", "v"), ROWS[10:20])
    sent.wait()
    db.send_insert("a", ("k", "v"), ROWS[10:20]).wait()
    assert count(db, "a") == 20


def test_a_wait_after_the_connection_closed_is_an_error_and_the_table_works_again(
        db: ServerDatabase) -> None:
    sent = db.send_insert("a", ("k", "v"), ROWS[:10])
    db.close()  # what the sink does when another call of the batch failed
    with pytest.raises(errors.NetworkError):
        sent.wait()
    db.send_insert("a", ("k", "v"), ROWS[10:20]).wait()
    assert count(db, "a") in (10, 20)  # the closed insert may have landed; the next one did


def test_an_abandoned_insert_frees_its_table(db: ServerDatabase) -> None:
    db.send_insert("a", ("k", "v"), ROWS[:10]).abandon()
    db.send_insert("a", ("k", "v"), ROWS[10:20]).wait()
    assert count(db, "a") in (10, 20)


def test_the_sink_classifies_errors_of_sent_inserts(running_stack: Settings, db: ServerDatabase) -> None:
    sink = ClickHouseSink(lambda: ServerDatabase(running_stack.clickhouse_host,
                                                 running_stack.clickhouse_port, db.database))
    bad = [("ok", 1), ("refused", "not a number"), ("ok too", 2)]
    with pytest.raises(Unstorable) as refused:
        sink.send(TableRows("a", ("k", "v"), bad, [frozenset({i}) for i in range(3)])).wait()
    assert refused.value.sources == frozenset({1})
    assert count(db, "a") == 2  # the rest is stored
    with pytest.raises(Retriable):
        sink.send(TableRows(unique_name("missing"), ("k", "v"), ROWS[:3])).wait()
    sink.send(TableRows("b", ("k", "v"), ROWS[:3])).wait()
    assert count(db, "b") == 3
    sink.close()
