""""Train with your code": an engine job that trains the tiny GPT with the learner's code
(passing or not: what a bug does to training is worth seeing) beside a reference, inside the
sandbox (app/exercises/sandboxed/training.py does the training there), and reports every step's two
losses as progress events, like every training widget. A loss that is not finite (the run
diverged) travels as None, so every event is valid JSON.

The worker only starts the sandbox and relays its lines; it never imports the learner's code.
"""
from __future__ import annotations

import hashlib
import json
import math
import secrets
from pathlib import Path

from app.serving.worker import job_context
from app.exercises.grading import GradingRefused, choose_mode, failure_reason
from app.exercises.sandbox import Limits, SandboxUnavailable, run_python

TRAINER = Path(__file__).parent / "sandboxed" / "training.py"
SPEC = {"steps": 100, "batch_size": 8, "block_size": 32, "n_embd": 32, "seed": 1234, "lr": 1e-2,
        "warmup": 10, "max_norm": 0.5}
REPORT_EVERY = 5  # steps per progress event
# the learner's piece -> what the trainer swaps in, and what the reference curve is called
KINDS = {"optimizer": "your AdamW against torch.optim.AdamW",
         "clip": "your clip_grad_norm_ against torch.nn.utils.clip_grad_norm_",
         "schedule": "your cosine_with_warmup against PyTorch's LambdaLR on the formula",
         "config": "your config against a healthy fix of the broken one"}
REFERENCE_NAMES = {"optimizer": "PyTorch's", "clip": "PyTorch's", "schedule": "PyTorch's",
                   "config": "the healthy fix"}


def finite_or_none(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def train_job(kind: str, module: str, code: str, support: dict, reference: dict | None, sandbox: str,
              allow_limits_only: bool, limits: dict) -> dict:
    """On a worker: train both models in the sandbox. {"steps", "yours", "torch", "error", ...}:
    the losses per step (None where a run diverged), and lr_yours/lr_torch for a config.
    `support`: the files the sandbox gets besides the learner's module (the lab's model, the
    corpus, the exercise's helpers); `reference`: the fixed config, for a config."""
    limits = Limits(**limits)
    try:
        mode = choose_mode(sandbox, allow_limits_only)
    except GradingRefused as exc:
        return {"error": str(exc)}
    nonce = secrets.token_hex(8)
    files = {**support, f"{module}.py": code, "trainer_main.py": TRAINER.read_text(encoding="utf-8"),
             "train_spec.json": json.dumps({**SPEC, "kind": kind, "module": module, "nonce": nonce,
                                            "reference": reference})}
    yours: list[float | None] = []
    theirs: list[float | None] = []
    lrs: dict[str, list] = {"lr_yours": [], "lr_torch": []}
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
            yours.append(finite_or_none(row.get("yours")))
            theirs.append(finite_or_none(row.get("torch")))
            if "lr_yours" in row:
                lrs["lr_yours"].append(finite_or_none(row.get("lr_yours")))
                lrs["lr_torch"].append(finite_or_none(row.get("lr_torch")))
            if len(yours) - state["sent"] >= REPORT_EVERY:
                report()

    def report() -> None:
        start = state["sent"]
        event = {"done": len(yours), "total": SPEC["steps"] if kind != "config" else None, "start": start,
                 "yours": yours[start:], "torch": theirs[start:]}
        if lrs["lr_yours"]:
            event.update({k: v[start:] for k, v in lrs.items()})
        job_context.report(event)
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
            "wall_time_s": outcome.wall_time_s, "what": KINDS[kind], **(lrs if lrs["lr_yours"] else {})}


def job_key(exercise_id: str, code: str) -> str:
    return "train-" + exercise_id + "-" + hashlib.sha256(code.encode()).hexdigest()[:20]


def parting_step(yours: list, theirs: list, rtol: float = 1e-2) -> int | None:
    """The first step where the two losses differ by more than rtol, or where one of them is
    not finite and the other is (None: they coincide). Not bit for bit: float rounding
    differs with the order of operations, and training amplifies it (a correct AdamW drifts by
    a few tenths of a percent over 100 steps)."""
    for step, (a, b) in enumerate(zip(yours, theirs)):
        if (a is None) != (b is None) or (a is not None and abs(a - b) > rtol * abs(b)):
            return step
    return None


def diverged_step(losses: list) -> int | None:
    """The first step whose loss was nan or inf (None: none was)."""
    return next((step for step, value in enumerate(losses) if value is None), None)
