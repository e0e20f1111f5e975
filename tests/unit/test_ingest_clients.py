"""Client addresses behind trusted proxies, and widget tokens."""

from __future__ import annotations

import pytest

from connectors.ingest.clients import (
    MAX_TOKEN_TTL_S,
    client_address,
    token_subject,
    trusted_networks,
    widget_token,
)

PROXIES = trusted_networks("10.0.0.0/8, 192.0.2.7")


@pytest.mark.parametrize(("peer", "forwarded", "client"), [
    ("198.51.100.9", "203.0.113.5", "198.51.100.9"),          # not a proxy: its header is ignored
    ("192.0.2.7", "203.0.113.5", "203.0.113.5"),
    ("10.1.2.3", "6.6.6.6, 203.0.113.5, 10.9.9.9", "203.0.113.5"),  # right-most untrusted hop
    ("10.1.2.3", "", "10.1.2.3"),
    ("10.1.2.3", "10.4.4.4", "10.4.4.4"),
    ("10.1.2.3", "garbage, 203.0.113.5", "203.0.113.5"),
])
def test_client_address(peer: str, forwarded: str, client: str) -> None:
    assert client_address(peer, forwarded, PROXIES) == client


def test_a_bad_trusted_proxy_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        trusted_networks("10.0.0.0/8, not-an-address")


def test_widget_tokens() -> None:
    now = 1_800_000_000
    token = widget_token("secret", "cxp_a", "visitor-1", now + 60)
    assert token_subject("secret", token, "cxp_a", now) == "visitor-1"
    assert token_subject("other", token, "cxp_a", now) is None          # not signed by the signer
    assert token_subject("secret", token, "cxp_b", now) is None         # another key's
    assert token_subject("secret", token, "cxp_a", now + 61) is None    # expired
    assert token_subject("secret", token.replace(".", "x.", 1), "cxp_a", now) is None
    long_lived = widget_token("secret", "cxp_a", "v", now + MAX_TOKEN_TTL_S + 1)
    assert token_subject("secret", long_lived, "cxp_a", now) is None
    assert token_subject("secret", "not-a-token", "cxp_a", now) is None
