"""The cluster form of every migration: ReplicatedMergeTree ``<name>_local`` + a Distributed ``<name>``.

``python -m sql.clustering`` writes ``sql/cluster/NNNN_name.sql`` for every ``sql/migrations/NNNN_name.sql``;
``--check`` exits 1 when that would change a file (``make lint`` runs it, like the dashboards' drift
check), so a new migration gets its cluster form in the same commit. A statement the translator does
not know is an error naming the migration: write its cluster form by hand in
``sql/cluster/handwritten/NNNN_name.sql`` (copied into the generated file, with the reason it gives).

The generated files hold two placeholders the runner (``sql.migrate``) fills with checked identifiers:
``${cluster}`` (``cxpulse db migrate --cluster NAME``) and ``${database}``.

Translation, statement by statement (the only forms our migrations use):

- ``CREATE TABLE t (...) ENGINE = E ...`` -> ``t_local`` ``ON CLUSTER`` with engine ``ReplicatedE``
  (ZooKeeper path ``/clickhouse/tables/{shard}/<database>/t``, replica ``{replica}``; the version
  column of a ReplacingMergeTree kept), then ``t`` as ``Distributed(cluster, database, t_local[, key])``
  over it, so every reader keeps reading ``t`` unchanged;
- ``CREATE MATERIALIZED VIEW v TO t AS SELECT ... FROM s`` -> on every node, from ``s_local`` into
  ``t_local`` (an insert into a shard's ``s_local`` feeds the same shard's ``t_local``);
- ``ALTER TABLE t ...`` -> the change on ``t_local``, then ``t`` made again over it (18.16 cannot
  alter a Distributed table ON CLUSTER when its shards are replicated); the runner sends the change
  on ``t_local`` to one replica of each shard instead of ON CLUSTER (``sql.migrate.alter_shard_by_shard``);
- ``DROP TABLE t`` -> both tables (a view: the view).

Writing to a cluster (each rule shown on ClickHouse 18.16 by ``tests/integration/test_cluster.py``):

- ``touchpoint_events``, ``followups``, ``fcr_contacts``, ``alerts``: insert through the Distributed
  table with ``insert_distributed_sync = 1`` (the default, 0, queues rows on the receiving node and
  sends them later: the worker's next read would miss them, and a lost node loses them). A sync insert
  writes one live replica per shard and fails over when one is down.
- ``minute_counts``: one insert per batch straight into ONE shard's ``minute_counts_local`` (any
  shard; reads sum over all), with ``insert_deduplicate = 0``: a replicated table silently drops a
  block identical to a recent one, and two batches may well carry identical deltas and checkpoint
  steps. Its Distributed table refuses inserts (no sharding key), so it cannot split the batch.
- Reads that decide writes (checkpoints, the dedupe look-up, FCR history) must see every
  acknowledged write: a replica lags its peer by up to a replication fetch. Either write with
  ``insert_quorum`` = replicas per shard (a quorum insert fails while a replica is down: the worker
  retries, exact but paused) and read with ``select_sequential_consistency = 1``, or run
  ``SYSTEM SYNC REPLICA`` on the replicas read before trusting them after a failover.
- Every other insert with ``insert_deduplicate = 1`` and rows the same to the byte on a retry (no
  server ``now()`` default): a quorum insert that timed out stays on the replica that took it,
  invisible to sequentially consistent reads until the quorum is reached, so a retry's look-up
  misses it and sends its rows again; the block check drops them.
- Never ``skip_unavailable_shards``: a missing shard would read as fewer checkpoints and events.
- 18.16 has none of ``insert_deduplication_token``, ``async_insert``, ``optimize_skip_unused_shards``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sql.migrate import MIGRATIONS_DIR, Migration, discover

CLUSTER_DIR: Final = Path(__file__).parent / "cluster"
HANDWRITTEN_DIR: Final = CLUSTER_DIR / "handwritten"


@dataclass(frozen=True)
class Sharding:
    """How rows of a table are spread over shards, and why that keeps its readers exact."""

    key: str | None
    """The Distributed table's sharding key; None: the Distributed table is for reads only."""
    why: str


