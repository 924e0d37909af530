"""Grading a learner's code: a job on the engine (bounded, cancellable) whose worker runs the
exercise's tests on the code inside the sandbox (app/exercises/sandbox.py), never importing it.

    result = await grade(engine, settings, allow_limits_only, learner, exercise, code)   # {"passed", "tests", "stdout", "wall_time_s"}

A time-out, a crash or the memory limit is a graded failure with a message saying which,
never an error of the server. Where bubblewrap cannot run, grading falls back to the
resource limits alone only for a server on loopback (a learner's own machine), or where the
operator set COURSE_SANDBOX_UNSAFE_OK=1; otherwise it is refused (GradingRefused, a 503).
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import secrets
from pathlib import Path

from app.serving.worker import job_context
from app.exercises.sandbox import Limits, SandboxUnavailable, bwrap_works, run_python

RUNNER = Path(__file__).parent / "sandboxed" / "runner.py"
SUITES = [["visible", "visible_tests.py"], ["hidden", "hidden_tests.py"]]


class GradingRefused(Exception):
    """No sandbox here and the operator did not allow running code with limits alone."""


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def grading_limits(settings, factor: float = 1.0) -> Limits:
    """The sandbox's limits for one grading; `factor` (an exercise's cpu_factor, at most 4) for
    an exercise whose tests train the tiny GPT."""
    return Limits(cpu_s=int(round(settings.grading_cpu_s * factor)), wall_s=settings.grading_wall_s * factor,
                  memory_bytes=settings.grading_memory_bytes)


TRAINING_LIMIT_FACTOR = 3  # train-with-your-code runs 100 steps of two models: more than a grading


def training_limits(settings) -> Limits:
    """Grading's limits, three times over: a from-scratch AdamW in Python loops trains 100 steps in
    about 10 s on an idle core, and a loaded 2-core machine stopped it at step 79 within grading's."""
    return Limits(cpu_s=settings.grading_cpu_s * TRAINING_LIMIT_FACTOR,
                  wall_s=settings.grading_wall_s * TRAINING_LIMIT_FACTOR,
                  memory_bytes=settings.grading_memory_bytes)


def choose_mode(sandbox: str, allow_limits_only: bool) -> str:
    """'bwrap', or 'rlimits' where bwrap cannot run and that is allowed; else GradingRefused."""
    if sandbox == "rlimits" and allow_limits_only:
        return "rlimits"
    works, why = bwrap_works()
    if works and sandbox != "rlimits":
        return "bwrap"
    if allow_limits_only:
        return "rlimits"
    raise GradingRefused(
        f"grading is refused: bubblewrap cannot run on this server ({why or 'COURSE_SANDBOX=rlimits'}), "
        f"and running learners' code with resource limits alone is allowed only when the server "
        f"listens on loopback, or with COURSE_SANDBOX_UNSAFE_OK=1 (see the README)")


def failure_reason(outcome, limits: Limits) -> str:
    """Why the process ended before every test reported, in words a learner can act on."""
    if outcome.timed_out:
        return (f"your code ran past the {limits.wall_s:g} s time limit and was stopped "
                f"(an endless loop, or waiting on something that never comes?)")
    if outcome.cpu_exceeded or outcome.signal == "SIGXCPU" or (outcome.signal == "SIGKILL" and "MemoryError" not in outcome.stderr
                                       and outcome.wall_time_s >= limits.cpu_s):
        return f"your code used more than {limits.cpu_s} s of CPU time and was stopped (an endless loop?)"
    if "MemoryError" in outcome.stderr or "Cannot allocate memory" in outcome.stderr or \
            "DefaultCPUAllocator: can't allocate" in outcome.stderr:
        return f"your code ran out of memory (the limit is {limits.memory_bytes // 2**20} MiB)"
    if outcome.signal:
        return f"the process running your code was ended by {outcome.signal}"
    last = (outcome.stderr.strip().splitlines() or [f"exit status {outcome.returncode}"])[-1]
    return f"the process running your code stopped before this test ran: {last[:300]}"


def grade_job(exercise_id: str, files: dict[str, str], module: str, names: list[list[str]],
              sandbox: str, allow_limits_only: bool, limits: dict) -> dict:
    """On a worker: run the tests on the code in the sandbox; the graded result."""
    limits = Limits(**limits)
    try:
        mode = choose_mode(sandbox, allow_limits_only)
    except GradingRefused as exc:
        return {"refused": str(exc)}
    nonce = secrets.token_hex(8)
    spec = {"module": module, "suites": SUITES, "nonce": nonce}
    files = {**files, "spec.json": json.dumps(spec), "grader_main.py": RUNNER.read_text(encoding="utf-8")}
    job_context.report({"status": "running"})
    try:
        outcome = run_python(files, "grader_main.py", limits, mode,
                             should_stop=lambda: not job_context.wanted())
    except SandboxUnavailable as exc:
        return {"refused": str(exc)}
    reported: dict[tuple[str, str], dict] = {}
    for line in outcome.result.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("nonce") == nonce:
            reported.setdefault((row.get("kind"), row.get("name")), row)
    reason = None
    tests = []
    for kind, name in names:
        row = reported.get((kind, name))
        if row is None:
            reason = reason or failure_reason(outcome, limits)
            tests.append({"name": name, "hidden": kind == "hidden", "passed": False, "message": reason})
        else:
            tests.append({"name": name, "hidden": kind == "hidden", "passed": bool(row.get("passed")),
                          "message": str(row.get("message", ""))[:2000]})
    stdout = outcome.stdout
    if outcome.stderr.strip() and (reason or outcome.returncode):
        stdout += ("\n" if stdout else "") + outcome.stderr[-4000:]
    return {"exercise": exercise_id, "passed": all(t["passed"] for t in tests) and bool(tests),
            "tests": tests, "stdout": stdout, "wall_time_s": outcome.wall_time_s, "sandbox": mode}


def job_key(exercise_id: str, code: str, learner: str) -> str:
    digest = hashlib.sha256(f"{exercise_id}\0{code}".encode()).hexdigest()[:20]
    return f"grade-{exercise_id}-{digest}-{learner[:12]}"


async def grade(engine, settings, allow_limits_only: bool, learner: str, exercise, code: str) -> dict:
    """Grade through the engine; raises QueueFull (503), GradingRefused, JobFailed.
    `allow_limits_only`: whether grading may fall back to resource limits alone (a server on
    loopback, or the operator's COURSE_SANDBOX_UNSAFE_OK)."""
    allow = allow_limits_only
    names = [["visible", n] for n in exercise.visible_names] + [["hidden", n] for n in exercise.hidden_names]
    from dataclasses import asdict

    handle = await engine.submit(job_key(exercise.id, code, learner), grade_job, exercise.id,
                                 exercise.sandbox_files(code), exercise.module, names,
                                 settings.sandbox, allow, asdict(grading_limits(settings, exercise.cpu_factor)),
                                 owner=(learner, f"exercise:{exercise.id}"))
    async with handle:
        result = await handle.result()
    if "refused" in result:
        raise GradingRefused(result["refused"])
    return result
