"""The exercises themselves: every reference solution passes every test, every starter fails,
each named bug (content/exercises/<id>/bugs.toml) fails with the message that names it, and
the chapters' own code passes the exercise the chapter teaches.

These run the in-sandbox runner in this process, on trusted code only (the solutions, their
bugs and the chapters' code), so they are cheap: torch is already imported.
tests/exercises/test_sandbox.py and tests/exercises/test_exercises_api.py check the sandboxed path.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.course.exercises import load_exercises
from app.settings import Settings
from exercise_helpers import (CHAPTER_CODE, EXERCISES, NO_CHAPTER_CODE, buggy_code, named_bugs,
                              run_in_process)

ISSUE_INTERFACES = {
    "warmup-cosine": "def cosine_with_warmup(step: int, *, warmup_steps: int, max_steps: int, "
                     "max_lr: float, min_lr: float = 0.0) -> float",
    "clip-grad-norm": "def clip_grad_norm_(parameters, max_norm: float) -> torch.Tensor",
}
RUNNABLE_STARTERS = {"debug-this-run"}  # a broken config to fix, not a function to write
SLOW_EXERCISES = {"debug-this-run"}  # its tests train the tiny GPT for 200 steps


def test_at_least_twelve_exercises_each_in_a_chapter():
    from app.course.content import load_course

    course = load_course(Settings().content_dir)
    assert len(EXERCISES) >= 12
    slugs = {c.slug for c in course.chapters}
    for exercise in EXERCISES.values():
        assert exercise.chapter in slugs, exercise.id
        assert exercise.statement and exercise.visible_names and exercise.hidden_names
    assert {"training-loop", "scale-and-configs", "instabilities"} <= {e.chapter for e in EXERCISES.values()}


def test_hints_come_in_two_tiers_a_nudge_then_the_recipe():
    for exercise in EXERCISES.values():
        assert exercise.hint and exercise.recipe and exercise.hint != exercise.recipe, exercise.id
        # the nudge says what to think about: questions, and no code from the solution
        assert "?" in exercise.hint, exercise.id
        assert not any(line.strip() and line.strip() in exercise.hint
                       for line in exercise.solution.splitlines() if len(line.strip()) > 25), exercise.id


def test_the_first_three_have_the_issues_interfaces():
    for exercise_id, interface in ISSUE_INTERFACES.items():
        assert EXERCISES[exercise_id].interface == interface
    assert "class AdamW(torch.optim.Optimizer)" in EXERCISES["adamw"].interface
    assert "lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0" in EXERCISES["adamw"].interface


def slow_if(exercise_id: str, *values):
    marks = [pytest.mark.slow] if exercise_id in SLOW_EXERCISES else []
    return pytest.param(*values, marks=marks, id="::".join(str(v) for v in values))


@pytest.mark.parametrize("exercise_id", [slow_if(e, e) for e in sorted(EXERCISES)])
def test_reference_solution_passes_and_starter_fails(exercise_id, tmp_path):
    exercise = EXERCISES[exercise_id]
    rows = run_in_process(exercise, exercise.solution, tmp_path)
    assert len(rows) == len(exercise.visible_names) + len(exercise.hidden_names)
    assert all(r["passed"] for r in rows), [r for r in rows if not r["passed"]]
    rows = run_in_process(exercise, exercise.starter, tmp_path)
    if exercise_id in RUNNABLE_STARTERS:  # every visible test names a bug of the starter
        assert not any(r["passed"] for r in rows if r["kind"] == "visible"), rows
        return
    assert not any(r["passed"] for r in rows), [r["name"] for r in rows if r["passed"]]
    assert all("not implemented yet" in r["message"] for r in rows)


def test_every_exercise_names_at_least_three_bugs():
    for exercise_id in EXERCISES:
        bugs = named_bugs(exercise_id)
        assert len(bugs) >= 3, f"{exercise_id}: {len(bugs)} named bugs in bugs.toml"
        assert len({b["name"] for b in bugs}) == len(bugs), exercise_id


@pytest.mark.parametrize("exercise_id, name", [slow_if(e, e, b["name"]) for e in sorted(EXERCISES)
                                                for b in named_bugs(e)])
def test_each_named_bug_fails_with_its_name(exercise_id, name, tmp_path):
    bug = next(b for b in named_bugs(exercise_id) if b["name"] == name)
    rows = run_in_process(EXERCISES[exercise_id], buggy_code(exercise_id, bug), tmp_path)
    failed = [r for r in rows if not r["passed"]]
    assert failed, f"{exercise_id} / {name}: every test passed"
    assert bug["expect"] in failed[0]["message"], f"{name}: the first failure says {failed[0]['message']!r}"


def test_every_exercise_says_whether_its_chapter_teaches_the_code():
    assert set(CHAPTER_CODE) | set(NO_CHAPTER_CODE) == set(EXERCISES)
    assert not set(CHAPTER_CODE) & set(NO_CHAPTER_CODE)


@pytest.mark.parametrize("exercise_id", sorted(CHAPTER_CODE))
def test_the_chapters_own_code_passes(exercise_id, tmp_path):
    """Chapter 3's (t+1)/t_w warmup, chapter 9's bfloat16 Newton-Schulz, chapter 1's loop order
    (zero_grad last) and checks, chapter 4's loop with its clip: pasted in, they pass."""
    rows = run_in_process(EXERCISES[exercise_id], CHAPTER_CODE[exercise_id](), tmp_path)
    assert all(r["passed"] for r in rows), [(r["name"], r["message"][:300]) for r in rows if not r["passed"]]


