"""The coding exercises, as authored under content/exercises/ (one directory each).

    content/exercises/checks.py          helpers every exercise's tests share
    content/exercises/<id>/exercise.toml title, chapter, order, module, interface, hint (a
                                         nudge: what to think about), recipe (the steps, on a
                                         second ask), trains (optional)
                          statement.md   what to write
                          starter.py     what the learner starts from (raises NotImplementedError)
                          solution.py    the reference solution (shown after a pass, or after
                                         MAX_FAILS_BEFORE_SOLUTION failed attempts)
                          visible_tests.py, hidden_tests.py   functions test_*(learner)
                          *.py           anything else: helpers the tests import
                          bugs.toml      the named bugs: edits of the solution, and the text
                                         the first failing test must say (tests only; never
                                         shipped to the sandbox)

An exercise whose exercise.toml says `lab = true` also gets the training lab's tiny GPT
(widgets/lab/model.py, as lab_model.py) and a slice of the corpus (corpus.txt), so that its
tests can train the model in the sandbox; `cpu_factor` multiplies its grading's limits.

The web process only reads these files as text (test names come from parsing them, never
from running them); they run inside the sandbox with the learner's code.
"""
from __future__ import annotations

import ast
import logging
import os
import threading
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from app.course.freshness import checked
from app.course.markdown import render_markdown
from app.settings import ROOT

log = logging.getLogger(__name__)
MAX_FAILS_BEFORE_SOLUTION = 5
STANDARD_FILES = {"starter.py", "solution.py", "visible_tests.py", "hidden_tests.py"}
REQUIRED_KEYS = ("title", "chapter", "module", "interface", "hint", "recipe")
LAB_MODEL = ROOT / "widgets" / "lab" / "model.py"
CORPUS_CHARS = 200_000  # the first 200k characters of tiny Shakespeare: plenty for a few hundred batches
MAX_CPU_FACTOR = 4
TRAINS = {"", "optimizer", "clip", "schedule", "config"}  # what "train with your code" can plug in


class ExerciseError(ValueError):
    """An exercise directory that is not complete or not well formed (for authors)."""


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    chapter: str
    order: int
    module: str
    interface: str
    hint: str  # the first tier: a nudge, what to think about
    recipe: str  # the second tier: the steps (asked for after the nudge)
    statement: str  # Markdown
    starter: str
    solution: str
    visible_tests: str
    hidden_tests: str
    support: dict[str, str] = field(default_factory=dict)  # helper modules the tests import
    trains: str = ""  # what "train with your code" plugs in: optimizer, clip, schedule, config
    cpu_factor: float = 1.0  # this exercise's grading limits, as a multiple of the usual ones

    @property
    def visible_names(self) -> list[str]:
        return test_names(self.visible_tests)

    @property
    def hidden_names(self) -> list[str]:
        return test_names(self.hidden_tests)

    @property
    def statement_html(self) -> str:
        return statement_html(self.statement)

    @property
    def url(self) -> str:
        return f"/chapters/{self.chapter}#exercise-{self.id}"

    def sandbox_files(self, code: str) -> dict[str, str]:
        """What the grading sandbox gets: the learner's module, the tests and their helpers."""
        return {**self.support, f"{self.module}.py": code,
                "visible_tests.py": self.visible_tests, "hidden_tests.py": self.hidden_tests}


def test_names(source: str) -> list[str]:
    """The test functions of a test file, in order (parsed, not run)."""
    return list(_test_names(source))


# Pages ask for these on every request: parse and render each text once. The lock because
# CPython 3.11's ast.parse is not thread-safe (two page threads raised "SystemError: AST
# constructor recursion depth mismatch" under a class's load).
_PARSING = threading.Lock()


@lru_cache(maxsize=256)
def _test_names(source: str) -> tuple[str, ...]:
    with _PARSING:
        tree = ast.parse(source)
    return tuple(node.name for node in tree.body
                 if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"))


@lru_cache(maxsize=16)
def solution_config(source: str) -> dict:
    """The CONFIG of a config exercise's solution (a dict(...) or {...} of literals), read and
    never run: the web process runs no exercise code."""
    with _PARSING:
        tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "CONFIG" for t in node.targets):
            value = node.value
            if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "dict" and not value.args:
                return {k.arg: ast.literal_eval(k.value) for k in value.keywords}
            return ast.literal_eval(value)
    raise ExerciseError("the solution has no CONFIG = dict(...) of literals")


@lru_cache(maxsize=256)
def statement_html(markdown: str) -> str:
    return render_markdown(markdown).html


