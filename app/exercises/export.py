"""`python -m app exercises DIR`: every exercise as files, for learners who prefer their own
editor. DIR/<id>/ gets the starter module (edit it), the visible tests as a pytest file and
the helpers they import; DIR/conftest.py gives each test your module as `learner`. Then

    cd DIR && python -m pytest          # initially every test fails: NotImplementedError

Hidden tests stay on the server (run your code there for the full grade).
"""
from __future__ import annotations

import json
from pathlib import Path

from app.course.exercises import load_exercises

CONFTEST = '''"""Gives every exercise's tests the learner's module (written by python -m app exercises)."""
import importlib
import json
import sys
from pathlib import Path

import pytest


@pytest.fixture
def learner(request):
    directory = Path(str(request.fspath)).parent
    module = json.loads((directory / "exercise.json").read_text())["module"]
    sys.modules.pop(module, None)  # your latest edit, not a cached import
    sys.path.insert(0, str(directory))
    try:
        yield importlib.import_module(module)
    finally:
        sys.path.remove(str(directory))
        sys.modules.pop(module, None)
'''


def export(content_dir: Path, target: Path, overwrite: bool = False) -> list[Path]:
    """Write the files; an existing starter module is kept unless `overwrite` (your work)."""
    written = []
    target.mkdir(parents=True, exist_ok=True)
    (target / "conftest.py").write_text(CONFTEST)
    for exercise in load_exercises(content_dir).values():
        directory = target / exercise.id
        directory.mkdir(exist_ok=True)
        files = {**exercise.support, f"test_{exercise.id.replace('-', '_')}.py": exercise.visible_tests,
                 "exercise.json": json.dumps({"id": exercise.id, "module": exercise.module,
                                              "interface": exercise.interface}, indent=2),
                 "README.md": f"# {exercise.title}\n\n{exercise.statement}\n\nInterface: `{exercise.interface}`\n"}
        for name, text in files.items():
            (directory / name).write_text(text)
        module = directory / f"{exercise.module}.py"
        if overwrite or not module.exists():
            module.write_text(exercise.starter)
        written.append(directory)
    return written


def main(target: str, overwrite: bool = False) -> int:
    from app.settings import Settings

    written = export(Settings.from_env().content_dir, Path(target), overwrite)
    print(f"wrote {len(written)} exercises into {target}: edit each <id>/<module>.py, then run "
          f"`python -m pytest {target}` (every test fails until you write the code)")
    return 0
