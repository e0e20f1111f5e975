"""Free TCP ports for throwaway servers (tests, benchmarks), outside the kernel's ephemeral range.

A port the kernel hands out for ``bind(0)`` comes from the ephemeral range, the same range every
outgoing connection takes its local port from: between the pick and the server's bind, a client
connection (to Kafka, ClickHouse, ZooKeeper) may take it, and the server fails with "Address
already in use" (a 2x2 ClickHouse cluster binds 13 ports). Ports below that range are only ever
taken by a listener, and each is handed out once per process.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000
_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port nobody listens on at 127.0.0.1 now, below the ephemeral range, new to this process."""
    high = _ephemeral_start() - 1
    if high > _LOWEST:
        for _ in range(200):
            port = random.randint(_LOWEST, high)
            if port not in _handed_out and _bindable(port):
                _handed_out.add(port)
                return port
    with socket.socket() as s:  # no room below the ephemeral range: the kernel's pick
        s.bind(("127.0.0.1", 0))
        picked: int = s.getsockname()[1]
    _handed_out.add(picked)
    return picked
