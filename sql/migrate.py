"""Forward-only migrations: ``sql/migrations/NNNN_verb_object.sql``, applied in order, recorded once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sql.client import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One numbered migration file."""

    version: int
    name: str
    path: Path

    def statements(self) -> list[str]:
        """The file's statements: split on ';' at end of line, comment lines dropped."""
        lines = [ln for ln in self.path.read_text().splitlines() if not ln.lstrip().startswith("--")]
        return [s.strip() for s in "\n".join(lines).split(";\n") if s.strip().rstrip(";").strip()]


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """All migrations, sorted; a badly named or duplicate-numbered file is an error."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name must be NNNN_verb_object.sql: {path.name}")
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"two migrations numbered {version:04d}")
        found[version] = Migration(version, match.group(2), path)
    return [found[v] for v in sorted(found)]


def applied_versions(db: Database) -> set[int]:
    """Versions recorded in schema_migrations (empty before the first migration)."""
    exists = db.query(
        "SELECT count() AS n FROM system.tables WHERE database = currentDatabase() "
        "AND name = 'schema_migrations'"
    )
    if not exists or int(exists[0]["n"]) == 0:
        return set()
    return {int(r["version"]) for r in db.query("SELECT version FROM schema_migrations")}


def migrate(db: Database, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply every migration not yet recorded; return those applied. Safe to run again."""
    done = applied_versions(db)
    applied = []
    for migration in discover(directory):
        if migration.version in done:
            continue
        for statement in migration.statements():
            db.execute(statement.rstrip(";"))
        db.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) "
            "SELECT %(version)s, %(name)s, now()",
            {"version": migration.version, "name": migration.name},
        )
        applied.append(migration)
    return applied
