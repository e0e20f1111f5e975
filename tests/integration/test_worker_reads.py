"""The worker's reads: the FCR history read uses the primary key (a few granules); the index words."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cxpulse.settings import Settings
from sql.client import ServerDatabase
from streams.fcr.processor import state_key
from streams.fcr.store import stored_contacts
from streams.stored_index import DAY_S, StoredIndex, index_word_sql
from tests.integration.conftest import fresh_database

ROWS = 1_000_000
BASE_S = 1_790_000_000  # all rows in one month partition
GRANULE = 8192


@pytest.fixture()
def fcr_db(running_stack: Settings) -> Iterator[ServerDatabase]:
    with fresh_database(running_stack, "reads") as db:
        db.execute("INSERT INTO fcr_contacts (customer_id, contact_reason, event_id, occurred_at, "
                   "occurred_at_ms, resolved, version) "
                   "SELECT concat('c_', hex(halfMD5(intDiv(number, 4)))), "
                   "concat('r', toString(modulo(number, 2))), concat('e', toString(number)), "
                   "toDateTime(%(base)s + modulo(number, 86400)), (%(base)s + modulo(number, 86400)) * 1000, "
                   "modulo(number, 3) = 0, 1 FROM system.numbers LIMIT %(rows)s",
                   {"base": BASE_S, "rows": ROWS})
        db.execute("OPTIMIZE TABLE fcr_contacts FINAL")
        yield db


def test_history_of_a_few_keys_reads_their_granules_not_the_table(fcr_db: ServerDatabase) -> None:
    customers = [r[0] for r in fcr_db.execute(
        "SELECT DISTINCT customer_id FROM fcr_contacts ORDER BY cityHash64(customer_id) LIMIT 5")]
    keys = [state_key(c, "r1") for c in customers]

    found = stored_contacts(fcr_db, keys, 0)

    assert fcr_db.client.last_query.progress.rows <= 2 * len(keys) * GRANULE < ROWS / 10
    expected = fcr_db.execute(
        "SELECT customer_id, event_id, resolved FROM fcr_contacts FINAL WHERE contact_reason = 'r1' "
        "AND customer_id IN %(customers)s ORDER BY event_id", {"customers": tuple(customers)})
    got = sorted(((r["customer_id"], r["event_id"], r["resolved"]) for rows in found.values()
                  for r in rows), key=lambda r: r[1])
    assert got == expected and len(got) == 2 * len(keys)


def test_the_fcr_history_read_skips_months_before_its_start(fcr_db: ServerDatabase) -> None:
    [(customer,)] = fcr_db.execute("SELECT any(customer_id) FROM fcr_contacts")
    keys = [state_key(customer, "r0"), state_key(customer, "r1")]
    assert len(stored_contacts(fcr_db, keys, 0)) == 2
    later_ms = (BASE_S + 40 * 86_400) * 1000  # the next month: nothing of it is stored
    assert stored_contacts(fcr_db, keys, later_ms) == {}
    assert fcr_db.client.last_query.progress.rows == 0, "the month before was read"


def test_a_contact_whose_newest_version_moved_before_the_start_is_not_read(
        fcr_db: ServerDatabase) -> None:
    """Within the month the read starts in, its condition on time must not pick an older version."""
    insert = ("INSERT INTO fcr_contacts (customer_id, contact_reason, event_id, occurred_at, "
              "occurred_at_ms, version) VALUES")
    start_s = BASE_S + 3_600
    fcr_db.client.execute(insert, [("moved", "r0", "m1", start_s + 60, (start_s + 60) * 1000, 1)])
    fcr_db.client.execute(insert, [("moved", "r0", "m1", start_s - 60, (start_s - 60) * 1000, 2)])
    assert stored_contacts(fcr_db, [state_key("moved", "r0")], start_s * 1000) == {}
    [row] = stored_contacts(fcr_db, [state_key("moved", "r0")], 0)[state_key("moved", "r0")]
    assert row["occurred_at_ms"] == (start_s - 60) * 1000


@pytest.mark.parametrize(("key", "second"), [("e-1", 0), ("sim-7-12", 1_795_514_400), ("é", 2**32 - 1)])
def test_the_servers_index_word_is_the_workers(server_db: ServerDatabase, key: str, second: int) -> None:
    """What the worker loads from ClickHouse (``index_word_sql``) is what it adds for its own rows."""
    [(word,)] = server_db.execute(
        f"SELECT {index_word_sql('halfMD5(k)', 't')} "
        "FROM (SELECT %(key)s AS k, toDateTime(%(second)s) AS t)", {"key": key, "second": second})
    loaded, added = StoredIndex(), StoredIndex()
    loaded.load([[(word,)]])
    added.add([key], [second])
    assert loaded._runs[0].tolist() == added._runs[0].tolist()
    day = second // DAY_S * DAY_S
    assert loaded.seconds_of([key]) == {key: (day, day + DAY_S - 1)}
