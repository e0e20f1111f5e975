"""The boards' database: only what the Grafana boards read, for a user that may see nothing else.

ClickHouse 18.16 grants access per database only (no table or column grants; a view in another
database is refused too, since the server checks the view's underlying database). So the read-only
Grafana user is confined to ``<database>_boards``, which holds one Distributed table per table the
boards read (``BOARD_TABLES``): a query there runs on the pipeline's database as the servers' own
hop user, with the Grafana user's settings (``readonly`` included). A Distributed table may name
fewer columns than the table it reads: the boards' ``touchpoint_events`` (the closed-loop board
decides recoveries from it) has no ``comment`` and no attribute values, the raw free text. The one
text the boards show is the Voice-of-the-customer board's: comments as ``comment_docs`` keeps them,
redacted at the edge (emails, phones, cards, national ids, bank accounts: ``schemas.redaction``), a
deliberate choice of issue 15 (comments are shown to people). On a modern server the production
users file grants ``SELECT`` on the same tables and columns instead.

The tables hold no rows, so they are made again after every migration (a new column shows at once).
"""

from __future__ import annotations

from typing import Final

from sql.client import ServerDatabase, checked_identifier

BOARD_TABLES: Final = ("minute_counts", "fcr_contacts", "followups", "alerts", "touchpoint_events",
                       "fixes", "fix_comparisons", "comment_docs")
"""Every table a board's query reads (a contract test keeps this list equal to the boards' tables)."""
HIDDEN_COLUMNS: Final = {"touchpoint_events": frozenset({"comment", "attribute_values"})}
"""Columns the boards never read and their user must not: free text written by customers."""
SELF_CLUSTER: Final = "cxpulse_self"
"""The one-node cluster every single server's config defines (``infra/clickhouse/config.xml.tmpl``)."""


def boards_database(database: str) -> str:
    """The database the boards' user sees: ``<database>_boards``."""
    return checked_identifier(f"{database}_boards")


Columns = dict[str, list[tuple[str, str]]]
"""table -> its (name, type) columns, in order."""


def board_table_statements(database: str, columns: Columns, cluster: str | None = None) -> list[str]:
    """DDL making the boards' database; on ``cluster``, over its local tables, on every node.

    ``columns`` are the source tables' columns; the hidden ones are left out.
    """
    source, boards = checked_identifier(database), boards_database(database)
    on = f" ON CLUSTER {checked_identifier(cluster)}" if cluster else ""
    statements = [f"CREATE DATABASE IF NOT EXISTS {boards}{on}"]
    for table in BOARD_TABLES:
        target = f"{table}_local" if cluster else table
        hidden = HIDDEN_COLUMNS.get(table, frozenset())
        shown = ", ".join(f"{checked_identifier(name)} {kind}" for name, kind in columns[table]
                          if name not in hidden)
        statements += [
            f"DROP TABLE IF EXISTS {boards}.{table}{on}",
            f"CREATE TABLE {boards}.{table}{on} ({shown}) "
            f"ENGINE = Distributed({checked_identifier(cluster or SELF_CLUSTER)}, {source}, {target})",
        ]
    return statements


def refresh_board_tables(db: ServerDatabase, database: str, cluster: str | None = None) -> None:
    """(Re)make the boards' database of ``database`` (run as the migrations user)."""
    suffix = "_local" if cluster else ""
    columns: Columns = {}
    for table in BOARD_TABLES:
        rows = db.execute("SELECT name, type FROM system.columns WHERE database = %(db)s "
                          "AND table = %(table)s", {"db": database, "table": table + suffix})
        columns[table] = [(str(name), str(kind)) for name, kind in rows]
    for statement in board_table_statements(database, columns, cluster):
        db.execute(statement)
