"""Branching a run from a mid-run checkpoint: WSD's "decay now".

A WSD run holds its peak LR, so at any step of the stable phase one can take a
checkpoint (weights + optimizer state), decay the LR to the floor over a short
window, and get a finished model, while the stable run carries on.

Two ways to get that branch, and why they are the same:

* `branch_from_checkpoint(trainer, run, schedule)`: a deep copy of a LockstepTrainer
  (model weights, AdamW moments and step counts, the batch stream's generator) whose
  run `run` then follows a new schedule. This is the literal checkpoint-and-branch.
* A lockstep run whose schedule is `DecayBranch(base, at, window, min_lr)`: equal to
  `base` before step `at`, decaying from step `at` on. Lockstep runs start from the same
  weights, read the same batches and do not interact, so up to step `at` this run does
  exactly what the base run does: after `at` updates its weights and optimizer state
  ARE the checkpoint. From then on it reads the batches the branch would read from the
  copied stream. The tests check both: identical histories up to the branch step, and
  the same post-branch history as `branch_from_checkpoint`.

Step t's update uses lr_at(t) (see schedules.py). A branch "at step b" starts from the
checkpoint taken after b updates (steps 0..b-1); its first decayed update is step b and
it reaches `min_lr` at step b + window - 1, the last update of the window.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace

from widgets.lab.schedules import Schedule
from widgets.lab.trainer import LockstepTrainer


@dataclass(frozen=True)
class DecayBranch:
    """`base` until step `at`, then a linear decay to `min_lr` over `window` updates."""

    base: Schedule
    at: int
    window: int
    min_lr: float

    def __post_init__(self):
        if self.window < 1:
            raise ValueError("the decay window needs at least one step")
        if self.at < 0:
            raise ValueError("the branch step must be at least 0")

    @property
    def peak_lr(self) -> float:
        return self.base.peak_lr

    def lr_at(self, step: int) -> float:
        if step < self.at:
            return self.base.lr_at(step)
        start = self.base.lr_at(self.at - 1) if self.at > 0 else self.base.lr_at(0)
        progress = min(1.0, (step - self.at + 1) / self.window)
        return start + (self.min_lr - start) * progress

    def factor_at(self, step: int) -> float:
        return self.lr_at(step) / self.peak_lr

    @property
    def end(self) -> int:
        """The last step of the decay window (its LR is min_lr)."""
        return self.at + self.window - 1


def branch_from_checkpoint(trainer: LockstepTrainer, run: int, schedule) -> LockstepTrainer:
    """A copy of `trainer` as it is now (a checkpoint) whose run `run` follows `schedule`.

    The original trainer is untouched and can carry on; the copy continues from the
    same weights, optimizer moments and batch-stream position.
    """
    twin = copy.deepcopy(trainer)
    runs = list(twin.spec.runs)
    runs[run] = replace(runs[run], schedule=schedule)
    twin.spec = replace(twin.spec, runs=tuple(runs))
    twin.refresh_schedules()  # the LR table follows the new schedule from the next step on
    return twin
