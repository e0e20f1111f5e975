"""Per-source API keys of the ingest service, stored hashed.

Two kinds of key:

- ``server`` keys (``cxk_...``) belong to a back end (a web shop, a partner): every request is
  HMAC-signed with the key's secret (see :mod:`connectors.ingest.signing`). The secret is never stored:
  it is derived as ``HMAC-SHA256(master key, key_id)``, shown once by ``cxpulse ingest keys add``, and
  the key file holds only its SHA-256. A leaked key file therefore yields no usable secret; rotating
  the master key (``CXPULSE_INGEST_MASTER_KEY``) revokes every server key at once.
- ``browser`` keys (``cxp_...``) are public by nature (they sit in a web page's ``<script>`` tag): they
  only submit widget surveys (``POST /v1/surveys/web``), only from their allowed origins, and are
  rate-limited like any key.

A key is bound to a ``source`` (the events' ``source`` and the namespace of their event ids), and
optionally to a channel and a partner: a partner's key can only submit that partner's events, and a
key with a channel only events of that channel.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from pathlib import Path
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.sdk.atomic import write_atomic
from connectors.sdk.fields import Channel
from connectors.sdk.privacy import PrivacyKey, PrivacyKeyLike

KeyKind = Literal["server", "browser"]
_PREFIX = {"server": "cxk_", "browser": "cxp_"}


class KeyFileError(ValueError):
    """The key file is unreadable or invalid; the message names the file and the problem."""


class ApiKey(BaseModel):
    """One key as stored: no secret, only its hash."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: str
    kind: KeyKind
    source: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
    secret_sha256: str = ""
    """SHA-256 hex of the derived secret (server keys); empty for browser keys."""
    channel: Channel | None = None
    """The channel of this key's events (its default, and the only one allowed); None: any channel
    (events name their own; widget answers are ``web``)."""
    partner_id: str = ""
    allowed_origins: tuple[str, ...] = ()
    """Browser keys: origins (scheme://host[:port]) pages may submit from."""
    rate_per_s: float = Field(50.0, gt=0)
    burst: int = Field(200, ge=1)
    token_signer: str = ""
    """Browser keys: the server key whose secret signs this key's widget tokens; set, every
    request needs one (``connectors.ingest.clients``), and the per-client rate is per token subject."""
    created_at: int = 0
    """Unix seconds."""


def derive_secret(master: PrivacyKey, key_id: str) -> str:
    """The signing secret of a server key: hex HMAC-SHA256(master key, key_id)."""
    return master.digest(f"cxpulse-ingest-key:{key_id}")


def secret_hash(secret: str) -> str:
    """What the key file keeps of a secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """The keys of one ingest service: a JSON file, replaced atomically on every change."""

    def __init__(self, path: Path, master_key: PrivacyKeyLike | PrivacyKey) -> None:
        self.path = path
        self._master = master_key if isinstance(master_key, PrivacyKey) else PrivacyKey(master_key)
        self._keys: dict[str, ApiKey] = {}
        self._file_state = self._stat()
        self._checked = float("-inf")
        self.reload()

    def _stat(self) -> tuple[int, int, int]:
        """What changes when the file is replaced (mtime alone may not, on a coarse clock)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return (0, 0, 0)
        return (st.st_mtime_ns, st.st_ino, st.st_size)

    def refresh(self, min_interval_s: float = 1.0) -> bool:
        """Re-read the file if another process changed it (looked at once per ``min_interval_s``).

        Returns whether it was re-read. On ``KeyFileError`` the keys in memory stay in use, and
        the same broken file is not reported again.
        """
        now = time.monotonic()
        if now - self._checked < min_interval_s:
            return False
        self._checked = now
        state = self._stat()
        if state == self._file_state:
            return False
        self._file_state = state
        self.reload()
        return True

    def reload(self) -> None:
        """(Re)read the file; a missing file means no keys yet."""
        if not self.path.exists():
            self._keys = {}
            return
        try:
            rows = orjson.loads(self.path.read_bytes())
            keys = [ApiKey.model_validate(row) for row in rows]
        except (orjson.JSONDecodeError, ValidationError, TypeError, ValueError) as exc:
            raise KeyFileError(f"{self.path}: {exc}") from exc
        self._keys = {k.key_id: k for k in keys}

    def get(self, key_id: str) -> ApiKey | None:
        """The key with this id, or None."""
        return self._keys.get(key_id)

    def all(self) -> list[ApiKey]:
        """Every key, oldest first."""
        return sorted(self._keys.values(), key=lambda k: (k.created_at, k.key_id))

    def secret_of(self, key: ApiKey) -> str | None:
        """The signing secret of a server key, or None if the master key no longer matches it."""
        secret = derive_secret(self._master, key.key_id)
        return secret if hmac.compare_digest(secret_hash(secret), key.secret_sha256) else None

    def add(self, kind: KeyKind, source: str, *, channel: str | None = None, partner_id: str = "",
            allowed_origins: tuple[str, ...] = (), rate_per_s: float = 50.0,
            burst: int = 200, token_signer: str = "") -> tuple[ApiKey, str]:
        """Create a key; returns it and its secret (server keys; the key id for browser keys).

        The secret is returned once and never stored.
        """
        signer = self._keys.get(token_signer) if token_signer else None
        if token_signer and (kind != "browser" or signer is None or signer.kind != "server"):
            raise ValueError("--token-signer: a browser key's widget tokens are signed by an existing "
                             f"server key; {token_signer!r} is none")
        key_id = _PREFIX[kind] + secrets.token_hex(12)
        secret = derive_secret(self._master, key_id) if kind == "server" else ""
        key = ApiKey(key_id=key_id, kind=kind, source=source, channel=channel,
                     partner_id=partner_id, allowed_origins=tuple(allowed_origins),
                     secret_sha256=secret_hash(secret) if secret else "",
                     rate_per_s=rate_per_s, burst=burst, token_signer=token_signer,
                     created_at=int(time.time()))
        self._keys[key_id] = key
        self._save()
        return key, secret or key_id

    def revoke(self, key_id: str) -> bool:
        """Remove a key; False if there was none."""
        if self._keys.pop(key_id, None) is None:
            return False
        self._save()
        return True

    def _save(self) -> None:
        data = orjson.dumps([k.model_dump() for k in self.all()], option=orjson.OPT_INDENT_2)
        write_atomic(self.path, data, mode=0o600)
        self._file_state = self._stat()  # our own write is no news to refresh()
