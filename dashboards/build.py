"""Write every board's JSON to ``dashboards/generated/`` or, with ``--check``, fail on drift.

``python -m dashboards.build`` regenerates ``generated/<board>.json`` (sorted keys, indent 2, trailing
newline); ``python -m dashboards.build --check`` exits 1 if regenerating would change, add or remove a
file there (CI runs it: generated JSON is committed and must match the boards as code).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from dashboards import (
    closed_loop,
    contact_center,
    fixes_board,
    journey_map,
    ops_overview,
    pain_points,
    scorecards,
    voc_board,
)
from dashboards.panels import JSON

GENERATED_DIR: Final = Path(__file__).parent / "generated"
BOARDS: Final[dict[str, Callable[[], JSON]]] = {
    "ops_overview": ops_overview.build,
    "contact_center": contact_center.build,
    "closed_loop": closed_loop.build,
    "journey_map": journey_map.build,
    "pain_points": pain_points.build,
    "fixes": fixes_board.build,
    "partners_locations": scorecards.build,
    "voice_of_customer": voc_board.build,
}
"""Board name (the generated file's stem) -> the function building it. Add new boards here."""


def render(board: JSON) -> str:
    """A board as the committed text: JSON with sorted keys, indent 2, UTF-8, trailing newline."""
    return json.dumps(board, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    """File name -> text for every board."""
    return {f"{name}.json": render(build()) for name, build in BOARDS.items()}


def write(directory: Path = GENERATED_DIR) -> list[Path]:
    """Regenerate every board into ``directory``; remove JSON no board produces. Returns the files."""
    directory.mkdir(parents=True, exist_ok=True)
    files = rendered()
    for stale in directory.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, text in files.items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def drift(directory: Path = GENERATED_DIR) -> list[str]:
    """What regenerating would change in ``directory``: one line per changed, missing or extra file."""
    files = rendered()
    problems = []
    for name, text in sorted(files.items()):
        path = directory / name
        if not path.exists():
            problems.append(f"missing: {path}")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"out of date: {path}")
    problems += [f"not produced by any board: {p}" for p in sorted(directory.glob("*.json"))
                 if p.name not in files]
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: regenerate (default) or ``--check`` for drift; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m dashboards.build", description=__doc__)
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if regenerating would change dashboards/generated/")
    parser.add_argument("--dir", type=Path, default=GENERATED_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check:
        problems = drift(args.dir)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print("dashboards are out of date: run `make dashboards` and commit the result",
                  file=sys.stderr)
            return 1
        print(f"{len(BOARDS)} board(s) up to date")
        return 0
    for path in write(args.dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
