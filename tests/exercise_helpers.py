"""What the exercise tests share: the in-sandbox runner run in this process on trusted code
(the reference solutions, their named bugs, the chapters' own code), each exercise's named
bugs (content/exercises/<id>/bugs.toml), and the chapters' code turned into exercise modules."""
from __future__ import annotations

import importlib.util
import os
import re
import sys
import textwrap
import tomllib
import warnings
from pathlib import Path

from app.course.exercises import load_exercises
from app.settings import Settings

CONTENT = Settings().content_dir
EXERCISES = load_exercises(CONTENT)
RUNNER = Path(__file__).resolve().parents[1] / "app" / "exercises" / "sandboxed" / "runner.py"


def run_in_process(exercise, code: str, tmp_path: Path) -> list[dict]:
    """The runner on `code` in a fresh directory, its module names purged before and after."""
    work = tmp_path / exercise.id
    work.mkdir(exist_ok=True)
    files = exercise.sandbox_files(code)
    for name, text in files.items():
        (work / name).write_text(text)
    spec = importlib.util.spec_from_file_location("exercise_runner_under_test", RUNNER)
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
        with warnings.catch_warnings(record=True):  # the learner's code's warnings (PyTorch's about a
            # scheduler stepped first, in a named bug) are the runner's business, as in the sandbox
            runner.run({"module": exercise.module,
                        "suites": [["visible", "visible_tests.py"], ["hidden", "hidden_tests.py"]]},
                       lambda **row: rows.append(row))
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
        for name in names:
            sys.modules.pop(name, None)
    return rows


# --- named bugs ----------------------------------------------------------------------------------
def named_bugs(exercise_id: str) -> list[dict]:
    path = CONTENT / "exercises" / exercise_id / "bugs.toml"
    return tomllib.loads(path.read_text())["bug"] if path.exists() else []


def buggy_code(exercise_id: str, bug: dict) -> str:
    """The reference solution with the bug's edits (each must apply), or its whole module."""
    if "code" in bug:
        return bug["code"]
    code = EXERCISES[exercise_id].solution
    assert len(bug["replace"]) == len(bug["with"]), bug["name"]
    for old, new in zip(bug["replace"], bug["with"]):
        assert old in code, f"{exercise_id} / {bug['name']}: {old!r} is not in the solution"
        code = code.replace(old, new)
    return code


# --- the chapters' own code ----------------------------------------------------------------------
def chapter_text(prefix: str) -> str:
    path = next((CONTENT / "chapters").glob(f"{prefix}-*.md"))
    return path.read_text(encoding="utf-8")


def python_block(prefix: str, marker: str) -> str:
    """The chapter's one ```python block that contains `marker`."""
    blocks = [b for b in re.findall(r"```python\n(.*?)```", chapter_text(prefix), re.S) if marker in b]
    assert len(blocks) == 1, f"chapter {prefix}: {len(blocks)} python blocks contain {marker!r}"
    return blocks[0]


def lines_between(block: str, first: str, last: str | None = None) -> str:
    """The block's lines from the one containing `first` to the one containing `last`."""
    lines = block.splitlines()
    start = next(i for i, line in enumerate(lines) if first in line)
    end = next(i for i, line in enumerate(lines) if i >= start and last in line) if last else len(lines) - 1
    return textwrap.dedent("\n".join(lines[start:end + 1]))


def indent(code: str) -> str:
    return textwrap.indent(code, "    ")


IMPORTS = "import math\n\nimport torch\nimport torch.nn.functional as F\n\n\n"


def chapter_training_step() -> str:
    """Chapter 1's step, its check 1 and its check 2, each as the exercise's function (the
    loop bodies as they are; only the clip threshold and the checks' pass/fail are parameters)."""
    step = lines_between(python_block("01", "optimizer.zero_grad(set_to_none=True)  # 6."), "logits = model(x)")
    step = step.replace("clip_grad_norm_(model.parameters(), 1.0)", "clip_grad_norm_(model.parameters(), max_norm)")
    check1 = python_block("01", "sigma = 0.02 * math.sqrt(d_model)")
    check1 = check1.replace("import math\n", "")
    check1 = re.sub(r'print\(f"initial loss.*\n', "", check1)
    check1 = re.sub(r"assert abs\(loss0 - expected\) < 0\.5, .*\n", "ok = abs(loss0 - expected) < tolerance\n", check1)
    check2 = lines_between(python_block("01", "# one batch, reused every step"), "for step in range(100)",
                           "optimizer.zero_grad(set_to_none=True)").replace("range(100)", "range(steps)")
    return (IMPORTS
            + "def train_step(model, batch, optimizer, scheduler, max_norm=1.0):\n    x, y = batch\n"
            + indent(step) + "\n    return loss.item()\n\n\n"
            + "def initial_loss_check(model, batch, vocab_size, tolerance=0.5):\n    x, y = batch\n"
            + "    d_model = 32  # the tests' model's width\n"
            + indent(check1) + "\n    return ok, loss0\n\n\n"
            + "def overfit_check(model, batch, optimizer, steps=100, target=0.1):\n    x, y = batch\n"
            + indent(check2) + "\n    return loss.item() < target, loss.item()\n")


