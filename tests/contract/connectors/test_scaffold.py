"""CI runs the scaffold end to end: generated connector + samples + test pass as generated."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.sdk.scaffold import ScaffoldError, names, scaffold

REPO = Path(__file__).resolve().parents[3]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


def repo_copy(tmp: Path) -> Path:
    """The packages a connector needs, copied, so scaffolding never touches the real tree."""
    root = tmp / "repo"
    for package in ("connectors", "schemas"):
        shutil.copytree(REPO / package, root / package, ignore=IGNORE)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    for init in ("tests/__init__.py", "tests/contract/__init__.py", "tests/contract/connectors/__init__.py"):
        (root / init).parent.mkdir(parents=True, exist_ok=True)
        (root / init).write_text("")
    return root


def test_scaffolded_connector_passes_its_generated_test(tmp_path: Path) -> None:
    root = repo_copy(tmp_path)
    written = scaffold("acme-survey", root)
    assert sorted(p.relative_to(root).as_posix() for p in written) == [
        "connectors/acme_survey.py",
        "tests/contract/connectors/samples/acme-survey/bad.jsonl",
        "tests/contract/connectors/samples/acme-survey/good.jsonl",
        "tests/contract/connectors/test_acme_survey.py",
    ]
    module_lines = len((root / "connectors/acme_survey.py").read_text().splitlines())
    test_lines = len((root / "tests/contract/connectors/test_acme_survey.py").read_text().splitlines())
    assert module_lines <= 80 and test_lines <= 25
    env = {**os.environ, "PYTHONPATH": str(root)}
    test = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/contract/connectors/test_acme_survey.py"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert test.returncode == 0, test.stdout + test.stderr
    assert " passed" in test.stdout and "skipped" not in test.stdout
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "connectors/acme_survey.py",
         "tests/contract/connectors/test_acme_survey.py"],
        cwd=root, capture_output=True, text=True, timeout=120, check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_scaffold_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "connectors").mkdir()
    existing = tmp_path / "connectors" / "acme_survey.py"
    existing.write_text("# mine\n")
    with pytest.raises(ScaffoldError, match="refusing to overwrite"):
        scaffold("acme-survey", tmp_path)
    assert existing.read_text() == "# mine\n"
    assert not (tmp_path / "tests").exists()


@pytest.mark.parametrize("bad", ["Acme", "acme survey", "../x", "1acme", "sdk", ""])
def test_scaffold_refuses_bad_or_taken_names(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ScaffoldError):
        scaffold(bad, tmp_path)


def test_names() -> None:
    assert names("acme-survey") == {
        "name": "acme-survey", "module": "acme_survey", "class_name": "AcmeSurvey", "title": "Acme survey",
    }
