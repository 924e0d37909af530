"""Recovering from a loss spike: skip the bad batch, or roll back to a checkpoint.

Runs trained in lockstep (same initial weights, same batches, see trainer.py) can
each follow a different recovery policy:

* "none": train on whatever comes (a run may still clip, through RunConfig.clip);
* "skip": when the spike detector flags a step, that run's update is dropped: its
  weights AND its AdamW state (m, v and its own step count) stay exactly as they were,
  as if the batch had never been seen;
* "rollback": when the detector flags a step, the run drops that update and restores
  the weights and optimizer state it had `rollback_steps` updates earlier (the
  checkpoint), then carries on with the next batches. The batches in between are
  not replayed: like PaLM's restarts, the data around the spike is skipped. The run
  loses those updates' progress.

The spike detector is the usual one: a step is flagged when its gradient norm
(before clipping) is more than `factor` times the median norm of that run's last
`window` accepted steps; nothing is flagged before `min_history` accepted steps.

`RecoveryAdamW` is the course's AdamW with a per-run step count and a per-run
`active` mask: an inactive run's slice of weights, m, v and step count is left
untouched. With every run active it is the course AdamW (tested against
torch.optim.AdamW).
"""
from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

import torch

from widgets.lab.clip import clip_per_run
from widgets.lab.optim import AdamW, broadcast
from widgets.lab.trainer import BatchHook, LockstepTrainer, TrainSpec

POLICIES = ("none", "skip", "rollback")