SHARDING: Final[dict[str, Sharding]] = {
    "schema_migrations": Sharding("version", "one row per migration; the runner inserts through the "
                                  "Distributed table (insert_distributed_sync = 1) and reads it back"),
    "touchpoint_events": Sharding("cityHash64(event_id)", "every copy and version of one event_id on "
                                  "one shard: the dedupe look-up and argMax by version stay exact"),
    "followups": Sharding("cityHash64(event_id)", "all versions of one follow-up (keyed by its "
                          "trigger's event_id) on one shard, so FINAL keeps only the newest"),
    "fcr_contacts": Sharding("cityHash64(customer_id)", "every row of one (customer_id, "
                             "contact_reason) on one shard: the worker's FCR reads of a key and "
                             "FINAL see all of its contacts together"),
    "alerts": Sharding("cityHash64(alert_id)", "both transitions of one alert and their rewrites on "
                       "one shard, so FINAL replaces rather than adds"),
    "minute_counts": Sharding(None, "READS ONLY. The worker writes each batch's count deltas and its "
                              "Kafka checkpoint advances in ONE insert straight into one shard's "
                              "minute_counts_local (one part on one shard: all or nothing); an insert "
                              "through Distributed would split it per shard. Counts and checkpoints "
                              "are sums, so any shard may take any batch, and sum() over the "
                              "Distributed table is exact"),
    "fixes": Sharding("cityHash64(fix_id)", "every version of one fix on one shard, so FINAL keeps "
                      "only the newest"),
    "fix_comparisons": Sharding("cityHash64(fix_id)", "every rewrite of a fix's comparison on one "
                                "shard, so FINAL keeps only the newest"),
    "comment_docs": Sharding("cityHash64(event_id)", "every version and re-index of one event's "
                             "comment on one shard (beside the event itself), so FINAL replaces "
                             "rather than adds"),
    "minute_satisfaction": Sharding(None, "READS ONLY: filled on each shard by its materialized view "
                                    "from that shard's touchpoint_events_local (sums, any shard)"),
}
"""Every table's sharding, explained in the generated file. A table missing here is an error."""


class TranslationError(ValueError):
    """A migration the translator cannot put in cluster form; the message says what to do."""


_CREATE_TABLE = re.compile(
    r"^CREATE TABLE IF NOT EXISTS (\w+)\s+(\(.*\))\s*ENGINE\s*=\s*(\w+)(?:\(([^)]*)\))?(.*)$", re.S)
_CREATE_MV = re.compile(
    r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+)\s+TO\s+(\w+)\s+AS\s+(.*)$", re.S)
_ALTER = re.compile(r"^ALTER TABLE (\w+)\s+(.*)$", re.S)
_DROP = re.compile(r"^DROP TABLE IF EXISTS (\w+)$")
_FROM = re.compile(r"\bFROM (\w+)\b")
ENGINES: Final = {"MergeTree", "SummingMergeTree", "ReplacingMergeTree"}
DB: Final = "${database}"
ON: Final = "ON CLUSTER ${cluster}"


class Translator:
    """Migrations in order -> cluster statements; remembers which names are tables and which views."""

    def __init__(self, sharding: dict[str, Sharding] = SHARDING) -> None:
        self._sharding = sharding
        self._tables: set[str] = set()
        self._views: set[str] = set()

    def statement(self, sql: str) -> list[str]:
        """The cluster statements of one migration statement; TranslationError if unknown."""
        for pattern, handler in ((_CREATE_TABLE, self._create_table), (_CREATE_MV, self._create_mv),
                                 (_ALTER, self._alter), (_DROP, self._drop)):
            match = pattern.match(sql.strip().rstrip(";").strip())
            if match:
                return handler(*match.groups())
        raise TranslationError(f"no cluster form known for: {sql.strip().splitlines()[0]}")

    def _create_table(self, name: str, columns: str, engine: str, args: str | None,
                      rest: str) -> list[str]:
        if engine not in ENGINES:
            raise TranslationError(f"{name}: engine {engine} has no replicated form here")
        if name not in self._sharding:
            raise TranslationError(f"{name}: add its sharding key (and why) to SHARDING in "
                                   "sql/clustering.py")
        replicated = [f"'/clickhouse/tables/{{shard}}/{DB}/{name}'", "'{replica}'"]
        replicated += [a.strip() for a in (args or "").split(",") if a.strip()]
        self._tables.add(name)
        local = (f"CREATE TABLE IF NOT EXISTS {DB}.{name}_local {ON} {columns}\n"
                 f"ENGINE = Replicated{engine}({', '.join(replicated)}){rest}")
        return [local, self._distributed(name)]

    def _distributed(self, name: str) -> str:
        key = self._sharding[name].key
        distributed_args = f"${{cluster}}, {DB}, {name}_local" + (f", {key}" if key else "")
        return (f"CREATE TABLE IF NOT EXISTS {DB}.{name} {ON} AS {DB}.{name}_local\n"
                f"ENGINE = Distributed({distributed_args})")

    def _create_mv(self, name: str, target: str, select: str) -> list[str]:
        for table in (target, *_FROM.findall(select)):
            if table not in self._tables:
                raise TranslationError(f"view {name}: {table} is not a table created before it")
        self._views.add(name)
        local_select = _FROM.sub(lambda m: f"FROM {DB}.{m.group(1)}_local", select)
        return [f"CREATE MATERIALIZED VIEW IF NOT EXISTS {DB}.{name} {ON} TO {DB}.{target}_local "
                f"AS {local_select}"]

    def _alter(self, name: str, change: str) -> list[str]:
        if name not in self._tables:
            raise TranslationError(f"ALTER of {name}, which is not a table created before")
        # 18.16 refuses ALTER ... ON CLUSTER of a Distributed table over replicated shards ("isn't
        # replicated, but shard is"): it is made again over the altered local table. It holds no
        # rows (every insert through it is synchronous); readers retry while it is missing.
        return [f"ALTER TABLE {DB}.{name}_local {ON} {change}",
                f"DROP TABLE IF EXISTS {DB}.{name} {ON}", self._distributed(name)]

    def _drop(self, name: str) -> list[str]:
        if name in self._views:
            self._views.discard(name)
            return [f"DROP TABLE IF EXISTS {DB}.{name} {ON}"]
        if name not in self._tables:
            raise TranslationError(f"DROP of {name}, which no earlier migration created")
        self._tables.discard(name)
        return [f"DROP TABLE IF EXISTS {DB}.{name} {ON}", f"DROP TABLE IF EXISTS {DB}.{name}_local {ON}"]

    def sharding_notes(self, statements: Sequence[str]) -> list[str]:
        """``-- sharding`` comment lines for the Distributed tables these statements create."""
        notes = []
        for name in self._sharding:
            if any(s.startswith(f"CREATE TABLE IF NOT EXISTS {DB}.{name} ") for s in statements):
                shard = self._sharding[name]
                notes.append(f"-- {name}: sharded by {shard.key or '(none)'}: {shard.why}.")
        return notes


