"""The lab's one training loop: several configurations of the tiny GPT, in lockstep.

All runs start from the same initial weights and read the same batches in the same
order, so two curves differ only by the knob that was moved. They share one
run-stacked model (see model.py): one forward/backward pass trains every run, and the
parameters live in flat buffers (see flat.py), so the optimizer, clipping and norms are
a few big operations per step.

Per step and per run the trainer records the loss, the LR the optimizer used, the global
gradient norm before clipping, whether clipping fired and the parameter norm; validation
loss every `eval_every` steps (and at the end). A NaN or inf loss stops that run: it is
marked diverged at that step and its later updates are skipped.

The numbers stay on the device while the run trains; they are read back (one transfer)
when a report is asked for (`result()`), so a step costs no host synchronisation.

Where widgets differ, they pass small hooks instead of writing their own loop:

  batches      where batches come from: a stream, or a factory seed -> stream (needed with
               several seeds); default: the training split, seeded by the spec
  batch_hook   step, x, y -> x, y: corrupt or replace one step's batch
  clip_policy  (norm, threshold) -> scale, per run (default: global-norm clipping)
  optimizer    trainer -> optimizer (default: the course AdamW from the RunConfigs;
               lab/optim.py's `per_run_blocks` gives blocks of runs their own optimizers)
  hooks        StepHook objects (lab/hooks.py): before each step, a veto on each run's update
               (skip and rollback, lab/recovery.py), extra per-step metrics, the result
  evals        extra fixed batches evaluated with validation (e.g. the training slice)
  dtype, autocast  the weights' dtype, and autocast for the forward pass (lab/precision.py)

A spec with `seeds=3` trains every run under three seeds in the same pass (lab/seeds.py).

`run_together` steps several trainers side by side, for widgets that compare models
that cannot share one run-stacked model (different shapes, batches or bugs).
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import torch

from widgets.lab.clip import EPS
from widgets.lab.data import fixed_batch, load_corpus
from widgets.lab.flat import FlatParams
from widgets.lab.model import GPTConfig, TinyGPT
from widgets.lab.hooks import StepHook
from widgets.lab.optim import AdamW
from widgets.lab.runtime import default_device
from widgets.lab.schedules import Schedule
from widgets.lab.seeds import batch_source, stacked
from widgets.lab import speed


def device_name(device: str | torch.device) -> str:
    """The device as provenance names it: 'cpu', or 'cuda:0' with its index."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return str(device)


@dataclass(frozen=True)
class RunConfig:
    """One curve: the knobs that may differ between runs trained in lockstep."""

    label: str
    schedule: Schedule
    beta1: float = 0.9
    beta2: float = 0.95
    weight_decay: float = 0.0
    clip: float | None = None  # global-norm threshold; None = no clipping


@dataclass(frozen=True)
class TrainSpec:
    model: GPTConfig
    runs: tuple[RunConfig, ...]
    steps: int
    batch_size: int = 16
    seed: int = 1337  # drives the initial weights, the batch order and dropout
    eval_every: int = 25  # validation loss every this many steps (and at the end); 0: never
    eval_batch_size: int = 64
    z_loss: float = 0.0  # coefficient of mean(logsumexp(logits)^2), PaLM's z-loss
    record_attention: bool = False  # trace the largest attention logit per step
    eval_at_start: bool = False  # also measure validation loss before the first step (step 0)
    seeds: int = 1  # each run trained under this many seeds, in the same pass (lab/seeds.py)


@dataclass
class RunHistory:
    label: str
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    clipped: list[bool] = field(default_factory=list)
    param_norm: list[float] = field(default_factory=list)
    max_attn_logit: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    diverged_at: int | None = None
    extra: dict[str, list] = field(default_factory=dict)  # hooks' metrics and extra evaluations
    seed: int | None = None  # named in the result when the spec trains several seeds

    def as_dict(self) -> dict:
        # copies, so a progress report does not keep growing after it was taken
        d = {k: list(v) if isinstance(v, list) else v for k, v in self.__dict__.items() if k != "extra"}
        if not d["max_attn_logit"]:
            del d["max_attn_logit"]
        if d["seed"] is None:  # one seed: the spec's, named in the provenance
            del d["seed"]
        d.update({k: list(v) for k, v in self.extra.items()})
        return d


