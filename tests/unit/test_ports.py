"""Ports for throwaway servers: never from the range outgoing connections take theirs from."""

from __future__ import annotations

import socket

import pytest

from cxpulse import ports


def test_ports_are_below_the_ephemeral_range_bindable_and_never_handed_out_twice() -> None:
    picked = [ports.free_port() for _ in range(300)]
    assert len(set(picked)) == len(picked)
    assert all(ports._LOWEST <= p < ports._ephemeral_start() for p in picked)
    with socket.socket() as s:
        s.bind(("127.0.0.1", picked[-1]))


def test_a_port_someone_listens_on_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        monkeypatch.setattr(ports, "_LOWEST", busy)
        monkeypatch.setattr(ports, "_ephemeral_start", lambda: busy + 2)
        assert ports.free_port() != busy  # busy + 1, the range's other port (or the kernel's pick)
