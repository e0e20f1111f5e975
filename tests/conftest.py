"""Shared test fixtures: free ports and unique names per run."""

from __future__ import annotations

import socket
import uuid


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def unique_name(prefix: str) -> str:
    """A name no earlier run used (databases, topic prefixes)."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"
