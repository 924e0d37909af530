"""The three linear-warmup conventions in use, which the schedule exercises all accept.

They differ only in where the ramp starts: the LR at step s < warmup_steps is max_lr times

    zero-start   s / w              0 at step 0 (Hugging Face's schedulers, CS336)
    course       (s + 1) / w        chapter 3's code: the first update already moves
    nanogpt      (s + 1) / (w + 1)  nanoGPT's get_lr: a notch below max_lr at the last warmup step

and all three give max_lr from step w on. None is "off by one"; a schedule must use one of
them for every warmup step. Real warmup bugs (a ramp measured against the wrong length, one
that starts below zero) match none and are named.
"""
from __future__ import annotations

from checks import close

CONVENTIONS = {
    "zero-start": "max_lr * step / warmup_steps (0 at step 0, as Hugging Face and CS336 do)",
    "course": "max_lr * (step + 1) / warmup_steps (chapter 3's code)",
    "nanogpt": "max_lr * (step + 1) / (warmup_steps + 1) (nanoGPT's)",
}


def warmup_fraction(step: int, warmup_steps: int, convention: str) -> float:
    """The fraction of max_lr at a warmup step (step < warmup_steps)."""
    if convention == "course":
        return (step + 1) / warmup_steps
    if convention == "nanogpt":
        return (step + 1) / (warmup_steps + 1)
    return step / warmup_steps


def convention_of(yours: list[float], steps: list[int], warmup_steps: int, max_lr: float) -> str | None:
    """The convention your LRs follow on every warmup step among `steps` ('zero-start' when
    there is no warmup step to tell them apart); None: they follow none of them."""
    at = [(s, lr) for s, lr in zip(steps, yours) if s < warmup_steps]
    for convention in CONVENTIONS:
        if all(close(lr, max_lr * warmup_fraction(s, warmup_steps, convention), rtol=1e-6, atol=1e-12)
               for s, lr in at):
            return convention
    return None


def no_convention_message(yours: list[float], steps: list[int], warmup_steps: int, max_lr: float) -> str:
    """Why a warmup matches none of the conventions: where it leaves the one it follows longest."""
    at = [(s, lr) for s, lr in zip(steps, yours) if s < warmup_steps]
    departures = []
    for convention in CONVENTIONS:
        for s, lr in at:
            expected = max_lr * warmup_fraction(s, warmup_steps, convention)
            if not close(lr, expected, rtol=1e-6, atol=1e-12):
                departures.append((s, convention, lr, expected))
                break
    s, convention, lr, expected = max(departures)
    accepted = "; ".join(CONVENTIONS.values())
    return (f"the warmup follows none of the three conventions in use: closest is "
            f"{CONVENTIONS[convention]}, which gives {expected:.8g} at step {s} where yours is {lr:.8g}. "
            f"Any one convention passes, if every warmup step follows it: {accepted}")
