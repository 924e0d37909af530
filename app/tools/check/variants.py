"""Variants of predict questions (app/course/variants.py), checked on the real runs: every
setting is a valid setting on the widget's slider grid, its run has exactly one option whose
condition holds, and the authored parameters make the authored correct option the one."""
from __future__ import annotations

from app.course.expr import ExprError, explain, names_for
from app.course.variants import holding
from app.serving.precompute.moves import on_grid
from app.tools.check.run_cache import RecordedRuns


def setting_problems(widget, quiz, where: str) -> list[str]:
    """Without running anything: each setting names known parameters, in bounds, on the grid."""
    problems = []
    params = {p.name: p for p in widget.params}
    for n, setting in enumerate(quiz.predict.variants.settings, 1):
        what = f"{where}: predict question {quiz.id}: variant {n} {setting}"
        unknown = sorted(set(setting) - set(params))
        if unknown:
            problems.append(f"{what}: widget {widget.name} has no parameters {unknown}")
            continue
        try:
            values = widget.canonicalize({**quiz.predict.params, **setting})
        except Exception as exc:  # ParamError: out of bounds, wrong type
            problems.append(f"{what}: {getattr(exc, 'message', exc)}")
            continue
        off = [k for k in setting if values[k] != setting[k] or not on_grid(params[k], values[k])]
        if off:
            problems.append(f"{what}: {', '.join(off)} not on the slider's grid (a learner could not set it, "
                            f"and precompute would not find it); pick a value the slider stops at")
    return problems


def variant_problems(widget, quiz, where: str, runs: RecordedRuns, log=None) -> list[str]:
    """Run the authored setting and every variant (or reuse the recorded runs) and check that
    exactly one option holds at each, the authored correct one at the authored setting."""
    variants = quiz.predict.variants
    problems = []
    authored = quiz.correct_indices[0]
    cases = [("the authored params", {}), *((f"variant {n} {s}", s) for n, s in enumerate(variants.settings, 1))]
    for label, setting in cases:
        values = widget.canonicalize({**quiz.predict.params, **setting})
        try:
            data, _ = runs.run(widget, values)
        except Exception as exc:
            problems.append(f"{where}: predict question {quiz.id}: {label}: running {widget.name} failed: {exc!r}")
            continue
        names = names_for(data, values)
        try:
            found = holding(variants, names)
        except ExprError as exc:
            problems.append(f"{where}: predict question {quiz.id}: {label}: a condition cannot be evaluated: {exc}")
            continue
        if len(found) != 1:
            said = "; ".join(f"option {i}: {explain(o.when, names)}" for i, o in enumerate(variants.options))
            problems.append(f"{where}: predict question {quiz.id}: {label}: {len(found)} options hold on the real "
                            f"run (exactly one must, with a margin): {said}")
        elif not setting and found[0] != authored:
            problems.append(f"{where}: predict question {quiz.id}: at the authored params the conditions pick "
                            f"option {found[0]}, but option {authored} is marked correct")
        if log:
            log(f"  variant check {quiz.id} {label}: option {found}")
    return problems
