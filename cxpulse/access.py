"""ClickHouse users of least privilege, their passwords, and the users file the servers read.

One user per role (the production files in ``infra/compose`` and ``infra/k8s`` name the same):

| user | may |
| --- | --- |
| ``cxpulse_migrate`` | DDL: ``cxpulse db migrate`` (and the boards' tables) |
| ``cxpulse_worker`` | read and write rows in the pipeline's database, no DDL |
| ``cxpulse_grafana`` | read only, only the boards' database (no ``touchpoint_events``, so no comments) |
| ``cxpulse_reports`` | read only (``cxpulse metrics``, ``top``, ``followups``), no setting changes |
| ``cxpulse_cluster`` | the hop between cluster nodes (``remote_servers``) |

Locally each password is random, kept in ``<run dir>/secrets/<user>.password`` (mode 0600) and
written into the users file only as its SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from string import Template
from xml.sax.saxutils import escape

from sql.access import boards_database
from sql.client import checked_identifier

INFRA_DIR = Path(__file__).resolve().parent.parent / "infra"
MIGRATE_USER = "cxpulse_migrate"
WORKER_USER = "cxpulse_worker"
GRAFANA_USER = "cxpulse_grafana"
REPORTS_USER = "cxpulse_reports"
CLUSTER_USER = "cxpulse_cluster"
ROLES = {"migrate": MIGRATE_USER, "worker": WORKER_USER, "grafana": GRAFANA_USER,
         "reports": REPORTS_USER, "cluster": CLUSTER_USER}


@dataclass(frozen=True)
class Credentials:
    """Every role's user and password, and the databases they are confined to."""

    passwords: dict[str, str]
    """user name -> password."""
    database: str
    boards_database: str

    @property
    def admin_user(self) -> str:
        """The user migrations run as."""
        return MIGRATE_USER

    @property
    def cluster_user(self) -> str:
        """The user of the hop between nodes."""
        return CLUSTER_USER

    @property
    def cluster_password(self) -> str:
        """Its password."""
        return self.passwords[CLUSTER_USER]

    def password_of(self, user: str) -> str:
        """The password of one of our users ('' for the local operator, ``default``)."""
        return self.passwords.get(user, "")


def write_secret(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read (created 0600, never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_CREAT


def kept_credentials(run_dir: Path, database: str) -> Credentials:
    """The run folder's passwords (each created once, random, 0600) for ``database``."""
    passwords = {}
    for user in ROLES.values():
        path = run_dir / "secrets" / f"{user}.password"
        if not path.exists():
            write_secret(path, secrets.token_urlsafe(24))
        passwords[user] = path.read_text()
    return Credentials(passwords, checked_identifier(database), boards_database(database))


def password_hash(password: str) -> str:
    """What the users file keeps of a password: SHA-256 hex of its UTF-8 bytes."""
    return hashlib.sha256(password.encode()).hexdigest()


def render_users(target: Path, credentials: Credentials) -> None:
    """Write the users file (mode 0600) from ``infra/clickhouse/users.xml.tmpl``."""
    values = {"database": credentials.database, "boards_database": credentials.boards_database}
    for role, user in ROLES.items():
        values[f"{role}_user"] = checked_identifier(user)
        values[f"{role}_hash"] = password_hash(credentials.passwords[user])
    template = Template((INFRA_DIR / "clickhouse/users.xml.tmpl").read_text())
    write_secret(target, template.substitute({k: escape(v) for k, v in values.items()}))