def chapter_lr_factor() -> str:
    """Chapter 3's lr_factor, as it is, reading its four constants from the call."""
    block = python_block("03", "def lr_factor")
    function = block[block.index("def lr_factor"):]
    return IMPORTS + function[:function.index("\n\n")] + "\n"


def chapter_warmup_cosine() -> str:
    return chapter_lr_factor() + '''

def cosine_with_warmup(step, *, warmup_steps, max_steps, max_lr, min_lr=0.0):
    global peak, floor, warmup, total
    peak, floor, warmup, total = max_lr, min_lr, warmup_steps, max_steps
    return max_lr * lr_factor(step)
'''


def chapter_wsd() -> str:
    """WSD with chapter 3's warmup: the warmup branch of lr_factor, a stable phase and a linear decay."""
    block = python_block("03", "def lr_factor")
    warmup = lines_between(block, "if step < warmup:", "return (step + 1) / warmup")
    return IMPORTS + "def wsd(step, *, warmup_steps, decay_steps, max_steps, max_lr, min_lr=0.0):\n" \
        + "    warmup = warmup_steps\n" + indent(warmup.replace("return (", "return max_lr * (")) + '''
    decay_start = max_steps - decay_steps
    if step < decay_start:
        return max_lr
    if step >= max_steps:
        return min_lr
    return max_lr + (min_lr - max_lr) * (step - decay_start) / decay_steps
'''


def chapter_accumulation() -> str:
    """Chapter 4's accumulation loop (with its clip), over the given micro-batches."""
    block = python_block("04", "(loss / k).backward()")
    body = lines_between(block, "optimizer.zero_grad", "optimizer.step()")
    body = body.replace("for j in range(k):\n    x, y = next(micro_batches)", "for x, y in micro_batches:")
    body = body.replace("F.cross_entropy(model(x).flatten(0, 1), y.flatten())", "loss_fn(model(x), y)")
    body = body.replace("    (loss / k).backward()", "    total += loss.item()\n    (loss / k).backward()")
    body = body.replace("torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)",
                        "if max_norm is not None:\n    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)")
    return IMPORTS + "def accumulate_and_step(model, loss_fn, micro_batches, optimizer, max_norm=None):\n" \
        + "    micro_batches = list(micro_batches)\n    k = len(micro_batches)\n    total = 0.0\n" \
        + indent(body) + "\n    return total / k\n"


def chapter_decay_groups() -> str:
    block = python_block("06", "decay, no_decay = [], []")
    loop = lines_between(block, "decay, no_decay = [], []", "(decay if p.dim() >= 2 else no_decay).append(p)")
    return IMPORTS + "def decay_groups(model, weight_decay):\n" + indent(loop) \
        + '\n    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]\n'


def chapter_loss_scaling() -> str:
    """The reference LossScaler (the chapter teaches the loop, not the class) and chapter 7's
    loop body as clipped_step."""
    block = python_block("07", "scaler.unscale_(optimizer)")
    body = lines_between(block, "scaler.scale(loss).backward()", "scaler.update()")
    body = body.replace("torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)",
                        "norm = torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups "
                        "for p in g['params']], max_norm)")
    solution = EXERCISES["loss-scaling"].solution
    scaler = solution[:solution.index("def clipped_step")]
    return scaler + "def clipped_step(scaler, loss, optimizer, max_norm):\n" + indent(body) + "\n    return norm\n"


def chapter_newton_schulz() -> str:
    return "import torch\n\n\n" + python_block("09", "def newton_schulz")


CHAPTER_CODE = {  # exercise -> its chapter's own code, made into the exercise's module
    "training-step": chapter_training_step,
    "warmup-cosine": chapter_warmup_cosine,
    "wsd": chapter_wsd,
    "grad-accumulation": chapter_accumulation,
    "decay-groups": chapter_decay_groups,
    "loss-scaling": chapter_loss_scaling,
    "newton-schulz": chapter_newton_schulz,
}
# The chapters that show no code of their own for the exercise (they call PyTorch's, teach a
# different rule, or show no code): said here so that a new exercise has to choose.
NO_CHAPTER_CODE = {
    "adamw": "chapter 2 shows torch.optim.AdamW's settings, not an implementation",
    "clip-grad-norm": "chapter 5 calls torch.nn.utils.clip_grad_norm_",
    "spike-detector": "chapter 8's skip rule is norm-based with a warm EMA, not this loss-window detector",
    "checkpoint-resume": "chapter 8 lists what a checkpoint holds, in prose",
    "debug-this-run": "chapter 10's config is an LLM-scale example, not this run",
}
