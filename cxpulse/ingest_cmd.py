"""``cxpulse ingest``: run the HTTP ingest service, and manage its API keys."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from cxpulse.settings import Settings


def master_key(settings: Settings) -> Any:
    """The master key server keys are derived from: the setting, else one kept in the run folder."""
    from cxpulse.cli import kept_key

    return kept_key(settings.ingest_master_key, settings.run_path / "ingest-master.key")


def _stages(spec: str) -> dict[str, str]:
    pairs = [p.split("=", 1) for p in spec.split(",") if p.strip()]
    if any(len(p) != 2 for p in pairs):
        raise ValueError(f"CXPULSE_WEB_SURVEY_STAGES: expected touchpoint=stage,..., got {spec!r}")
    return {k.strip(): v.strip() for k, v in pairs}


def build_service(settings: Settings) -> Any:
    """The ingest service as configured by ``settings`` (keys, limits, topics, privacy)."""
    from connectors.ingest.service import IngestConfig, IngestService
    from connectors.sdk import registry
    from connectors.web import WebSurveyConfig, WebSurveyConnector
    from cxpulse.cli import privacy_key
    from schemas.codec import AvroCodec
    from schemas.topics import Topics

    topics = Topics(settings.topic_prefix)
    survey = registry.load_config(WebSurveyConnector,
                                  {"journey_stages": _stages(settings.web_survey_stages)})
    assert isinstance(survey, WebSurveyConfig)
    return IngestService(IngestConfig(
        bootstrap=settings.bootstrap, topics=topics,
        codec=AvroCodec(registry_url=settings.schema_registry_url,
                        subject=f"{topics.touchpoints}-value"),
        keys_file=settings.ingest_keys_path, master_key=master_key(settings),
        privacy_key=privacy_key(settings), max_body_bytes=settings.ingest_max_body_bytes,
        max_items=settings.ingest_max_items, survey=survey))


def demo_ingest(settings: Settings, progress: Any = print) -> None:
    """Show the ingest API working: a few signed widget answers posted by a demo back-end key."""
    import random
    import uuid

    from connectors.ingest.client import IngestClient
    from connectors.ingest.keys import KeyStore

    store = KeyStore(settings.ingest_keys_path, master_key(settings))
    key = next((k for k in store.all() if k.source == "demo-web" and k.kind == "server"), None)
    if key is None:
        key, _ = store.add("server", "demo-web")
    secret = store.secret_of(key)
    if secret is None:
        raise ValueError(f"demo key {key.key_id} does not match the ingest master key: revoke it")
    rng = random.Random()
    answers = [{"id": str(uuid.uuid4()), "touchpoint": "checkout", "scale": "smiley",
                "score": rng.choice([2, 3, 4, 4]), "lang": "vi"} for _ in range(5)]
    answer = IngestClient(f"http://127.0.0.1:{settings.ingest_port}", key.key_id, secret).post(
        "/v1/surveys/web", answers)
    if answer.status != 200:
        raise ValueError(f"ingest API answered {answer.status}: {answer.body}")
    progress(f"  ingest API: 5 signed widget answers posted -> accepted {answer.body['accepted']} "
             f"(http://127.0.0.1:{settings.ingest_port}/openapi.json)")


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

    store = KeyStore(settings.ingest_keys_path, master_key(settings))
    if args.action == "add":
        key, secret = store.add(args.kind, args.source, channel=args.channel,
                                partner_id=args.partner, allowed_origins=tuple(args.origin),
                                rate_per_s=args.rate, burst=args.burst)
        print(f"key_id  {key.key_id}")
        if key.kind == "server":
            print(f"secret  {secret}\n(shown once: only its hash is stored in "
                  f"{settings.ingest_keys_path})")
        else:
            print(f'embed   <script src="http://127.0.0.1:{settings.ingest_port}/widget.js" '
                  f'data-key="{key.key_id}" data-touchpoint="checkout" async></script>')
    elif args.action == "revoke":
        if not store.revoke(args.key_id):
            print(f"cxpulse: no key {args.key_id}")
            return 1
        print(f"revoked {args.key_id}")
    else:
        print(f"{'key_id':<30} {'kind':<8} {'source':<20} {'channel':<15} {'partner':<12} "
              f"{'rate/s':>7}  origins")
        for k in store.all():
            print(f"{k.key_id:<30} {k.kind:<8} {k.source:<20} {k.channel or 'any':<15} "
                  f"{k.partner_id or '-':<12} {k.rate_per_s:>7g}  {' '.join(k.allowed_origins)}")
    return 0


def add_ingest_parser(sub: Any) -> None:
    """``cxpulse ingest [serve]`` and ``cxpulse ingest keys add|list|revoke``."""
    p = sub.add_parser("ingest", help="the HTTP ingest service (web surveys, partner API) and keys")
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
    key_actions.add_parser("list", help="every key (no secrets)")
    revoke = key_actions.add_parser("revoke", help="remove a key")
    revoke.add_argument("key_id")