class RecoveryAdamW(AdamW):
    """AdamW whose runs can sit a step out: `active` (R,) bool, and one step count per run.

    The update is the course AdamW's, in place, with bias correction from each run's own
    step count `t` (R,); afterwards the slices of the inactive runs (weights, m, v) are
    put back, so a run that sits out is bit-for-bit unchanged.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.active = torch.ones(self.runs, dtype=torch.bool)
        self.t = torch.zeros(self.runs, dtype=torch.float64)  # updates taken, per run

    @torch.no_grad()
    def step(self) -> None:
        self.active = self.active.cpu()
        self.t += self.active
        self._inactive = torch.nonzero(~self.active).flatten()
        t = self.t.clamp(min=1)
        for group in self.param_groups:  # bias corrections, once per step: (R,) each
            group["_bc"] = ((1 - group["beta1"].double() ** t).float(), (1 - group["beta2"].double() ** t).float())
        super().step()

    def update(self, p, g, group, state):
        inactive = self._inactive
        m = state.setdefault("m", torch.zeros_like(p))
        v = state.setdefault("v", torch.zeros_like(p))
        keep = [x[inactive.to(p.device)].clone() for x in (p, m, v)] if len(inactive) else None
        lr, wd = broadcast(group["lr"], p), broadcast(group["weight_decay"], p)
        b1, b2 = broadcast(group["beta1"], p), broadcast(group["beta2"], p)
        if not group["decoupled"]:
            g = g + wd * p  # classic Adam: L2 in the gradient
        m.mul_(b1).add_((1 - b1) * g)
        v.mul_(b2).add_((1 - b2) * g * g)
        if group["bias_correction"]:
            bc1, bc2 = (broadcast(bc.to(p.device), p) for bc in group["_bc"])
            m_hat, v_hat = m / bc1, v / bc2
        else:
            m_hat, v_hat = m, v
        if group["decoupled"]:
            p.mul_(1 - lr * wd)
        p.sub_(lr * m_hat / (v_hat.sqrt() + broadcast(group["eps"], p)))
        if keep is not None:  # the runs that sit this step out keep their slices
            for x, old in zip((p, m, v), keep):
                x[inactive.to(p.device)] = old

    # --- one run's slice of the state: a checkpoint -------------------------------
    def run_state(self, params: list[torch.Tensor], run: int) -> dict:
        """A checkpoint of one run: its slice of every weight, m and v, and its step count."""
        tensors = []
        for p in params:
            s = self.state.get(p, {})
            tensors.append({"p": p.detach()[run].clone(), **{k: s[k][run].clone() for k in ("m", "v") if k in s}})
        return {"t": float(self.t[run]), "tensors": tensors}

    @torch.no_grad()
    def load_run_state(self, params: list[torch.Tensor], run: int, saved: dict) -> None:
        self.t[run] = saved["t"]
        for p, snap in zip(params, saved["tensors"]):
            p[run] = snap["p"]
            s = self.state.get(p)
            for k in ("m", "v"):
                if s is not None and k in s:
                    s[k][run] = snap[k] if k in snap else 0  # no state yet at the checkpoint: zeros


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


class RecoveryTrainer(LockstepTrainer):
    """A LockstepTrainer whose runs each follow a RecoveryPolicy (one per RunConfig)."""

    optimizer_class = RecoveryAdamW  # can snapshot, restore and sit out one run

    def __init__(self, spec: TrainSpec, policies: tuple[RecoveryPolicy, ...], detector: SpikeDetector = SpikeDetector(),
                 device: str | None = None, batch_hook: BatchHook | None = None):
        if len(policies) != len(spec.runs):
            raise ValueError("one recovery policy per run")
        self.policies = tuple(policies)
        self.detector = detector
        super().__init__(spec, device=device, batch_hook=batch_hook)
        R = len(spec.runs)
        self.recent = [deque(maxlen=detector.window) for _ in range(R)]  # accepted gradient norms
        depth = max([p.rollback_steps for p in self.policies if p.kind == "rollback"], default=0) + 1
        self.checkpoints = [deque(maxlen=depth) for _ in range(R)]  # start-of-step states, newest last
        self.skipped: list[list[int]] = [[] for _ in range(R)]  # steps whose update was dropped
        self.rollbacks: list[list[list[int]]] = [[] for _ in range(R)]  # [flagged step, updates undone]

    def train_step(self) -> None:
        t = self.step
        params = list(self.model.parameters())
        for r, policy in enumerate(self.policies):  # a checkpoint at the start of every step
            if policy.kind == "rollback" and self.alive[r]:
                self.checkpoints[r].append(self.optimizer.run_state(params, r))
        x, y = self.batches.next()
        if self.batch_hook is not None:
            x, y = self.batch_hook(t, x, y)
        x, y = x.to(self.device), y.to(self.device)
        lr = torch.tensor([r.schedule.lr_at(t) for r in self.spec.runs]) * self.alive
        self.optimizer.set_lr(lr.to(self.device))
        logits, loss = self.model(x, y)
        objective = loss
        if self.spec.z_loss:
            objective = loss + self.spec.z_loss * torch.logsumexp(logits, -1).pow(2).flatten(1).mean(1)
        finite = torch.isfinite(loss.detach()).cpu() & self.alive
        self.optimizer.zero_grad()
        objective[finite.to(self.device)].sum().backward()
        norm, scale = clip_per_run(params, self.clip.to(self.device))
        norms = norm.cpu().tolist()
        flagged = torch.zeros(len(self.policies), dtype=torch.bool)
        for r, policy in enumerate(self.policies):
            if not finite[r]:
                continue
            if policy.kind != "none" and self.detector.flags(norms[r], self.recent[r]):
                flagged[r] = True
            else:
                self.recent[r].append(norms[r])
        self.optimizer.active = (finite & ~flagged).to(self.device)
        self.optimizer.step()
        for r in torch.nonzero(flagged).flatten().tolist():
            if self.policies[r].kind == "skip":
                self.skipped[r].append(t)
            else:
                self._rollback(r, t, params)
        self._record(t, loss.detach(), norm, scale, finite)
        self.step += 1
        if self.step % self.spec.eval_every == 0 or self.step == self.spec.steps:
            self.evaluate()

    def _rollback(self, r: int, t: int, params: list[torch.Tensor]) -> None:
        """Restore the checkpoint `rollback_steps` updates before step t (or the oldest one kept).

        The newest checkpoint is the state at the start of step t; the one k places
        before it undoes k accepted updates. Checkpoints newer than the restored one
        belong to the abandoned timeline and are dropped, so a second flagged step soon
        after does not roll back further than the state already restored.
        """
        states = self.checkpoints[r]
        index = max(0, len(states) - 1 - self.policies[r].rollback_steps)
        self.optimizer.load_run_state(params, r, states[index])
        self.rollbacks[r].append([t, len(states) - 1 - index])
        while len(states) > index:
            states.pop()

    def result(self) -> dict:
        out = super().result()
        for run, skipped, rollbacks in zip(out["runs"], self.skipped, self.rollbacks):
            run["skipped"] = list(skipped)
            run["rollbacks"] = [list(pair) for pair in rollbacks]
        return out


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
