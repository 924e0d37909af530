"""Step hooks: how a widget reaches into the lockstep trainer's step (widgets/lab/trainer.py)
without a loop of its own. A hook may change what backward differentiates, refuse a run's
update, roll a run back, and record extra numbers per step and run.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch

if TYPE_CHECKING:
    from widgets.lab.trainer import LockstepTrainer


class StepHook:
    """Override what you need; every method is optional."""

    metric_names: tuple[str, ...] = ()  # the keys metrics() returns: a report before the first step has them, empty

    def before_step(self, trainer: "LockstepTrainer") -> None:
        """Called before the batch is drawn."""

    def objective(self, trainer: "LockstepTrainer", objective: torch.Tensor) -> torch.Tensor:
        """What backward differentiates, per run (e.g. the loss times a loss scale)."""
        return objective

    def accept(self, trainer: "LockstepTrainer", norm: torch.Tensor, finite: torch.Tensor) -> Sequence[bool] | None:
        """Which runs take this step's update (None: all). A refused run's weights, optimizer
        state and step count stay exactly as they were: as if it never saw the batch."""
        return None

    def after_step(self, trainer: "LockstepTrainer", accepted: Sequence[bool] | None) -> None:
        """Called after the update (e.g. to roll a run back to a checkpoint)."""

    def metrics(self, trainer: "LockstepTrainer") -> dict[str, torch.Tensor]:
        """Extra per-step numbers, each (R, ...): recorded for every run still training."""
        return {}

    def annotate(self, trainer: "LockstepTrainer", result: dict) -> None:
        """Add to the result (e.g. the steps a run skipped)."""


class WeightsMoved(StepHook):
    """Per step and run: how far the update moved the weights, ||theta_after - theta_before||."""

    metric_names = ("moved",)

    def before_step(self, trainer) -> None:
        self.before = [b.clone() for b in trainer.params.buffers()]

    def metrics(self, trainer) -> dict:
        squares = sum((now.double() - old.double()).square().sum(1)
                      for old, now in zip(self.before, trainer.params.buffers()))
        return {"moved": squares.sqrt()}
