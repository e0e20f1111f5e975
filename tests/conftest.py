"""Shared test fixtures: free ports and unique names per run."""

from __future__ import annotations

import itertools
import time
import uuid

from cxpulse.ports import free_port
from cxpulse.settings import STACK_PORTS


def stack_ports() -> dict[str, int]:
    """A free port for each component of a local stack, as ``Settings`` keyword arguments."""
    return {name: free_port() for name in STACK_PORTS}


def unique_name(prefix: str) -> str:
    """A name no earlier run used (databases, topic prefixes)."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def run_tag(prefix: str) -> str:
    """A per-run tag for ids and touchpoints, made of letters only.

    Digits would be a hazard: a 13-19 digit run that passes the Luhn check is redacted as a card
    number (and 10 digits starting 0[35789] as a phone number), so a tag like ``cc1795543123456``
    could vanish from dead letters one run in ten.
    """
    n = time.time_ns() * 1000 + next(_tag_counter) % 1000
    letters = []
    while n:
        n, r = divmod(n, 26)
        letters.append(chr(ord("a") + r))
    return prefix + "".join(reversed(letters))


_tag_counter = itertools.count()
