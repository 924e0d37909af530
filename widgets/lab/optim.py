"""The course's own optimizers, written out so every line can be read and taught.

They work on run-stacked parameters (leading dimension R, see model.py) and every
hyperparameter may differ per run: pass a number (same for all runs) or a
sequence of R numbers. With R = 1 they match torch.optim step for step; the tests
check SGD, momentum, RMSProp, Adam and AdamW against torch on the same inputs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import torch

from widgets.lab.seeds import per_seed_blocks

if TYPE_CHECKING:  # only for the annotation: flat.py imports the model, not the optimizers
    from widgets.lab.flat import FlatParams
    from widgets.lab.trainer import LockstepTrainer

Number = float | Sequence[float]


def per_run(value: Number, runs: int) -> torch.Tensor:
    """A hyperparameter as an (R,) tensor."""
    t = torch.as_tensor(value, dtype=torch.float32)
    return t.expand(runs).clone() if t.dim() == 0 else t.clone()


def broadcast(h: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """(R,) -> (R, 1, 1, ...) so it multiplies a run-stacked tensor slice by slice."""
    return h.view(-1, *([1] * (p.dim() - 1))).to(p.dtype)


class CourseOptimizer:
    """Shared machinery: parameter groups, per-run hyperparameters, per-run step counts.

    `step(active)` may leave some runs out: a run whose `active` flag is False keeps its
    slice of every parameter and of every state tensor bit for bit, and its own step
    count does not move (the spike lab's "skip the batch", the loss scaler's skipped
    step). Parameters may be whole flat buffers (R, N) or per-tensor views of them.
    """

    def __init__(self, groups: Iterable[dict] | Iterable[torch.Tensor], runs: int, **defaults):
        groups = list(groups)
        if groups and isinstance(groups[0], torch.Tensor):
            groups = [{"params": groups}]
        self.runs = runs
        self.param_groups = []
        for group in groups:
            merged = {**defaults, **group}
            merged["params"] = list(group["params"])
            for key, value in merged.items():
                if key != "params" and not isinstance(value, (bool, str)):
                    merged[key] = per_run(value, runs)
            self.param_groups.append(merged)
        self.state: dict[torch.Tensor, dict] = {}
        self.steps = [0] * runs  # updates taken, per run
        self._constants: dict = {}

    @property
    def lr(self) -> torch.Tensor:
        """The per-run learning rate of the first group: what the last step used."""
        return self.param_groups[0]["lr"]

    def set_lr(self, lr: Number) -> None:
        lr = per_run(lr, self.runs)
        for group in self.param_groups:
            group["lr"] = lr

    def zero_grad(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self, active: Sequence[bool] | None = None) -> None:
        """One update of every run, or of the runs whose `active` flag is True."""
        inactive = [] if active is None else [r for r in range(self.runs) if not active[r]]
        if len(inactive) == self.runs:
            return
        for r in range(self.runs):
            if r not in inactive:
                self.steps[r] += 1
        self._constants = {}  # per-step values shared by every tensor of a group
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.setdefault(p, {})
                if not inactive:
                    self.update(p, p.grad, group, state)
                    continue
                rows = torch.tensor(inactive, device=p.device)
                kept = {name: x[rows].clone() for name, x in (("param", p), *state.items())
                        if isinstance(x, torch.Tensor) and x.dim() and x.shape[0] == self.runs}
                self.update(p, p.grad, group, state)
                for name, x in (("param", p), *state.items()):  # the runs that sat out get their slices back
                    if isinstance(x, torch.Tensor) and x.dim() and x.shape[0] == self.runs:
                        x[rows] = kept[name] if name in kept else 0  # state born this step: zeros

    def update(self, p, g, group, state) -> None:
        raise NotImplementedError

    # --- one run's slice of everything: a checkpoint ----------------------------------
    def run_state(self, run: int) -> dict:
        """A checkpoint of one run: its slice of every parameter and state tensor, and its step count."""
        tensors = {}
        for group in self.param_groups:
            for p in group["params"]:
                tensors[id(p)] = {"param": p.detach()[run].clone(),
                                  **{k: x[run].clone() for k, x in self.state.get(p, {}).items()
                                     if isinstance(x, torch.Tensor) and x.dim() and x.shape[0] == self.runs}}
        return {"steps": self.steps[run], "tensors": tensors}

    @torch.no_grad()
    def load_run_state(self, run: int, saved: dict) -> None:
        self.steps[run] = saved["steps"]
        for group in self.param_groups:
            for p in group["params"]:
                snap = saved["tensors"][id(p)]
                p[run] = snap["param"]
                for k, x in self.state.get(p, {}).items():
                    if isinstance(x, torch.Tensor) and x.dim() and x.shape[0] == self.runs:
                        x[run] = snap[k] if k in snap else 0  # no state yet at the checkpoint: zeros


class SGD(CourseOptimizer):
    """theta <- theta - lr * g, optionally with heavy-ball momentum (torch's convention:
    buf = momentum * buf + g, so buf starts at g; the EMA form (1-beta) g differs only
    by a constant factor that the learning rate absorbs)."""

    def __init__(self, groups, runs: int = 1, lr: Number = 1e-2, momentum: Number = 0.0):
        super().__init__(groups, runs, lr=lr, momentum=momentum)

    def update(self, p, g, group, state):
        mu = broadcast(group["momentum"], p)
        if "buf" not in state:
            state["buf"] = g.clone()
        else:
            state["buf"].mul_(mu).add_(g)
        direction = torch.where(mu > 0, state["buf"], g)
        p.sub_(broadcast(group["lr"], p) * direction)


class RMSProp(CourseOptimizer):
    """Divide each coordinate by the root of its running mean square: v = a v + (1-a) g^2."""

    def __init__(self, groups, runs: int = 1, lr: Number = 1e-2, alpha: Number = 0.99, eps: float = 1e-8):
        super().__init__(groups, runs, lr=lr, alpha=alpha, eps=eps)

    def update(self, p, g, group, state):
        a = broadcast(group["alpha"], p)
        v = state.setdefault("v", torch.zeros_like(p))
        v.mul_(a).add_((1 - a) * g * g)
        p.sub_(broadcast(group["lr"], p) * g / (v.sqrt() + broadcast(group["eps"], p)))


class AdamW(CourseOptimizer):
    """Adam with bias correction, and weight decay either decoupled (AdamW) or added
    to the gradient as L2 (classic Adam). weight_decay=0 gives plain Adam.

        m = b1 m + (1-b1) g          v = b2 v + (1-b2) g^2
        m_hat = m / (1-b1^t)         v_hat = v / (1-b2^t)
        theta <- theta - lr * (m_hat / (sqrt(v_hat) + eps) + wd * theta)   # decoupled
    """

    def __init__(self, groups, runs: int = 1, lr: Number = 1e-3, beta1: Number = 0.9,
                 beta2: Number = 0.95, eps: float = 1e-8, weight_decay: Number = 0.0,
                 decoupled: bool = True, bias_correction: bool = True):
        super().__init__(groups, runs, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                         weight_decay=weight_decay, decoupled=decoupled,
                         bias_correction=bias_correction)

    def constants(self, group: dict, p: torch.Tensor) -> tuple:
        """This step's per-run scalars, shaped to multiply p; computed once per group and shape.

        (Per-tensor parameters can be dozens of tensors: recomputing 1 - beta1 and friends
        for each one would cost more than the arithmetic that uses them.) The bias
        corrections use each run's own step count, as Python integers, like torch.
        """
        key = (id(group), p.dim(), p.dtype)
        if key not in self._constants:
            lr, wd = broadcast(group["lr"], p), broadcast(group["weight_decay"], p)
            b1, b2 = broadcast(group["beta1"], p), broadcast(group["beta2"], p)
            t = self.steps
            if len(set(t)) == 1:
                correction1, correction2 = 1 - b1 ** t[0], 1 - b2 ** t[0]
            else:  # runs that sat steps out have their own count (same arithmetic per run)
                correction1 = torch.cat([1 - b1[r:r + 1] ** max(t[r], 1) for r in range(self.runs)])
                correction2 = torch.cat([1 - b2[r:r + 1] ** max(t[r], 1) for r in range(self.runs)])
            self._constants[key] = (lr, wd, b1, b2, 1 - b1, 1 - b2, correction1, correction2,
                                    1 - lr * wd, broadcast(group["eps"], p))
        return self._constants[key]

    def update(self, p, g, group, state):
        if "m" not in state:
            state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)
        lr, wd, b1, b2, one_minus_b1, one_minus_b2, correction1, correction2, shrink, eps = \
            self.constants(group, p)
        if not group["decoupled"]:
            g = g + wd * p  # L2 in the gradient: it will be divided by sqrt(v) below
        m, v = state["m"], state["v"]
        m.mul_(b1).add_(one_minus_b1 * g)
        v.mul_(b2).add_(one_minus_b2 * g * g)
        m_hat, v_hat = (m / correction1, v / correction2) if group["bias_correction"] else (m, v)
        if group["decoupled"]:
            p.mul_(shrink)  # decay the weight directly (1 - lr * wd), untouched by sqrt(v)
        p.sub_(lr * m_hat / (v_hat.sqrt() + eps))


def Adam(groups, runs: int = 1, lr: Number = 1e-3, beta1: Number = 0.9, beta2: Number = 0.999,
         eps: float = 1e-8, weight_decay: Number = 0.0, bias_correction: bool = True) -> AdamW:
    """Classic Adam: any weight decay is L2 added to the gradient."""
    return AdamW(groups, runs, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                 weight_decay=weight_decay, decoupled=False, bias_correction=bias_correction)


class BlockOptimizers:
    """Consecutive blocks of runs, each with its own course optimizer (SGD against Adam...).

    Block k owns rows [a, b) of every flat buffer (views: its in-place updates land in the
    shared weights) and of their gradients, as groups [{"params": [decayed rows]},
    {"params": [other rows]}]; a block's optimizer never touches another block's runs.
    """

    def __init__(self, params: FlatParams, blocks: Sequence[tuple[int, Callable[[list[dict], int], CourseOptimizer]]]):
        self.runs = params.runs
        self.slices: list[tuple[int, int]] = []
        self.optimizers: list[CourseOptimizer] = []
        start = 0
        for n, make in blocks:
            groups = []
            for name in ("decayed", "other"):
                group = params.group(name)
                if group is not None:
                    rows = group.data[start:start + n]
                    rows.grad = group.data.grad[start:start + n]
                    groups.append({"params": [rows]})
            self.slices.append((start, start + n))
            self.optimizers.append(make(groups, n))
            start += n
        if start != self.runs:
            raise ValueError(f"the blocks hold {start} runs, the spec {self.runs}")

    @property
    def lr(self) -> torch.Tensor:
        return torch.cat([opt.lr.to(torch.float32) for opt in self.optimizers])

    def set_lr(self, lr: torch.Tensor) -> None:
        for (a, b), opt in zip(self.slices, self.optimizers):
            opt.set_lr(lr[a:b])

    def step(self, active: Sequence[bool] | None = None) -> None:
        for (a, b), opt in zip(self.slices, self.optimizers):
            opt.step(None if active is None else active[a:b])


def per_run_blocks(blocks) -> Callable[["LockstepTrainer"], BlockOptimizers]:
    """An optimizer factory: blocks = [(n_runs, make(groups, n_runs)), ...] in run order, for one
    seed's curves (repeated for each seed, lab/seeds.py)."""
    return lambda trainer: BlockOptimizers(trainer.params, per_seed_blocks(blocks, trainer.params.runs,
                                                                           len(set(trainer.run_seeds))))