def test_messages_name_the_first_step_and_both_values(tmp_path):
    code = buggy_code("adamw", named_bugs("adamw")[0])
    message = [r for r in run_in_process(EXERCISES["adamw"], code, tmp_path) if not r["passed"]][0]["message"]
    assert "differs first at step 1" in message and "yours" in message and "PyTorch's" in message


def test_a_message_shows_the_first_entry_that_differs(tmp_path):
    """Ignoring one group's betas changes entries far into the flattened parameters: the
    message quotes that entry, not four equal ones from the start."""
    bug = next(b for b in named_bugs("adamw") if b["name"] == "the group's betas ignored")
    message = [r for r in run_in_process(EXERCISES["adamw"], buggy_code("adamw", bug), tmp_path)
               if not r["passed"]][0]["message"]
    entry = int(message.split("entry ")[1].split(" ")[0])
    assert entry > 0
    yours, theirs = message.split("yours ")[1].split(",")[0], message.split("PyTorch's ")[1].split(".")[0]
    assert yours != theirs


def test_the_spike_reference_really_skips_and_rolls_back():
    """The spike tests' curves provoke every decision (else they could not fail)."""
    import importlib.util

    path = Settings().content_dir / "exercises" / "spike-detector" / "spike_checks.py"
    sys.path.insert(0, str(path.parent.parent))
    try:
        spec = importlib.util.spec_from_file_location("spike_checks_probe", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    decisions = module.reference(module.curve(0, 200, spikes=(60, 120, 170)), 20, 4.0, 3)
    assert decisions.count("skip") == 3 and "rollback" not in decisions
    decisions = module.reference(module.curve(2, 150, shift_at=100), 20, 4.0, 3)
    assert "skip" in decisions and "rollback" in decisions
    assert module.reference(module.curve(1, 80, nan_at=50), 20, 4.0, 3)[50] == "rollback"


def test_hidden_tests_never_reach_the_client(client):
    for exercise in EXERCISES.values():
        body = json.dumps(client.get(f"/api/exercises/{exercise.id}").json())
        for name in exercise.hidden_names:
            assert name not in body


@pytest.mark.slow
def test_the_exported_tests_fail_on_the_starters_and_pass_on_the_solutions(tmp_path):
    import subprocess

    from app.exercises.export import export

    export(Settings().content_dir, tmp_path)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "default", str(tmp_path)]
    first = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    visible = sum(len(e.visible_names) for e in EXERCISES.values())
    assert first.returncode == 1 and f"{visible} failed" in first.stdout, first.stdout[-2000:]
    for exercise in EXERCISES.values():
        (tmp_path / exercise.id / f"{exercise.module}.py").write_text(exercise.solution)
    second = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert second.returncode == 0 and f"{visible} passed" in second.stdout, second.stdout[-2000:]


def test_every_exercise_directory_loads_and_a_broken_one_is_left_out(tmp_path):
    import shutil

    from app.course.exercises import check_exercises

    assert check_exercises(Settings().content_dir) == []
    shutil.copytree(Settings().content_dir / "exercises", tmp_path / "exercises")
    shutil.copytree(Settings().content_dir / "data", tmp_path / "data")  # the capstone trains on the corpus
    (tmp_path / "exercises" / "wsd" / "hidden_tests.py").write_text("def helper(): pass\n")
    assert [p for p in check_exercises(tmp_path) if p.startswith("wsd:")]
    assert set(load_exercises(tmp_path)) == set(EXERCISES) - {"wsd"}


def test_the_content_check_names_a_broken_exercise(tmp_path):
    import shutil

    from app.tools.check.course import check_content

    shutil.copytree(Settings().content_dir, tmp_path / "content")
    toml = tmp_path / "content" / "exercises" / "adamw" / "exercise.toml"
    toml.write_text(toml.read_text().replace('chapter = "sgd-to-adamw"', 'chapter = "no-such-chapter"'))
    (tmp_path / "content" / "exercises" / "wsd" / "starter.py").unlink()
    problems = check_content(tmp_path / "content", run_predictions=False).problems
    assert any("exercises/adamw" in p and "no-such-chapter" in p for p in problems), problems
    assert any("exercises/wsd" in p and "starter.py" in p for p in problems), problems


@pytest.mark.slow
def test_the_capstone_verdicts_hold_with_unvectorised_kernels():
    """The capstone's health check reads a real run's numbers (a final validation loss, a
    setback after the corrupted batches): its bounds must give the same verdicts on any CPU,
    so the fix passes and each bug put back fails with its name with ATen's unvectorised
    kernels too (see tests/claims/test_claims_on_other_kernels.py)."""
    import torch

    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("this process already uses the unvectorised kernels: the suite itself is that check")
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "--no-header", "-p", "no:cacheprovider",
                           "tests/exercises/test_exercises.py", "-k", "debug-this-run"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"with ATEN_CPU_CAPABILITY=default:\n{done.stdout[-4000:]}{done.stderr[-2000:]}"
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed and int(passed.group(1)) >= 4, done.stdout[-2000:]


def test_links_in_statements_reach_a_chapter_heading(client):
    links = [(e.id, slug, anchor) for e in EXERCISES.values()
             for slug, anchor in re.findall(r"\]\(/chapters/([a-z0-9-]+)#([a-z0-9-]+)\)", e.statement)]
    assert links, "the capstone links the chapters it draws on"
    for exercise_id, slug, anchor in links:
        page = client.get(f"/chapters/{slug}")
        assert page.status_code == 200 and f'id="{anchor}"' in page.text, (exercise_id, slug, anchor)
