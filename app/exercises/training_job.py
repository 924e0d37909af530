""""Train with your code": an engine job that trains the tiny GPT with the learner's passing
code beside PyTorch's, inside the sandbox (app/exercises/sandboxed/training.py does the training there),
and reports every step's two losses as progress events, like every training widget.

The worker only starts the sandbox and relays its lines; it never imports the learner's code.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path

from app.exercises.grading import GradingRefused, choose_mode, failure_reason
from app.exercises.sandbox import Limits, SandboxUnavailable, run_python
from app.serving.worker import job_context
from widgets.lab import runtime

TRAINER = Path(__file__).parent / "sandboxed" / "training.py"
LAB_MODEL = Path(runtime.__file__).with_name("model.py")  # the lab's model, copied in as text
CORPUS_CHARS = 200_000  # the first 200k characters: plenty for a hundred small batches
SPEC = {"steps": 100, "batch_size": 8, "block_size": 32, "n_embd": 32, "seed": 1234, "lr": 1e-2,
        "warmup": 10, "max_norm": 0.5}
REPORT_EVERY = 5  # steps per progress event
# the learner's piece -> what the trainer swaps in
KINDS = {"optimizer": "your AdamW against torch.optim.AdamW",
         "clip": "your clip_grad_norm_ against torch.nn.utils.clip_grad_norm_",
         "schedule": "your cosine_with_warmup against PyTorch's LambdaLR on the formula"}


def train_job(kind: str, module: str, code: str, sandbox: str, allow_limits_only: bool, limits: dict) -> dict:
    """On a worker: train both models in the sandbox; {"steps", "yours", "torch"} or {"error"}."""
    limits = Limits(**limits)
    try:
        mode = choose_mode(sandbox, allow_limits_only)
    except GradingRefused as exc:
        return {"error": str(exc)}
    nonce = secrets.token_hex(8)
    # the corpus the widgets train on: this worker's, as its settings configured the lab
    corpus = runtime.current().corpus_path.read_text(encoding="utf-8")
    files = {f"{module}.py": code, "lab_model.py": LAB_MODEL.read_text(encoding="utf-8"),
             "trainer_main.py": TRAINER.read_text(encoding="utf-8"),
             "corpus.txt": corpus[:CORPUS_CHARS] + "".join(sorted(set(corpus))),  # every character once
             "train_spec.json": json.dumps({**SPEC, "kind": kind, "module": module, "nonce": nonce})}
    yours: list[float] = []
    theirs: list[float] = []
    state = {"error": None, "done": False, "sent": 0}

    def on_line(line: str) -> None:
        try:
            row = json.loads(line)
        except ValueError:
            return
        if not isinstance(row, dict) or row.get("nonce") != nonce:
            return
        if "error" in row:
            state["error"] = str(row["error"])[:1000]
        elif row.get("done"):
            state["done"] = True
        elif "step" in row:
            yours.append(float(row["yours"]))
            theirs.append(float(row["torch"]))
            if len(yours) - state["sent"] >= REPORT_EVERY:
                report()

    def report() -> None:
        start = state["sent"]
        job_context.report({"done": len(yours), "total": SPEC["steps"], "start": start,
                            "yours": yours[start:], "torch": theirs[start:]})
        state["sent"] = len(yours)

    try:
        outcome = run_python(files, "trainer_main.py", limits, mode,
                             should_stop=lambda: not job_context.wanted(), on_line=on_line)
    except SandboxUnavailable as exc:
        return {"error": str(exc)}
    except job_context.JobCancelled:
        raise
    if len(yours) > state["sent"]:
        report()
    if state["error"] is None and not state["done"]:
        state["error"] = failure_reason(outcome, limits)
    return {"steps": len(yours), "yours": yours, "torch": theirs, "error": state["error"],
            "wall_time_s": outcome.wall_time_s, "what": KINDS[kind]}


def job_key(exercise_id: str, code: str) -> str:
    return "train-" + exercise_id + "-" + hashlib.sha256(code.encode()).hexdigest()[:20]


def parting_step(yours: list[float], theirs: list[float], rtol: float = 1e-2) -> int | None:
    """The first step where the two losses differ by more than rtol (None: they coincide).
    Not bit for bit: float rounding differs with the order of operations, and training
    amplifies it (a correct AdamW drifts by a few tenths of a percent over 100 steps)."""
    for step, (a, b) in enumerate(zip(yours, theirs)):
        if abs(a - b) > rtol * abs(b):
            return step
    return None
