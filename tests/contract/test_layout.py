"""The layout stays as drawn: imports point one way between the top-level folders, no module cycles.

Allowed directions (docs/architecture.md): ``schemas`` <- ``connectors`` <- ``cxpulse``;
``schemas`` <- ``sql`` <- ``streams`` <- ``cxpulse``; ``dashboards`` may import ``sql`` and
``schemas``; ``voc`` (comment analytics, off the hot path) imports ``sql`` and ``schemas`` and only
``cxpulse`` imports it, so neither the worker nor a connector loads its models; ``bench`` imports
what it measures but wires through ``cxpulse.wiring`` (never the command modules); ``infra/`` holds
no Python at all; tests import anything. Every import counts, function-level ones too, parsed with
``ast`` (nothing is imported to check it).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "connectors", "sql", "streams", "dashboards", "voc", "cxpulse", "bench")
ALLOWED: dict[str, frozenset[str]] = {
    "schemas": frozenset(),
    "connectors": frozenset({"schemas"}),
    "sql": frozenset({"schemas"}),
    "streams": frozenset({"schemas", "sql"}),
    "dashboards": frozenset({"schemas", "sql"}),
    "voc": frozenset({"schemas", "sql"}),
    "cxpulse": frozenset({"schemas", "connectors", "sql", "streams", "dashboards", "voc"}),
    "bench": frozenset({"schemas", "connectors", "sql", "streams", "dashboards", "voc", "cxpulse"}),
}
"""Top-level folder -> the folders of ours it may import (besides itself)."""
BENCH_MAY_USE_FROM_CXPULSE = frozenset({"cxpulse.wiring", "cxpulse.settings", "cxpulse.stack",
                                        "cxpulse.ports", "cxpulse.commands.ingest"})
"""The console modules a benchmark may build on: settings, wiring, the stack runner and its free
ports, the ingest service builder. Never ``cxpulse.cli`` or another command module's internals."""


def module_name(path: Path, root: Path) -> str:
    """``connectors/sdk/base.py`` -> ``connectors.sdk.base``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, module: str, known: set[str]) -> Iterator[str]:
    """Every module of ours ``path`` imports, at any depth of the file (functions included).

    ``from a.b import c`` counts as ``a.b.c`` when that is a module of ours, else as ``a.b``;
    relative imports are resolved against ``module``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield _ours(alias.name, known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield _ours(f"{base}.{alias.name}", known) if f"{base}.{alias.name}" in known \
                    else _ours(base, known)


def _ours(name: str, known: set[str]) -> str:
    """``name`` or its longest prefix that is a module of ours; ``""`` for a foreign module."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module of ours -> the modules of ours it imports (itself excluded)."""
    files = {module_name(p, root): p for package in PACKAGES for p in (root / package).rglob("*.py")
             if "templates" not in p.parts}
    known = set(files)
    return {name: {m for m in imported_modules(path, name, known) if m and m != name}
            for name, path in files.items()}


def wrong_way_imports(graph: dict[str, set[str]]) -> list[str]:
    """``a.b -> c.d`` for every import the layout forbids."""
    wrong = []
    for module, targets in sorted(graph.items()):
        top = module.split(".")[0]
        for target in sorted(targets):
            other = target.split(".")[0]
            if other != top and other not in ALLOWED[top]:
                wrong.append(f"{module} -> {target}")
            elif top == "bench" and other == "cxpulse" and target not in BENCH_MAY_USE_FROM_CXPULSE:
                wrong.append(f"{module} -> {target} (wire through cxpulse.wiring)")
    return wrong


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of two or more modules (Tarjan), as a sorted list of names."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                members.append(member)
                if member == node:
                    break
            if len(members) > 1:
                found.append(sorted(members))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_imports_point_the_way_the_layout_draws() -> None:
    assert wrong_way_imports(import_graph(REPO)) == []


def test_no_two_modules_import_each_other() -> None:
    assert cycles(import_graph(REPO)) == []


def test_infra_holds_configs_only() -> None:
    assert sorted(p.relative_to(REPO).as_posix() for p in (REPO / "infra").rglob("*.py")) == []


@pytest.mark.parametrize(("files", "wrong"), [
    ({"streams/app.py": "from connectors.sdk.kafka import end_offsets\n",
      "connectors/sdk/kafka.py": ""}, ["streams.app -> connectors.sdk.kafka"]),
    ({"schemas/kafka.py": "def f():\n    from connectors.sdk.privacy import redact\n",
      "connectors/sdk/privacy.py": ""}, ["schemas.kafka -> connectors.sdk.privacy"]),
    ({"bench/fcr.py": "from cxpulse.cli import main\n", "cxpulse/cli.py": ""},
     ["bench.fcr -> cxpulse.cli (wire through cxpulse.wiring)"]),
    ({"connectors/x.py": "from . import y\nimport streams.app\n", "connectors/y.py": "",
      "streams/app.py": ""}, ["connectors.x -> streams.app"]),
])
def test_the_check_sees_a_wrong_way_import(tmp_path: Path, files: dict[str, str],
                                           wrong: list[str]) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert wrong_way_imports(import_graph(tmp_path)) == wrong


def test_the_check_sees_a_cycle(tmp_path: Path) -> None:
    (tmp_path / "cxpulse").mkdir()
    (tmp_path / "cxpulse/cli.py").write_text("from cxpulse.demo import run\n")
    (tmp_path / "cxpulse/demo.py").write_text("def run():\n    from cxpulse.cli import drain\n")
    (tmp_path / "cxpulse/top.py").write_text("import cxpulse.cli\n")
    assert cycles(import_graph(tmp_path)) == [["cxpulse.cli", "cxpulse.demo"]]
