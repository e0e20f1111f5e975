r"""Who a request comes from, behind a load balancer: the client address and short-lived widget tokens.

**Address.** The peer address, unless the peer is a trusted proxy (``CXPULSE_INGEST_TRUSTED_PROXIES``,
addresses or networks): then the right-most ``X-Forwarded-For`` entry that is not itself a trusted
proxy. Entries left of it could be written by the client, so they are never believed.

**Widget tokens.** A browser key may require a token minted by the site's back end (a server key of
the same deployment, ``--token-signer``), so one client cannot spend a widget's whole rate: the rate
per client is then kept per token subject (a session, a visitor) rather than per address::

    X-Cx-Widget-Token: <base64url({"k": browser key, "s": subject, "e": expiry unix s})>.<hex HMAC-SHA256>

The HMAC is the signer's secret over the payload part; a token lives at most ``MAX_TOKEN_TTL_S``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from collections.abc import Sequence

import orjson

MAX_TOKEN_TTL_S = 3600
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(spec: str) -> tuple[Network, ...]:
    """``10.0.0.0/8, 192.0.2.7`` -> networks; ValueError naming a bad entry."""
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in spec.split(",") if p.strip())


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def client_address(peer: str, forwarded_for: str, trusted: Sequence[Network]) -> str:
    """The client's address as far as it can be trusted (see the module docstring)."""
    if not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def widget_token(secret: str, browser_key: str, subject: str, expires_at: int) -> str:
    """A token for ``subject`` on ``browser_key`` (what the site's back end computes)."""
    payload = _b64(orjson.dumps({"k": browser_key, "s": subject, "e": expires_at}))
    return f"{payload}.{hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()}"


def token_subject(secret: str, token: str, browser_key: str, now: float) -> str | None:
    """The token's subject if it is signed by ``secret``, for ``browser_key``, and alive; else None."""
    payload, _, signature = token.partition(".")
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return None
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        subject, key, expires = str(claims["s"]), claims["k"], int(claims["e"])
    except (ValueError, KeyError, TypeError):
        return None
    if key != browser_key or not now < expires <= now + MAX_TOKEN_TTL_S or not subject:
        return None
    return subject