BatchHook = Callable[[int, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
ProgressHook = Callable[[dict], None]
ClipPolicy = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
CHECK_EVERY = 8  # on a GPU: steps between reads of the alive mask


def global_norm_clip(norm: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Scale min(1, c / ||g||) per run, as torch.nn.utils.clip_grad_norm_ (inf = no clipping,
    exactly 1 even when the norm itself is inf)."""
    return torch.where(torch.isinf(threshold), 1.0, torch.clamp(threshold / (norm + EPS), max=1.0))


def adamw_from_runs(trainer: "LockstepTrainer") -> AdamW:
    """The default optimizer: the course AdamW with each run's betas and weight decay
    (on the weight matrices only, or on every tensor with decay_all)."""
    runs = trainer.spec.runs
    decay = [r.weight_decay for r in runs]
    groups = [{"params": [g.data], "weight_decay": decay if g.name == "decayed" or trainer.decay_all else 0.0}
              for g in trainer.params.groups.values()]
    return AdamW(groups, runs=len(runs), lr=[r.schedule.lr_at(0) for r in runs],
                 beta1=[r.beta1 for r in runs], beta2=[r.beta2 for r in runs])


class LockstepTrainer:
    def __init__(self, spec: TrainSpec, device: str | None = None, *, batch_hook: BatchHook | None = None,
                 batches=None, clip_policy: ClipPolicy = global_norm_clip,
                 optimizer: Callable[["LockstepTrainer"], object] = adamw_from_runs,
                 hooks: Iterable[StepHook] = (), evals: dict[str, tuple] | None = None,
                 decay_all: bool = False, dtype: torch.dtype = torch.float32,
                 autocast: torch.dtype | None = None, model_hook: Callable[[TinyGPT], None] | None = None):
        # every curve once per seed, seed-major; self.spec then describes the stacked runs
        runs, self.run_seeds = stacked(spec.runs, spec.seed, spec.seeds)
        several = spec.seeds > 1
        spec = self.spec = dataclasses.replace(spec, runs=runs, seeds=1)
        self.device = device_name(device or default_device())
        self.batch_hook = batch_hook
        self.clip_policy = clip_policy
        self.hooks = list(hooks)
        self.decay_all = decay_all  # weight decay on every tensor, not only the weight matrices
        self.autocast = autocast
        corpus = load_corpus()
        runs = len(spec.runs)
        # the job's own generator for dropout masks: nothing here reads torch's global RNG
        self.generator = torch.Generator(device=self.device).manual_seed(spec.seed)
        self.model = TinyGPT(spec.model, runs=runs).init_weights(
            spec.seed, self.run_seeds if several else None).to(self.device, dtype)
        self.model.set_generator(self.generator)
        self.model.set_record_logits(spec.record_attention)
        if model_hook is not None:
            model_hook(self.model)  # e.g. lab/bugs.py's missing causal mask
        self.params = FlatParams(self.model, runs)
        self.batches = batch_source(batches, corpus.train, spec.batch_size, spec.model.block_size, self.run_seeds)
        self.val_batch = [t.to(self.device) for t in
                          fixed_batch(corpus.val, spec.eval_batch_size, spec.model.block_size, spec.seed + 1)]
        self.evals = {name: [t.to(self.device) for t in batch] for name, batch in (evals or {}).items()}
        self.optimizer = optimizer(self)
        self.clip = torch.tensor([r.clip if r.clip is not None else math.inf for r in spec.runs], device=self.device)
        self.alive = torch.ones(runs, dtype=torch.bool, device=self.device)  # on the device: no sync per step
        metric_names = [name for hook in self.hooks for name in hook.metric_names] + list(self.evals)
        self.history = [RunHistory(r.label, extra={name: [] for name in metric_names},
                                   seed=seed if several else None) for r, seed in zip(spec.runs, self.run_seeds)]
        self.step = 0
        self.wall_time = 0.0
        self.refresh_schedules()
        self._rows: list[tuple[int, torch.Tensor, dict]] = []  # per step, not yet read back
        self._evals: list[tuple[int, torch.Tensor, dict]] = []  # (step, val loss, extra evals)
        self._host_alive = [True] * runs
        self._started = False
        # the speed meters (lab/speed.py): tokens the stacked model reads per step, and in what dtype
        self._tokens_per_step = runs * spec.batch_size * spec.model.block_size
        self._dtype_name = str(autocast or dtype).removeprefix("torch.")
        self._speed_keys: dict[str, tuple] = {}

    def __deepcopy__(self, memo) -> "LockstepTrainer":
        """A checkpoint: everything copied, the parameters still views of the copied flat buffers."""
        twin = self.__class__.__new__(self.__class__)
        memo[id(self)] = twin
        for key, value in self.__dict__.items():
            setattr(twin, key, copy.deepcopy(value, memo))
        twin.params.relink()
        return twin

    def refresh_schedules(self) -> None:
        """Every step's LR for every run, once, as a (steps, R) table on the device."""
        table = [[r.schedule.lr_at(t) for r in self.spec.runs] for t in range(max(self.spec.steps, 1))]
        self._lr = torch.tensor(table, dtype=torch.float32, device=self.device)

    # --- one step ---------------------------------------------------------------
    def _forward(self, x, y):
        with torch.autocast(torch.device(self.device).type, dtype=self.autocast) if self.autocast else nullcontext():
            return self.model(x, y)

    def train_step(self) -> None:
        if not self._started:
            self._start()
        speed.metered(self._speed_key("train"), self._tokens_per_step, self._dtype_name, self._update)
        if self.spec.eval_every and (self.step % self.spec.eval_every == 0 or self.step == self.spec.steps):
            self.evaluate()

    def _speed_key(self, what: str) -> tuple:
        """What one step's FLOPs depend on (lab/speed.py counts them once per key and process)."""
        if what not in self._speed_keys:
            shape = (self.spec.model, len(self.spec.runs), self.spec.batch_size, self.spec.eval_batch_size)
            self._speed_keys[what] = (what, shape, self._dtype_name, self.device, type(self.optimizer).__name__,
                                      tuple(type(h).__name__ for h in self.hooks), tuple(self.evals),
                                      bool(self.spec.z_loss))
        return self._speed_keys[what]

    def _update(self) -> None:
        t = self.step
        for hook in self.hooks:
            hook.before_step(self)
        x, y = self.batches.next()
        if self.batch_hook is not None:
            x, y = self.batch_hook(t, x, y)
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        self.optimizer.set_lr(self._lr[min(t, len(self._lr) - 1)] * self.alive)  # this step's LR
        logits, loss = self._forward(x, y)
        objective = loss
        if self.spec.z_loss:
            objective = loss + self.spec.z_loss * torch.logsumexp(logits, -1).pow(2).flatten(1).mean(1)
        for hook in self.hooks:
            objective = hook.objective(self, objective)
        finite = torch.isfinite(loss.detach()) & self.alive
        # the gradient of sum_r finite[r] * objective[r]: runs that blew up (or died) get none
        objective.backward(finite.to(objective.dtype))
        self.params.gather_grads()
        norm = self.params.grad_norm()
        scale = self.clip_policy(norm, self.clip)
        self.params.scale_grads(scale)
        accepted = None
        for hook in self.hooks:
            verdict = hook.accept(self, norm, finite)
            if verdict is not None:
                accepted = list(verdict) if accepted is None else [a and v for a, v in zip(accepted, verdict)]
        if accepted is None:
            self.optimizer.step()
        else:
            self.optimizer.step(accepted)
        for hook in self.hooks:
            hook.after_step(self, accepted)
        self._record(t, loss.detach(), norm, scale, finite)
        self.alive &= finite
        self.step += 1

    def _start(self) -> None:
        self._started = True
        self.model.train()
        if self.spec.eval_at_start and self.step == 0:
            self.evaluate()

    def _record(self, t, loss, norm, scale, finite) -> None:
        row = [loss.float(), self.optimizer.lr.float(), norm.float(), (scale < 1).float(),
               self.params.param_norm(), finite.float()]
        attn = self.model.max_attention_logit()
        if attn is not None:
            row.append(attn.float())
        extra = {}
        for hook in self.hooks:
            extra.update(hook.metrics(self))
        self._rows.append((t, torch.stack(row), extra))

    def evaluate(self) -> None:
        speed.metered(self._speed_key("eval"), 0, self._dtype_name, self._evaluate)

    @torch.no_grad()
    def _evaluate(self) -> None:
        self.model.eval()
        _, loss = self._forward(*self.val_batch)
        extra = {name: self._forward(*batch)[1] for name, batch in self.evals.items()}
        self.model.train()
        self._evals.append((self.step, loss.float(), {k: v.float() for k, v in extra.items()}))

    # --- reading back -------------------------------------------------------------
    def sync(self) -> None:
        """Copy what the device recorded since the last report into the run histories."""
        if not self._rows and not self._evals:
            return
        rows = torch.stack([r for _, r, _ in self._rows]).cpu().tolist() if self._rows else []
        names = sorted({k for _, _, extra in self._rows for k in extra})
        extras = {k: torch.stack([e[k] for _, _, e in self._rows]).cpu().tolist() for k in names}
        evals = [(s, v.cpu().tolist(), {k: x.cpu().tolist() for k, x in extra.items()}) for s, v, extra in self._evals]
        steps = [t for t, _, _ in self._rows]
        self._rows, self._evals = [], []
        # the evaluation after s steps comes after step s-1's row and before step s's
        queue = [(t, 0, i) for i, t in enumerate(steps)] + [(s - 0.5, 1, i) for i, (s, _, _) in enumerate(evals)]
        for when, kind, i in sorted(queue):
            if kind == 0:
                self._take_row(int(when), rows[i], {k: extras[k][i] for k in names})
            else:
                self._take_eval(*evals[i])

    def _take_row(self, t: int, row: list, extra: dict) -> None:
        loss, lr, norm, clipped, pnorm, finite = row[:6]
        for r, h in enumerate(self.history):
            if not self._host_alive[r]:
                continue
            if not finite[r]:
                h.diverged_at = t  # NaN/inf: this run stops here
                self._host_alive[r] = False
                continue
            h.loss.append(loss[r])
            h.lr.append(lr[r])
            h.grad_norm.append(norm[r])
            h.clipped.append(bool(clipped[r]))
            h.param_norm.append(pnorm[r])
            if len(row) > 6:
                h.max_attn_logit.append(row[6][r])
            for k, values in extra.items():
                h.extra.setdefault(k, []).append(values[r])

    def _take_eval(self, step: int, values: list, extra: dict) -> None:
        for r, h in enumerate(self.history):
            if not self._host_alive[r]:
                continue
            if math.isfinite(values[r]):
                h.val_steps.append(step)
                h.val_loss.append(values[r])
            for k, v in extra.items():
                h.extra.setdefault(k, []).append(v[r])

    @property
    def finished(self) -> bool:
        """All steps taken, or every run diverged. On a GPU the alive mask is read back only
        every CHECK_EVERY steps (a read is a host sync); the extra steps change no record."""
        if self.step >= self.spec.steps:
            return True
        if self.device != "cpu" and self.step % CHECK_EVERY:
            return False
        return not bool(self.alive.any())

    # --- the whole run ------------------------------------------------------------
    def run(self, progress: ProgressHook | None = None, report_every: int = 5) -> dict:
        start = time.perf_counter()
        while not self.finished:
            self.train_step()
            if progress is not None and (self.step % report_every == 0 or self.step == 1):
                self.wall_time = time.perf_counter() - start
                progress(self.result())
        self.wall_time = time.perf_counter() - start
        return self.result()

    def done(self) -> int:
        """Steps trained: up to the last run's divergence if every run diverged."""
        if all(h.diverged_at is not None for h in self.history):
            return min(self.step, max(h.diverged_at for h in self.history) + 1)
        return self.step

    def result(self) -> dict:
        self.sync()
        out = {"steps": self.spec.steps, "done": self.done(), "device": self.device,
               "runs": [h.as_dict() for h in self.history]}
        for hook in self.hooks:
            hook.annotate(self, out)
        return out


def train(spec: TrainSpec, progress: ProgressHook | None = None, **kwargs) -> dict:
    """Train every run of `spec` in lockstep and return their histories."""
    return LockstepTrainer(spec, **kwargs).run(progress)


def run_together(trainers: Sequence[LockstepTrainer], report: Callable[[int], None] | None = None,
                 report_every: int = 5) -> int:
    """Step several trainers side by side until each is finished; returns the rounds taken.

    Round k takes step k of every trainer not yet finished, so their curves grow together
    while a widget streams; `report(k)` is called after round 1 and every `report_every`
    rounds before the last.
    """
    rounds = 0
    while True:
        moving = [t for t in trainers if not t.finished]
        if not moving:
            return rounds
        for trainer in moving:
            trainer.train_step()
        rounds += 1
        if report is not None and (rounds % report_every == 0 or rounds == 1) \
                and any(not t.finished for t in trainers):
            report(rounds)