def load_exercise(directory: Path, shared: dict[str, str]) -> Exercise:
    meta_path = directory / "exercise.toml"
    try:
        meta = tomllib.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ExerciseError(f"{meta_path}: {exc}") from None
    missing = [k for k in REQUIRED_KEYS if not meta.get(k)]
    if missing:
        raise ExerciseError(f"{meta_path}: missing {', '.join(missing)}")
    texts = {}
    for name in ("statement.md", *sorted(STANDARD_FILES)):
        path = directory / name
        if not path.is_file():
            raise ExerciseError(f"{directory.name}: {name} is missing")
        texts[name] = path.read_text(encoding="utf-8")
    support = dict(shared)
    for path in sorted(directory.glob("*.py")):
        if path.name not in STANDARD_FILES:
            support[path.name] = path.read_text(encoding="utf-8")
    if meta.get("lab"):
        support.update(lab_files(directory.parent.parent))
    cpu_factor = float(meta.get("cpu_factor", 1.0))
    if not 1.0 <= cpu_factor <= MAX_CPU_FACTOR:
        raise ExerciseError(f"{meta_path}: cpu_factor must be between 1 and {MAX_CPU_FACTOR}, not {cpu_factor:g}")
    exercise = Exercise(
        id=directory.name, title=meta["title"], chapter=meta["chapter"], order=int(meta.get("order", 0)),
        module=meta["module"], interface=meta["interface"], hint=meta["hint"].strip(),
        recipe=meta["recipe"].strip(),
        statement=texts["statement.md"], starter=texts["starter.py"], solution=texts["solution.py"],
        visible_tests=texts["visible_tests.py"], hidden_tests=texts["hidden_tests.py"],
        support=support, trains=meta.get("trains", ""), cpu_factor=cpu_factor)
    if exercise.trains not in TRAINS:
        raise ExerciseError(f"{meta_path}: trains must be one of {', '.join(sorted(TRAINS))}, not {exercise.trains!r}")
    if exercise.trains == "config":
        solution_config(exercise.solution)  # the page trains the fixed config beside the learner's
    if not exercise.visible_names or not exercise.hidden_names:
        raise ExerciseError(f"{directory.name}: needs at least one visible and one hidden test_ function")
    return exercise


def lab_files(content_dir: Path) -> dict[str, str]:
    """What training the tiny GPT in the sandbox needs: the lab's model (it imports only torch)
    and the corpus's first CORPUS_CHARS characters, with every character of the whole corpus
    once at the end so that the vocabulary is the lab's."""
    corpus = (Path(content_dir) / "data" / "tinyshakespeare.txt").read_text(encoding="utf-8")
    return {"lab_model.py": LAB_MODEL.read_text(encoding="utf-8"),
            "corpus.txt": corpus[:CORPUS_CHARS] + "".join(sorted(set(corpus)))}


def _signature(directory: Path) -> tuple:
    """Every source file's path and mtime: checked on each page, so os.scandir (whose entries
    carry their stat) rather than Path.rglob, and no __pycache__."""
    found = []
    pending = [str(directory)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        pending.append(entry.path)
                elif entry.is_file():
                    found.append((entry.path, entry.stat().st_mtime_ns))
    return tuple(sorted(found))


@lru_cache(maxsize=4)
def _load(directory: str, signature: tuple) -> dict[str, Exercise]:
    root = Path(directory)
    shared = {p.name: p.read_text(encoding="utf-8") for p in sorted(root.glob("*.py"))}
    found = []
    for directory in sorted(root.iterdir()):
        if not (directory.is_dir() and (directory / "exercise.toml").exists()):
            continue
        try:
            found.append(load_exercise(directory, shared))
        except (ExerciseError, SyntaxError, OSError, UnicodeDecodeError) as exc:
            # one broken exercise must not take every page down: it is left out, and said so
            log.error("exercise %s is left out: %s", directory.name, exc)
    found.sort(key=lambda e: (e.chapter, e.order, e.id))
    return {e.id: e for e in found}


def load_exercises(content_dir: Path) -> dict[str, Exercise]:
    """id -> Exercise, in chapter order (reloaded when a file changes); a broken one is left
    out with an error in the log (check_exercises names the problems)."""
    directory = Path(content_dir) / "exercises"
    if not directory.is_dir():
        return {}
    return _load(str(directory), checked(("exercises", directory), lambda: _signature(directory)))


def for_chapter(exercises: dict[str, Exercise], slug: str) -> list[Exercise]:
    return [e for e in exercises.values() if e.chapter == slug]


def check_exercises(content_dir: Path) -> list[str]:
    """Every problem of the exercise directories, for authors (empty: all load)."""
    directory = Path(content_dir) / "exercises"
    if not directory.is_dir():
        return []
    shared = {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.py"))}
    problems = []
    for sub in sorted(directory.iterdir()):
        if sub.is_dir() and not sub.name.startswith(("_", ".")):
            try:
                load_exercise(sub, shared)
            except (ExerciseError, SyntaxError, OSError, UnicodeDecodeError) as exc:
                problems.append(f"{sub.name}: {exc}")
    return problems
