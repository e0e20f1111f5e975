"""``cxpulse simulate``: the simulator connector's traffic into Kafka, or to a JSON-lines file."""

from __future__ import annotations

import argparse

from cxpulse import wiring
from cxpulse.settings import Settings
from cxpulse.timeparse import parse_duration, parse_time


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    """Live traffic through the runtime (Kafka), or simulated time as fast as it goes (file)."""
    from connectors.simulator import SimulationOptions, run_simulation

    options = SimulationOptions(
        rate=args.rate, duration_s=parse_duration(args.duration), scenario=args.scenario,
        seed=args.seed, output=args.output,
        start_ms=parse_time(args.start) * 1000 if args.start else None,
    )
    publisher = wiring.publisher(settings, "simulator") if args.output is None else None
    return run_simulation(options, publisher)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``simulate``."""
    p = commands.add_parser("simulate", help="realistic omnichannel traffic into Kafka or a file")
    p.add_argument("--rate", type=float, default=50.0, help="mean events/s (default 50)")
    p.add_argument("--duration", default="0",
                   help="how long, e.g. 90s, 10m, 24h; 0 = until Ctrl-C (default)")
    p.add_argument("--scenario", default="steady", help="steady | incident | fix (default steady)")
    p.add_argument("--seed", type=int, default=None, help="seed for a reproducible run")
    p.add_argument("--output", default=None,
                   help="write JSON lines to this file (- for stdout) instead of Kafka; "
                        "then time is simulated and runs as fast as it can")
    p.add_argument("--start", default=None,
                   help="simulated clock start for --output (default: now - duration)")
    p.set_defaults(func=cmd_simulate)
