"""Helpers the exercises' tests share: compare your numbers with PyTorch's, find the first
step where they part, and name the likely cause.

Every test is a function `test_...(learner)` that receives your module and raises
AssertionError with a message you can act on.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch


def fail(message: str) -> None:
    raise AssertionError(message)


def as_floats(value) -> list[float]:
    if isinstance(value, torch.Tensor):
        return [float(v) for v in value.detach().reshape(-1).double()]
    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            out += as_floats(item)
        return out
    return [float(value)]


def close(a, b, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    xs, ys = as_floats(a), as_floats(b)
    if len(xs) != len(ys):
        return False
    return all(x == y or (math.isnan(x) and math.isnan(y)) or abs(x - y) <= atol + rtol * abs(y)
               for x, y in zip(xs, ys))


def first_difference(yours: list, theirs: list, rtol: float = 1e-6, atol: float = 1e-8) -> int | None:
    """The index of the first item of `yours` that differs from `theirs` (None: all agree)."""
    for index, (a, b) in enumerate(zip(yours, theirs)):
        if not close(a, b, rtol, atol):
            return index
    return None if len(yours) == len(theirs) else min(len(yours), len(theirs))


def short(value, digits: int = 8) -> str:
    xs = as_floats(value)
    shown = ", ".join(f"{x:.{digits}g}" for x in xs[:4]) + (", ..." if len(xs) > 4 else "")
    return shown if len(xs) != 1 else f"{xs[0]:.{digits}g}"


def likely_cause(yours: list, candidates: dict[str, list], rtol: float = 1e-5, atol: float = 1e-7) -> str:
    """The text of the first candidate (a known bug, simulated) that your numbers match."""
    for cause, series in candidates.items():
        if first_difference(yours, series, rtol, atol) is None:
            return cause
    return ""


def compare_series(what: str, yours: list, theirs: list, label: str = "step", *,
                   rtol: float = 1e-6, atol: float = 1e-8, bugs: dict[str, list] | None = None,
                   reference: str = "PyTorch", at: list | None = None) -> None:
    """Fail at the first index where `yours` and `theirs` differ, with both values and the
    known bug your numbers match, if any (`at`: what to call each index, e.g. its step)."""
    index = first_difference(yours, theirs, rtol, atol)
    if index is None:
        return
    if index >= min(len(yours), len(theirs)):
        fail(f"{what}: you gave {len(yours)} values, {reference} {len(theirs)}")
    cause = likely_cause(yours, bugs or {})
    where = at[index] if at is not None else index
    message = (f"{what} differs first at {label} {where}: "
               + show_difference(yours[index], theirs[index], reference, rtol, atol))
    fail(message + (f". Likely cause: {cause}" if cause else ""))


def show_difference(yours, theirs, reference: str = "PyTorch", rtol: float = 1e-6, atol: float = 1e-8) -> str:
    """'yours 1, PyTorch's 2'; for many numbers, from the first entry that differs (the first
    four entries may well agree, and four equal pairs explain nothing)."""
    xs, ys = as_floats(yours), as_floats(theirs)
    if len(xs) <= 1 or len(xs) != len(ys):
        return f"yours {short(yours)}, {reference}'s {short(theirs)}"
    entry = first_difference(xs, ys, rtol, atol) or 0
    return (f"entry {entry} of {len(xs)}: yours {xs[entry]:.8g}, {reference}'s {ys[entry]:.8g}")


class ReferenceCalled(AssertionError):
    """The learner's code called the PyTorch function it is meant to replace."""


@contextmanager
def forbid(targets: list[tuple[object, str]], what: str, learner=None):
    """Within the block, calling any of `targets` (module, attribute) fails the test with a
    message naming `what`: the exercise is to write it, not to wrap PyTorch's. Patched where
    PyTorch itself looks them up, so PyTorch's public wrappers are caught too; a target the
    learner's module imported by name (`from ... import f`) is caught by looking at its names.
    A learner who catches the error still fails: the call is remembered."""
    called = []
    saved = [(owner, name, getattr(owner, name)) for owner, name in targets]
    message = (f"your code called PyTorch's own {what}: the exercise is to write it yourself "
               f"(the tests compare yours with PyTorch's, so wrapping it proves nothing)")
    if learner is not None and any(value is original for value in vars(learner).values()
                                   for _, _, original in saved):
        fail(message.replace("called", "imports", 1))

    def refuse(*args, **kwargs):
        called.append(True)
        raise ReferenceCalled(message)

    for owner, name, _ in saved:
        setattr(owner, name, refuse)
    try:
        yield
    except BaseException:
        if called:  # whatever the learner's code did after the refused call, that call is the cause
            fail(message)
        raise
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
    if called:
        fail(message)


AUTOGRAD_IN_PLACE = ("Likely cause: the update ran inside autograd. Parameters are leaves that "
                     "require grad: update them under torch.no_grad() (decorate step with "
                     "@torch.no_grad()) so the update is not recorded in the graph")


def explain_exception(exc: BaseException) -> str:
    """A hint for errors learners commonly hit (the runner adds it to the message)."""
    text = str(exc)
    if isinstance(exc, RuntimeError) and "leaf Variable that requires grad" in text:
        return AUTOGRAD_IN_PLACE
    if isinstance(exc, RuntimeError) and "being called after step()" in text:
        return ("Likely cause: scaler.update() was not called after scaler.step(): every step ends "
                "with update(), which also clears the record that this step was unscaled")
    if isinstance(exc, RuntimeError) and "does not require grad and does not have a grad_fn" in text:
        return "Likely cause: the loss was computed under torch.no_grad(), so there is nothing to backpropagate"
    return ""


def check_no_graph(params) -> None:
    """After a step, parameters must still be leaves with no history (no update in autograd)."""
    for index, p in enumerate(params):
        if p.grad_fn is not None or not p.is_leaf:
            fail(f"parameter {index} has a grad_fn after your step. " + AUTOGRAD_IN_PLACE)
