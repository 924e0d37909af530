"""The exercises themselves: every reference solution passes every test, every starter fails
every test, and each common bug fails with the message that names it.

These run the in-sandbox runner in this process, on trusted code only (the solutions and
bugs written here), so they are cheap: torch is already imported. tests/exercises/test_sandbox.py and
tests/exercises/test_exercises_api.py check the sandboxed path.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from app.course.exercises import load_exercises
from app.settings import Settings

EXERCISES = load_exercises(Settings().content_dir)
ISSUE_INTERFACES = {
    "warmup-cosine": "def cosine_with_warmup(step: int, *, warmup_steps: int, max_steps: int, "
                     "max_lr: float, min_lr: float = 0.0) -> float",
    "clip-grad-norm": "def clip_grad_norm_(parameters, max_norm: float) -> torch.Tensor",
}


def run_in_process(exercise, code: str, tmp_path: Path) -> list[dict]:
    """The runner on `code` in a fresh directory, its module names purged before and after."""
    import importlib.util

    work = tmp_path / exercise.id
    work.mkdir(exist_ok=True)
    files = exercise.sandbox_files(code)
    for name, text in files.items():
        (work / name).write_text(text)
    runner_path = Path(__file__).resolve().parents[2] / "app" / "exercises" / "sandboxed" / "runner.py"
    spec = importlib.util.spec_from_file_location("exercise_runner_under_test", runner_path)
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    names = [n[:-3] for n in files if n.endswith(".py")]
    rows: list[dict] = []
    old_cwd, old_path = os.getcwd(), list(sys.path)
    for name in names:
        sys.modules.pop(name, None)
    os.chdir(work)
    sys.path.insert(0, str(work))
    try:
        runner.run({"module": exercise.module,
                    "suites": [["visible", "visible_tests.py"], ["hidden", "hidden_tests.py"]]},
                   lambda **row: rows.append(row))
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
        for name in names:
            sys.modules.pop(name, None)
    return rows


def test_at_least_eight_exercises_each_in_a_chapter():
    from shared_course import shared_course

    course = shared_course()
    assert len(EXERCISES) >= 8
    slugs = {c.slug for c in course.chapters}
    for exercise in EXERCISES.values():
        assert exercise.chapter in slugs, exercise.id
        assert exercise.hint and exercise.statement and exercise.visible_names and exercise.hidden_names


def test_the_first_three_have_the_issues_interfaces():
    for exercise_id, interface in ISSUE_INTERFACES.items():
        assert EXERCISES[exercise_id].interface == interface
    assert "class AdamW(torch.optim.Optimizer)" in EXERCISES["adamw"].interface
    assert "lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0" in EXERCISES["adamw"].interface


@pytest.mark.parametrize("exercise_id", sorted(EXERCISES))
def test_reference_solution_passes_and_starter_fails(exercise_id, tmp_path):
    exercise = EXERCISES[exercise_id]
    rows = run_in_process(exercise, exercise.solution, tmp_path)
    assert len(rows) == len(exercise.visible_names) + len(exercise.hidden_names)
    assert all(r["passed"] for r in rows), [r for r in rows if not r["passed"]]
    rows = run_in_process(exercise, exercise.starter, tmp_path)
    assert not any(r["passed"] for r in rows), [r["name"] for r in rows if r["passed"]]
    assert all("not implemented yet" in r["message"] for r in rows)


def bug(exercise_id: str, old: str, new: str) -> str:
    solution = EXERCISES[exercise_id].solution
    assert old in solution, f"{exercise_id}: {old!r} is not in the solution"
    return solution.replace(old, new)


COMMON_BUGS = {
    # name: (exercise, buggy code, text the first failing message must contain)
    "no bias correction": ("adamw", lambda: bug("adamw", "m_hat = m / (1 - beta1 ** t)", "m_hat = m").replace(
        "v_hat = v / (1 - beta2 ** t)", "v_hat = v"), "no bias correction"),
    "L2 instead of decoupled decay": ("adamw", lambda: bug(
        "adamw", 'p.mul_(1 - lr * group["weight_decay"])', 'g = g + group["weight_decay"] * p'),
        "L2 added to the gradient instead of decoupled decay"),
    "a step counter per parameter": ("adamw", lambda: bug(
        "adamw", 'state["step"] += 1', 'self.__dict__["_t"] = self.__dict__.get("_t", 0) + 1; state["step"] = self._t'),
        "advanced once per parameter"),
    "the update inside autograd": ("adamw", lambda: bug("adamw", "    @torch.no_grad()\n    def step", "    def step"),
                                   "the update ran inside autograd"),
    "per-tensor clipping": ("clip-grad-norm", lambda: bug(
        "clip-grad-norm", "    for g in grads:\n        g.mul_(factor)",
        "    for g in grads:\n        g.mul_(torch.clamp(max_norm / (g.norm() + 1e-6), max=1.0))"),
        "per-tensor instead of global clipping"),
    "warmup off by one": ("warmup-cosine", lambda: bug(
        "warmup-cosine", "return max_lr * step / warmup_steps", "return max_lr * (step + 1) / warmup_steps"),
        "warmup off by one"),
    "wsd decay from the end of warmup": ("wsd", lambda: bug(
        "wsd", "decay_start = max_steps - decay_steps", "decay_start = warmup_steps; decay_steps = max_steps - warmup_steps"),
        "the decay starts right after warmup"),
    "accumulation without dividing by k": ("grad-accumulation", lambda: bug(
        "grad-accumulation", "(loss / k).backward()", "loss.backward()"), "not divided by k"),
    "loss scaler that never skips": ("loss-scaling", lambda: bug(
        "loss-scaling", "        if finite:\n            optimizer.step()", "        optimizer.step()"),
        "the step was taken although a gradient was inf or nan"),
    "newton-schulz with cubic coefficients": ("newton-schulz", lambda: bug(
        "newton-schulz", "a, b, c = 3.4445, -4.7750, 2.0315", "a, b, c = 1.5, -0.5, 0.0"), "cubic coefficients"),
    "layer norms decayed": ("decay-groups", lambda: bug("decay-groups", "p.dim() >= 2", "p.dim() >= 1"),
                            "must not be"),
    "spikes kept in the window": ("spike-detector", lambda: bug(
        "spike-detector", "                self.spikes_in_a_row += 1\n",
        "                self.spikes_in_a_row += 1\n                self.losses.append(loss)\n"),
        "spikes were added to the window"),
}


@pytest.mark.parametrize("name", sorted(COMMON_BUGS))
def test_each_common_bug_fails_with_its_message(name, tmp_path):
    exercise_id, make_code, expected = COMMON_BUGS[name]
    rows = run_in_process(EXERCISES[exercise_id], make_code(), tmp_path)
    failed = [r for r in rows if not r["passed"]]
    assert failed, f"{name}: every test passed"
    assert expected in failed[0]["message"], failed[0]["message"]


def test_messages_name_the_first_step_and_both_values(tmp_path):
    code = bug("adamw", "m_hat = m / (1 - beta1 ** t)", "m_hat = m")
    message = [r for r in run_in_process(EXERCISES["adamw"], code, tmp_path) if not r["passed"]][0]["message"]
    assert "differs first at step 1" in message and "yours" in message and "PyTorch's" in message


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
