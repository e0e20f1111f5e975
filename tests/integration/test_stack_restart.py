"""`make down` then `make demo` again: the in-memory broker starts empty and the worker still works.

The new broker's topics start at offset 0 again; the worker's checkpoints in ClickHouse are keyed
by topic id, so the old topic's checkpoints must not make it skip the new topic's records.

Its own small stack (broker, ClickHouse, worker) on free ports, so restarting it disturbs no other test.
"""

from __future__ import annotations

import os
import time
from contextlib import closing
from pathlib import Path

import orjson

from cxpulse import stack
from cxpulse.access import WORKER_USER, kept_credentials
from cxpulse.settings import Settings
from sql.client import ServerDatabase
from tests.conftest import stack_ports, unique_name
from tests.integration.test_end_to_end import cxpulse

COMPONENTS = ("broker", "clickhouse", "worker")


def contacts(first: int, count: int, at_ms: int) -> bytes:
    """Contacts of as many customers: checkpoints in every partition."""
    return b"".join(orjson.dumps({
        "event_id": f"restart-{n}", "occurred_at": at_ms, "channel": "chat", "kind": "contact",
        "touchpoint": "live_chat", "customer_id": f"c-restart-{n}", "contact_reason": "billing",
        "resolved": True}) + b"\n" for n in range(first, first + count))


def test_worker_recovers_after_the_stack_restarts_with_an_empty_broker(tmp_path: Path) -> None:
    settings = Settings(run_dir=tmp_path / "run", **stack_ports(),
                        clickhouse_database=unique_name("cxrestart"), sink_batch_seconds=0.3)
    env = {**os.environ, **stack.worker_environment(settings)}
    now = int(time.time() * 1000)
    try:
        stack.up(settings, progress=lambda line: None, components=COMPONENTS)
        cxpulse(env, "publish", "-", stdin=contacts(0, 200, now - 3_600_000))
        cxpulse(env, "drain", "--timeout", "60")

        stack.down(settings, progress=lambda line: None)
        stack.up(settings, progress=lambda line: None, components=COMPONENTS)
        cxpulse(env, "publish", "-", stdin=contacts(200, 200, now - 1_800_000))
        cxpulse(env, "drain", "--timeout", "60")  # a crash-looping worker would time out here
        # ClickHouse kept the first events across the restart; the second ones joined them
        with closing(ServerDatabase(settings.clickhouse_host, settings.clickhouse_port,
                                    settings.clickhouse_database)) as db:
            assert db.execute("SELECT count() FROM touchpoint_events") == [(400,)]
            assert db.execute("SELECT sum(events) FROM minute_counts WHERE checkpoint = ''") == [(400,)]
            assert db.execute("SELECT sum(fcr_eligible) FROM minute_counts") == [(400,)]
            assert db.execute("SELECT uniqExact(substring(checkpoint, 1, 22)) FROM minute_counts "
                              "WHERE checkpoint != ''") == [(2,)]  # one topic id per broker
    except Exception:
        log = settings.run_path / "logs" / "worker.log"
        if log.exists():
            print("\n".join(log.read_text().splitlines()[-40:]))
        raise
    finally:
        stack.down(settings, progress=lambda line: None)


def test_up_with_new_settings_restarts_the_worker_on_them(tmp_path: Path) -> None:
    """A running stack brought up again with another topic prefix and database: the worker follows.

    Its supervisord entry only names its settings file, so nothing but ``up`` can tell it changed.
    """
    first = Settings(run_dir=tmp_path / "run", **stack_ports(), sink_batch_seconds=0.3,
                     topic_prefix="first.", clickhouse_database=unique_name("cxfirst"))
    second = first.model_copy(update={"topic_prefix": "second.",
                                      "clickhouse_database": unique_name("cxsecond")})
    now = int(time.time() * 1000)
    try:
        stack.up(first, progress=lambda line: None, components=COMPONENTS)
        before = stack.supervisor(first).getProcessInfo("worker")["pid"]
        stack.up(second, progress=lambda line: None, components=COMPONENTS)
        assert stack.supervisor(second).getProcessInfo("worker")["pid"] != before
        env = {**os.environ, **stack.worker_environment(second)}
        cxpulse(env, "publish", "-", stdin=contacts(0, 50, now - 600_000))
        cxpulse(env, "drain", "--timeout", "60")  # a worker left on the first topics never drains
        with closing(ServerDatabase(second.clickhouse_host, second.clickhouse_port,
                                    second.clickhouse_database)) as db:
            assert db.execute("SELECT count() FROM touchpoint_events") == [(50,)]
    finally:
        stack.down(second, progress=lambda line: None)


def test_up_with_another_database_at_once_lets_the_worker_user_in(tmp_path: Path) -> None:
    """Two ``up``s within a second, the second with a new database: the worker's user may use it.

    ClickHouse re-reads its users file only when the file's mtime changes in whole seconds.
    """
    first = Settings(run_dir=tmp_path / "run", **stack_ports(),
                     clickhouse_database=unique_name("cxfirst"))
    second = first.model_copy(update={"clickhouse_database": unique_name("cxsecond")})
    try:
        stack.up(first, progress=lambda line: None, components=("broker", "clickhouse"))
        stack.up(second, progress=lambda line: None, components=("broker", "clickhouse"))
        credentials = kept_credentials(second.run_path, second.clickhouse_database)
        with closing(ServerDatabase(second.clickhouse_host, second.clickhouse_port,
                                    second.clickhouse_database, WORKER_USER,
                                    credentials.password_of(WORKER_USER))) as db:
            assert db.execute("SELECT count() FROM minute_counts") == [(0,)]
    finally:
        stack.down(second, progress=lambda line: None)
