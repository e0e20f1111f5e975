"""The ``cxpulse`` command: parses arguments and calls into the packages that do the work.

Each command group has its small module in ``cxpulse/commands/``; components are built from
``Settings`` in ``cxpulse/wiring.py``. An error ends the command with one line on standard error
(``-v`` shows the traceback too).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from pydantic import ValidationError

from connectors.sdk.base import ConnectorError
from cxpulse import console
from cxpulse.commands import (
    cluster,
    connector,
    cx,
    dashboards,
    demo,
    figures,
    ingest,
    pipeline,
    report,
    simulate,
    stack,
    voc,
)
from cxpulse.settings import Settings
from cxpulse.stack import StackError

GROUPS = (stack, cluster, pipeline, figures, cx, voc, report, dashboards, connector, simulate, ingest, demo)
"""The command modules, in the order ``cxpulse --help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The whole command-line contract (docs/architecture.md): one ``register`` per group."""
    parser = argparse.ArgumentParser(prog="cxpulse", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log more, show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(commands)
    return parser


def _configuration_problems(exc: ValidationError) -> str:
    """Every bad variable, on one line: ``CXPULSE_KAFKA_PORT: Input should be ...; ...``."""
    return "; ".join(f"CXPULSE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                     for e in exc.errors())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if not args.verbose:  # it logs a traceback per refused connection while a server starts
        logging.getLogger("clickhouse_driver").setLevel(logging.CRITICAL)
    try:
        settings = Settings.load()
    except ValidationError as exc:  # pydantic lists every bad variable at once
        console.error(f"configuration error: {_configuration_problems(exc)}")
        return 2
    try:
        code: int = args.func(args, settings)
        return code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one clear line; the traceback only when asked for
        if args.verbose:
            raise
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        expected = isinstance(exc, ValueError | LookupError | OSError | StackError | ConnectorError)
        console.error(first if expected else f"{type(exc).__name__}: {first} (-v shows where)")
        return 1
