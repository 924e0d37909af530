"""The tree says what runs where: app/'s packages and the rules between them.

The import rules are import-linter contracts in pyproject.toml ([tool.importlinter]); this
test runs them, so an import that crosses a layer fails `make test` with the chain it took.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from app.settings import ROOT

SANDBOXED = ROOT / "app" / "exercises" / "sandboxed"


def python_files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts]


def test_the_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_nothing_imports_the_files_copied_into_the_sandbox():
    """They run only inside bubblewrap, as text; importing one would run it in the web process."""
    assert not (SANDBOXED / "__init__.py").exists(), "sandboxed/ is not a package: nothing imports it"
    for path in python_files("app", "widgets", "tests"):
        bad = {name for name in imported_names(path) if ".sandboxed" in name}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_app_has_at_most_ten_top_level_entries():
    entries = [p.name for p in (ROOT / "app").iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 10, sorted(entries)


MAX_LINES = 400


def test_no_module_is_over_400_lines():
    lines = {path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
             for path in python_files("app", "widgets")}
    over = {path: count for path, count in lines.items() if count > MAX_LINES}
    assert not over, f"split these along their seams: {over}"