HEADER: Final = ("-- GENERATED by `python -m sql.clustering` from sql/migrations/{file}: do not edit.\n"
                 "-- Cluster form (ReplicatedMergeTree + Distributed); ${{cluster}} and ${{database}} "
                 "are filled by `cxpulse db migrate --cluster NAME`.\n")


def render(migrations: Sequence[Migration], handwritten: Path = HANDWRITTEN_DIR) -> dict[str, str]:
    """File name -> text of every migration's cluster form, in order (the translator keeps state)."""
    translator = Translator()
    files = {}
    for migration in migrations:
        file = migration.path.name
        header = HEADER.format(file=file)
        override = handwritten / file
        if override.exists():
            files[file] = header + f"-- Hand-written: sql/cluster/handwritten/{file}\n" + \
                override.read_text()
            continue
        try:
            statements = [s for sql in migration.statements() for s in translator.statement(sql)]
        except TranslationError as exc:
            raise TranslationError(f"{file}: {exc}; or write its cluster form by hand in "
                                   f"sql/cluster/handwritten/{file}") from None
        body = "".join(f"{s};\n\n" for s in statements).rstrip("\n") + "\n"
        notes = "\n".join(translator.sharding_notes(statements))
        files[file] = header + (notes + "\n" if notes else "") + body
    return files


def drift(directory: Path = CLUSTER_DIR, migrations: Path = MIGRATIONS_DIR) -> list[str]:
    """What regenerating would change: one line per changed, missing or extra file."""
    files = render(discover(migrations))
    problems = [f"missing: {directory / n}" for n in sorted(files) if not (directory / n).exists()]
    problems += [f"out of date: {directory / n}" for n, text in sorted(files.items())
                 if (directory / n).exists() and (directory / n).read_text() != text]
    problems += [f"no migration has this cluster form: {p}" for p in sorted(directory.glob("*.sql"))
                 if p.name not in files]
    return problems


def write(directory: Path = CLUSTER_DIR, migrations: Path = MIGRATIONS_DIR) -> None:
    """Regenerate every cluster form; remove those no migration produces."""
    files = render(discover(migrations))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.sql"):
        if stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        (directory / name).write_text(text)


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate sql/cluster/ (default) or ``--check`` it; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m sql.clustering", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if regenerating would change a file")
    args = parser.parse_args(argv)
    try:
        if not args.check:
            write()
            return 0
        problems = drift()
    except TranslationError as exc:
        print(f"sql.clustering: {exc}", file=sys.stderr)
        return 1
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print("run `make cluster-sql` and commit sql/cluster/", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
