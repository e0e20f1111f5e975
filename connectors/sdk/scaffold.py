"""``cxpulse connector new NAME``: a complete example connector, its samples and its contract test.

Writes, under ``root`` (the repository):

- ``connectors/<module>.py`` — a working pull/push connector for a JSON-lines survey export;
- ``tests/contract/connectors/test_<module>.py`` — the contract kit over the samples;
- ``tests/contract/connectors/samples/<name>/good.jsonl`` and ``bad.jsonl`` (record + expected reason).

Never overwrites: if any target exists, nothing is written. The result passes its own test as
generated (CI scaffolds into a copy of the repository and runs it), so the templates cannot rot.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

from connectors.sdk.registry import BUILTIN, NAME_RE

TEMPLATES = Path(__file__).parent / "templates"


class ScaffoldError(ValueError):
    """The name is invalid or taken, or a target file already exists."""


def names(name: str) -> dict[str, str]:
    """Template values of a connector name: ``acme-survey`` -> module ``acme_survey``, ``AcmeSurvey``."""
    if not NAME_RE.match(name):
        raise ScaffoldError(f"invalid connector name {name!r}: lower-case words joined by - or _")
    words = name.replace("-", "_").split("_")
    return {
        "name": name,
        "module": "_".join(words),
        "class_name": "".join(w.capitalize() for w in words),
        "title": " ".join(words).capitalize(),
    }


def targets(name: str, root: Path) -> dict[Path, str]:
    """Each file to write -> the template it comes from."""
    module = names(name)["module"]
    contract = root / "tests" / "contract" / "connectors"
    samples = contract / "samples" / name
    return {
        root / "connectors" / f"{module}.py": "connector.py.tmpl",
        contract / f"test_{module}.py": "test_connector.py.tmpl",
        samples / "good.jsonl": "good.jsonl.tmpl",
        samples / "bad.jsonl": "bad.jsonl.tmpl",
    }


def scaffold(name: str, root: Path) -> list[Path]:
    """Write the connector, samples and test for ``name`` under ``root``; return the paths written."""
    values = names(name)
    if name in BUILTIN or values["module"] in {"sdk", "ingest"}:
        raise ScaffoldError(f"connector name {name!r} is taken")
    files = targets(name, root)
    existing = [str(p) for p in files if p.exists()]
    if (root / "connectors" / values["module"]).is_dir():
        existing.append(str(root / "connectors" / values["module"]))
    if existing:
        raise ScaffoldError(f"refusing to overwrite: {', '.join(existing)}")
    for path, template in files.items():
        text = Template((TEMPLATES / template).read_text(encoding="utf-8")).substitute(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)
