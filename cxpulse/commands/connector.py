"""``cxpulse connector list|new|ingest|watch|run``: every connector, found through the registry."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path
from typing import Any

from connectors.sdk import registry
from connectors.sdk.base import Connector
from connectors.sdk.files import FileConnector, ingest_file
from connectors.sdk.files import watch as watch_folder
from connectors.sdk.publisher import EventPublisher
from connectors.sdk.runtime import ConnectorRuntime, FileCursorStore
from cxpulse import console, wiring
from cxpulse.settings import Settings


def _connector(args: argparse.Namespace, settings: Settings, kind: str | None = None
               ) -> tuple[Connector[Any], EventPublisher]:
    """The named connector with its validated config, and a publisher in its name."""
    cls = registry.get(args.name)
    if kind is not None and cls.kind not in kind.split("|"):
        raise ValueError(f"connector {args.name!r} is a {cls.kind} connector: `connector "
                         f"{args.connector_cmd}` takes {kind.replace('|', ' or ')} connectors")
    if args.config is None:
        mapping = {}
    elif isinstance(args.config, Path):
        mapping = json.loads(args.config.read_text(encoding="utf-8"))
    else:
        mapping = json.loads(args.config)
    config = registry.load_config(cls, wiring.local_defaults(settings, cls.name, mapping))
    connector = cls(config)
    return connector, wiring.publisher(settings, cls.name, raw_id_fields=connector.raw_id_fields())


def cmd_list(_args: argparse.Namespace, _settings: Settings) -> int:
    """Every registered connector with its kind and where it lives."""
    rows = [(name, registry.get(name).kind, spec) for name, spec in sorted(registry.specs().items())]
    console.show(console.table(["connector", "kind", "class"], rows))
    return 0


def cmd_new(args: argparse.Namespace, _settings: Settings) -> int:
    """Scaffold a connector module, its samples and its contract test."""
    from connectors.sdk.scaffold import scaffold

    for path in scaffold(args.name, args.root):
        console.stdout.print(f"created {path}")
    return 0


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Every record of one file through a file connector; prints its summary."""
    connector, publisher = _connector(args, settings, "file")
    assert isinstance(connector, FileConnector)
    with console.progress(f"{connector.name} {args.file.name}") as tracker:
        summary = ingest_file(connector, args.file, publisher, on_record=tracker.advance)
    console.stdout.print(f"{connector.name}: {summary.line()}")
    return 0


def cmd_watch(args: argparse.Namespace, settings: Settings) -> int:
    """Every file dropped into a folder, processed once, until Ctrl-C."""
    connector, publisher = _connector(args, settings, "file")
    assert isinstance(connector, FileConnector)
    console.stdout.print(f"{connector.name}: watching {args.folder} every {args.interval:g} s "
                         "(Ctrl-C to stop)")
    try:
        watch_folder(args.folder, connector, publisher, interval_s=args.interval,
                     on_file=lambda r: console.stdout.print(f"{connector.name}: {r.line()}"))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """A pull source from its saved cursor until exhausted, or a bridge until SIGTERM/Ctrl-C."""
    connector, publisher = _connector(args, settings, "pull|bridge")
    state_dir = settings.run_path / "connectors" / connector.name
    if connector.kind == "bridge":
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        run = registry.runner(type(connector))
        summary = run(connector, publisher, stop, lambda line: console.stdout.print(line), state_dir)
        console.stdout.print(f"{connector.name}: {summary.line()}")
        return 0
    store = FileCursorStore(state_dir)
    resumed = store.load(connector.name)
    console.stderr.print(f"{connector.name}: from cursor {resumed!r} ({state_dir})" if resumed
                         else f"{connector.name}: from the start")
    runtime = ConnectorRuntime(connector, publisher)
    with console.progress(connector.name) as tracker:
        runtime.run_pull(store, on_record=tracker.advance)
    console.stdout.print(f"{connector.name}: {runtime.summary.line()}; "
                         f"cursor {store.load(connector.name)!r}")
    return 0


def _name_and_config(parser: argparse.ArgumentParser, example: str, config_file: bool = False) -> None:
    parser.add_argument("name", help=f"connector name, e.g. {example} (`cxpulse connector list`)")
    if config_file:
        parser.add_argument("--config", type=Path, default=None,
                            help="connector config, a JSON file (default: {} and the local stack's ports)")
    else:
        parser.add_argument("--config", default="{}", help="connector config as a JSON object")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``connector`` and its sub-commands."""
    group = commands.add_parser("connector", help="channel connectors")
    sub = group.add_subparsers(dest="connector_cmd", required=True)
    sub.add_parser("list", help="every connector and its kind (push, pull, file, bridge)") \
        .set_defaults(func=cmd_list)
    p = sub.add_parser("new", help="scaffold a connector module, samples and its test")
    p.add_argument("name", help="connector name: lower-case words joined by - or _, e.g. acme-survey")
    p.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: here)")
    p.set_defaults(func=cmd_new)
    p = sub.add_parser("ingest", help="publish every record of a file through a file connector")
    _name_and_config(p, "call-center-ctr")
    p.add_argument("file", type=Path, help="the file, in the connector's format")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("watch", help="process files dropped into FOLDER, each exactly once")
    _name_and_config(p, "retail-partner-csv")
    p.add_argument("folder", type=Path)
    p.add_argument("--interval", type=float, default=5.0, help="seconds between scans (default 5)")
    p.set_defaults(func=cmd_watch)
    p = sub.add_parser("run", help="run a pull source from its cursor, or a bridge until Ctrl-C")
    _name_and_config(p, "kiosk-mqtt", config_file=True)
    p.set_defaults(func=cmd_run)
