"""Recovering from a loss spike: skip the bad batch, or roll back to a checkpoint.

Runs trained in lockstep (same initial weights, same batches, see trainer.py) can
each follow a different recovery policy, given to the trainer as one `Recovery` hook:

* "none": train on whatever comes (a run may still clip, through RunConfig.clip);
* "skip": when the spike detector flags a step, that run's update is dropped: its
  weights AND its AdamW state (m, v and its own step count) stay exactly as they were,
  as if the batch had never been seen (the trainer's accept mask, see optim.py);
* "rollback": when the detector flags a step, the run drops that update and restores
  the weights and optimizer state it had `rollback_steps` updates earlier (the
  checkpoint), then carries on with the next batches. The batches in between are
  not replayed: like PaLM's restarts, the data around the spike is skipped. The run
  loses those updates' progress.

The spike detector is the usual one: a step is flagged when its gradient norm
(before clipping) is more than `factor` times the median norm of that run's last
`window` accepted steps; nothing is flagged before `min_history` accepted steps.
The detector reads each step's norms on the host: the spike lab is the one run that
synchronises every step (free on a CPU, where the numbers are already there).
"""
from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass


from widgets.lab.seeds import per_seed
from widgets.lab.hooks import StepHook
from widgets.lab.trainer import LockstepTrainer, TrainSpec

POLICIES = ("none", "skip", "rollback")


@dataclass(frozen=True)
class RecoveryPolicy:
    kind: str = "none"  # "none", "skip" or "rollback"
    rollback_steps: int = 10  # rollback: how many updates before the flagged step to restore

    def __post_init__(self):
        if self.kind not in POLICIES:
            raise ValueError(f"unknown recovery policy {self.kind!r}")
        if self.rollback_steps < 0:
            raise ValueError("rollback_steps must be at least 0")


@dataclass(frozen=True)
class SpikeDetector:
    factor: float = 3.0  # flag a gradient norm above factor x the recent median
    window: int = 20  # accepted steps in the median
    min_history: int = 20  # flag nothing before this many accepted steps

    def flags(self, norm: float, recent: deque) -> bool:
        if len(recent) < self.min_history:
            return False
        return norm > self.factor * statistics.median(recent)


class Recovery(StepHook):
    """One RecoveryPolicy per run, acting through the trainer's accept mask and checkpoints."""

    def __init__(self, policies: tuple[RecoveryPolicy, ...], detector: SpikeDetector = SpikeDetector()):
        self.policies = tuple(policies)
        self.detector = detector
        R = len(self.policies)
        self.recent = [deque(maxlen=detector.window) for _ in range(R)]  # accepted gradient norms
        depth = max([p.rollback_steps for p in self.policies if p.kind == "rollback"], default=0) + 1
        self.checkpoints = [deque(maxlen=depth) for _ in range(R)]  # start-of-step states, newest last
        self.skipped: list[list[int]] = [[] for _ in range(R)]  # steps whose update was dropped
        self.rollbacks: list[list[list[int]]] = [[] for _ in range(R)]  # [flagged step, updates undone]
        self.flagged: list[bool] = [False] * R

    def before_step(self, trainer) -> None:
        if len(self.policies) != len(trainer.spec.runs):
            raise ValueError("one recovery policy per run")
        if any(p.kind == "rollback" for p in self.policies):
            alive = trainer.alive.tolist()
            for r, policy in enumerate(self.policies):  # a checkpoint at the start of every step
                if policy.kind == "rollback" and alive[r]:
                    self.checkpoints[r].append(trainer.optimizer.run_state(r))

    def accept(self, trainer, norm, finite) -> list[bool]:
        norms, finite = norm.tolist(), finite.tolist()
        for r, policy in enumerate(self.policies):
            self.flagged[r] = False
            if not finite[r]:
                continue
            if policy.kind != "none" and self.detector.flags(norms[r], self.recent[r]):
                self.flagged[r] = True
            else:
                self.recent[r].append(norms[r])
        return [f and not flagged for f, flagged in zip(finite, self.flagged)]

    def after_step(self, trainer, accepted) -> None:
        for r, flagged in enumerate(self.flagged):
            if not flagged:
                continue
            if self.policies[r].kind == "skip":
                self.skipped[r].append(trainer.step)
            else:
                self._rollback(trainer, r)

    def _rollback(self, trainer, r: int) -> None:
        """Restore the checkpoint `rollback_steps` updates before this step (or the oldest one kept).

        The newest checkpoint is the state at the start of this step; the one k places
        before it undoes k accepted updates. Checkpoints newer than the restored one
        belong to the abandoned timeline and are dropped, so a second flagged step soon
        after does not roll back further than the state already restored.
        """
        states = self.checkpoints[r]
        index = max(0, len(states) - 1 - self.policies[r].rollback_steps)
        trainer.optimizer.load_run_state(r, states[index])
        self.rollbacks[r].append([trainer.step, len(states) - 1 - index])
        while len(states) > index:
            states.pop()

    def annotate(self, trainer, result: dict) -> None:
        for run, skipped, rollbacks in zip(result["runs"], self.skipped, self.rollbacks):
            run["skipped"] = list(skipped)
            run["rollbacks"] = [list(pair) for pair in rollbacks]


def recovery_trainer(spec: TrainSpec, policies: tuple[RecoveryPolicy, ...], detector: SpikeDetector = SpikeDetector(),
                     hooks=(), **kwargs) -> LockstepTrainer:
    """A LockstepTrainer whose runs each follow a RecoveryPolicy (one per RunConfig, the same
    for each of the spec's seeds)."""
    if len(policies) != len(spec.runs):
        raise ValueError("one recovery policy per run")
    policies = tuple(per_seed(policies, len(spec.runs) * spec.seeds))
    return LockstepTrainer(spec, hooks=(Recovery(policies, detector), *hooks), **kwargs)


@dataclass(frozen=True)
class CreepingLR:
    """Linear warmup to `peak_lr`, then an LR that creeps up linearly to `creep` x peak at the last step.

    A stand-in for a run whose effective step size slowly grows (an LR set a bit too
    high, a growing weight norm, a loss scale drifting): the gradient norm rises
    slowly long before anything spikes. creep = 1 is a constant LR after warmup.
    """

    peak_lr: float
    warmup: int
    total: int
    creep: float = 1.0

    def lr_at(self, step: int) -> float:
        if step < self.warmup:
            return self.peak_lr * (step + 1) / self.warmup
        span = max(1, self.total - 1 - self.warmup)
        return self.peak_lr * (1 + (self.creep - 1) * min(1.0, (step - self.warmup) / span))

    def factor_at(self, step: int) -> float:
        return self.lr_at(step) / self.peak_lr
