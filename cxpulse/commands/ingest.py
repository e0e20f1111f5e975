"""``cxpulse ingest``: run the HTTP ingest service, and manage its API keys."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from cxpulse import console, wiring
from cxpulse.settings import Settings


def _stages(spec: str) -> dict[str, str]:
    pairs = [p.split("=", 1) for p in spec.split(",") if p.strip()]
    if any(len(p) != 2 for p in pairs):
        raise ValueError(f"CXPULSE_WEB_SURVEY_STAGES: expected touchpoint=stage,..., got {spec!r}")
    return {k.strip(): v.strip() for k, v in pairs}


def build_service(settings: Settings) -> Any:
    """The ingest service as configured by ``settings`` (keys, limits, topics, privacy)."""
    from connectors.ingest.clients import trusted_networks
    from connectors.ingest.service import IngestConfig, IngestService
    from connectors.sdk import registry
    from connectors.web import WebSurveyConfig, WebSurveyConnector

    survey = registry.load_config(WebSurveyConnector,
                                  {"journey_stages": _stages(settings.web_survey_stages)})
    assert isinstance(survey, WebSurveyConfig)
    return IngestService(IngestConfig(
        bootstrap=settings.bootstrap, topics=wiring.topics(settings), codec=wiring.codec(settings),
        keys_file=settings.ingest_keys_path, master_key=wiring.master_key(settings),
        privacy_key=wiring.privacy_key(settings), max_body_bytes=settings.ingest_max_body_bytes,
        max_items=settings.ingest_max_items, survey=survey, redis_url=settings.ingest_redis_url,
        redis_prefix=f"cxpulse:{settings.topic_prefix}",
        trusted_proxies=trusted_networks(settings.ingest_trusted_proxies),
        client_rate_per_s=settings.ingest_client_rate, client_burst=settings.ingest_client_burst))


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Serve, or manage keys."""
    if args.action == "serve":
        from connectors.ingest.service import serve

        logging.getLogger().setLevel(logging.INFO)
        service = build_service(settings)
        print(f"cxpulse ingest: http://{args.host}:{settings.ingest_port} "
              f"({len(service.keys.all())} key(s) in {settings.ingest_keys_path})", flush=True)
        serve(service, args.host, settings.ingest_port)
        return 0
    from connectors.ingest.keys import KeyStore

    store = KeyStore(settings.ingest_keys_path, wiring.master_key(settings))
    if args.action == "add":
        key, secret = store.add(args.kind, args.source, channel=args.channel,
                                partner_id=args.partner, allowed_origins=tuple(args.origin),
                                rate_per_s=args.rate, burst=args.burst,
                                token_signer=args.token_signer)
        print(f"key_id  {key.key_id}")
        if key.kind == "server":
            print(f"secret  {secret}\n(shown once: only its hash is stored in "
                  f"{settings.ingest_keys_path})")
        else:
            print(f'embed   <script src="http://127.0.0.1:{settings.ingest_port}/widget.js" '
                  f'data-key="{key.key_id}" data-touchpoint="checkout" async></script>')
    elif args.action == "revoke":
        if not store.revoke(args.key_id):
            console.error(f"no key {args.key_id}")
            return 1
        print(f"revoked {args.key_id}")
    else:
        console.show(console.table(
            ["key_id", "kind", "source", "channel", "partner", "rate/s", "origins"],
            [(k.key_id, k.kind, k.source, k.channel or "any", k.partner_id or "-", f"{k.rate_per_s:g}",
              " ".join(k.allowed_origins)) for k in store.all()], right=["rate/s"]))
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``cxpulse ingest [serve]`` and ``cxpulse ingest keys add|list|revoke``."""
    p = commands.add_parser("ingest", help="the HTTP ingest service (web surveys, partner API) and keys")
    p.set_defaults(func=cmd_ingest, action="serve", host="127.0.0.1")
    actions = p.add_subparsers(dest="ingest_command")
    s = actions.add_parser("serve", help="run the service in the foreground (the default)")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    keys = actions.add_parser("keys", help="API keys: add, list, revoke")
    key_actions = keys.add_subparsers(dest="action", required=True)
    add = key_actions.add_parser("add", help="create a key; prints its secret once")
    add.add_argument("--source", required=True, help="the events' source, e.g. web-shop, acme")
    add.add_argument("--kind", choices=["server", "browser"], default="server",
                     help="server: HMAC-signed back-end requests; browser: the widget (default server)")
    add.add_argument("--channel", default=None,
                     help="bind the key to one channel, e.g. retail_partner (default: events name "
                          "their own; widget answers are web)")
    add.add_argument("--partner", default="", help="bind the key to one partner_id")
    add.add_argument("--origin", action="append", default=[],
                     help="browser keys: an allowed page origin, e.g. https://shop.example (repeat)")
    add.add_argument("--rate", type=float, default=50.0, help="items per second (default 50)")
    add.add_argument("--burst", type=int, default=200, help="bucket size (default 200)")
    add.add_argument("--token-signer", default="", metavar="SERVER_KEY_ID",
                     help="browser keys: require widget tokens signed with this server key's secret "
                          "(connectors.ingest.clients.widget_token, on the site's back end)")
    key_actions.add_parser("list", help="every key (no secrets)")
    revoke = key_actions.add_parser("revoke", help="remove a key")
    revoke.add_argument("key_id")
