"""Predict questions checked against the real run of their widget."""
from __future__ import annotations

import time

from app.tools.check.run_cache import RecordedRuns
from app.course.expr import ExprError, evaluate, explain, names_for


def prediction_problems(widget, values: dict, questions: list, log=None,
                        runs: RecordedRuns | None = None) -> list[str]:
    """Run `widget` at `values` once (or reuse its recorded run) and evaluate every check of
    `questions` ([(where, quiz)]) on it; one sentence per check that fails."""
    started = time.monotonic()
    runs = runs or RecordedRuns(None)
    try:
        data, reused = runs.run(widget, values)
    except Exception as exc:  # a widget that fails is itself a problem to report
        return [f"{where}: predict question {quiz.id}: running widget {widget.name} failed: {exc!r}"
                for where, quiz in questions]
    how = "reused the recorded run of" if reused else "ran"
    if log:
        log(f"  {how} {widget.name} {values} for {', '.join(q.id for _, q in questions)} "
            f"({time.monotonic() - started:.1f} s)")
    names = names_for(data, values)
    return [problem for where, quiz in questions for check in quiz.predict.checks
            if (problem := _check_problem(where, quiz, check, widget, names))]


def _check_problem(where: str, quiz, check: str, widget, names: dict) -> str | None:
    try:
        ok = evaluate(check, names)
    except ExprError as exc:
        return (f"{where}: predict question {quiz.id}: the check {check!r} cannot be "
                f"evaluated on the real run: {exc}")
    if not isinstance(ok, bool):
        return (f"{where}: predict question {quiz.id}: the check {check!r} must be a "
                f"comparison (true or false), it gives {ok!r}")
    if not ok:
        return (f"{where}: predict question {quiz.id}: the check is FALSE on the real run "
                f"of {widget.name}: {explain(check, names)}. The correct option must be "
                f"true of the real run: fix the option (and its check), or the parameters")
    return None
