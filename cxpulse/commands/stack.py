"""``cxpulse stack up|down|status``: the local stack (``make up``, ``make down``, ``make status``)."""

from __future__ import annotations

import argparse

from cxpulse import console, stack
from cxpulse.settings import Settings


def cmd_stack(args: argparse.Namespace, settings: Settings) -> int:
    """Start, stop or show the stack; ``status`` exits 3 when a component is not healthy."""
    if args.action == "up":
        console.stdout.print(f"cxpulse stack up: run folder {settings.run_path}")
        stack.up(settings)
        console.stdout.print("stack is up. `cxpulse stack status` shows it; `make down` stops it.")
    elif args.action == "down":
        if not stack.down(settings):
            console.stdout.print(f"stack is not running (run folder {settings.run_path})")
        else:
            console.stdout.print("stack stopped")
    else:
        rows = stack.status(settings)
        console.show(console.table(
            ["component", "state", "pid", "port", "health"],
            [(r.name, r.state, r.pid or "-", r.port, "healthy" if r.healthy else "-") for r in rows],
            right=["pid", "port"]))
        return 0 if all(r.healthy for r in rows) else 3
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``stack``."""
    p = commands.add_parser("stack", help="start/stop/inspect the local stack")
    p.add_argument("action", choices=["up", "down", "status"])
    p.set_defaults(func=cmd_stack)
