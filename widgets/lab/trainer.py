"""Train several configurations of the tiny GPT in lockstep.

All runs start from the same initial weights and read the same batches in the same
order, so two curves differ only by the knob that was moved. They share one
run-stacked model (see model.py): one forward/backward pass trains every run.

Per step and per run the trainer records the loss, the LR the optimizer actually
used (read back from the optimizer after the step), the global gradient norm
before clipping, whether clipping fired, and the parameter norm; validation loss
every `eval_every` steps. A NaN or inf loss stops that run: it is marked diverged
at that step and its later updates are skipped.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from widgets.lab.clip import clip_per_run
from widgets.lab.data import BatchStream, fixed_batch, load_corpus
from widgets.lab.model import GPTConfig, TinyGPT, is_decayed
from widgets.lab.optim import AdamW
from widgets.lab.schedules import Schedule


def default_device() -> str:
    """CUDA when present, else CPU; COURSE_DEVICE overrides (the tests pin 'cpu')."""
    wanted = os.environ.get("COURSE_DEVICE")
    if wanted:
        return wanted
    return "cuda" if torch.cuda.is_available() else "cpu"


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
    eval_every: int = 25  # validation loss every this many steps (and at the end)
    eval_batch_size: int = 64
    z_loss: float = 0.0  # coefficient of mean(logsumexp(logits)^2), PaLM's z-loss
    record_attention: bool = False  # trace the largest attention logit per step


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

    def as_dict(self) -> dict:
        # copies, so a progress report does not keep growing after it was taken
        d = {k: list(v) if isinstance(v, list) else v for k, v in self.__dict__.items()}
        if not d["max_attn_logit"]:
            del d["max_attn_logit"]
        return d


BatchHook = Callable[[int, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
ProgressHook = Callable[[dict], None]


class LockstepTrainer:
    optimizer_class = AdamW  # subclasses may swap in an AdamW with extra powers (lab/recovery.py)

    def __init__(self, spec: TrainSpec, device: str | None = None, batch_hook: BatchHook | None = None):
        self.spec = spec
        self.device = device or default_device()
        self.batch_hook = batch_hook  # lets a widget corrupt or replace a step's batch
        corpus = load_corpus()
        # the job's own generator for dropout masks: nothing here reads torch's global RNG
        self.generator = torch.Generator(device=self.device).manual_seed(spec.seed)
        self.model = TinyGPT(spec.model, runs=len(spec.runs)).init_weights(spec.seed).to(self.device)
        self.model.set_generator(self.generator)
        self.model.set_record_logits(spec.record_attention)
        self.batches = BatchStream(corpus.train, spec.batch_size, spec.model.block_size, spec.seed)
        self.val_batch = [t.to(self.device) for t in
                          fixed_batch(corpus.val, spec.eval_batch_size, spec.model.block_size, spec.seed + 1)]
        self.optimizer = self._make_optimizer()
        self.clip = torch.tensor([r.clip if r.clip is not None else math.inf for r in spec.runs])
        self.alive = torch.ones(len(spec.runs), dtype=torch.bool)
        self.history = [RunHistory(r.label) for r in spec.runs]
        self.step = 0
        self.wall_time = 0.0

    def _make_optimizer(self) -> AdamW:
        runs = self.spec.runs
        named = list(self.model.named_parameters())
        decayed = [p for n, p in named if is_decayed(n, p)]
        other = [p for n, p in named if not is_decayed(n, p)]
        return self.optimizer_class([{"params": decayed, "weight_decay": [r.weight_decay for r in runs]},
                                     {"params": other, "weight_decay": 0.0}],
                                    runs=len(runs), lr=[r.schedule.lr_at(0) for r in runs],
                                    beta1=[r.beta1 for r in runs], beta2=[r.beta2 for r in runs])

    # --- one step ---------------------------------------------------------------
    def train_step(self) -> None:
        t = self.step
        x, y = self.batches.next()
        if self.batch_hook is not None:
            x, y = self.batch_hook(t, x, y)
        x, y = x.to(self.device), y.to(self.device)
        lr = torch.tensor([r.schedule.lr_at(t) for r in self.spec.runs]) * self.alive
        self.optimizer.set_lr(lr.to(self.device))  # the scheduler's value for this step
        logits, loss = self.model(x, y)
        objective = loss
        if self.spec.z_loss:
            objective = loss + self.spec.z_loss * torch.logsumexp(logits, -1).pow(2).flatten(1).mean(1)
        finite = torch.isfinite(loss.detach()).cpu() & self.alive
        self.optimizer.zero_grad()
        objective[finite.to(self.device)].sum().backward()
        norm, scale = clip_per_run(list(self.model.parameters()), self.clip.to(self.device))
        self.optimizer.step()
        self._record(t, loss.detach(), norm, scale, finite)
        self.step += 1
        if self.step % self.spec.eval_every == 0 or self.step == self.spec.steps:
            self.evaluate()

    def _param_norm(self) -> torch.Tensor:
        return torch.stack([p.detach().float().pow(2).flatten(1).sum(1)
                            for p in self.model.parameters()]).sum(0).sqrt()

    def _record(self, t, loss, norm, scale, finite) -> None:
        rows = torch.stack([loss.float(), self.optimizer.lr.float(), norm.float(),
                            (scale < 1).float(), self._param_norm().float()]).cpu().tolist()
        attn = self.model.max_attention_logit()
        attn = attn.cpu().tolist() if attn is not None else None
        for r, h in enumerate(self.history):
            if not self.alive[r]:
                continue
            if not finite[r]:
                h.diverged_at = t  # NaN/inf: this run stops here
                self.alive[r] = False
                continue
            h.loss.append(rows[0][r])
            h.lr.append(rows[1][r])
            h.grad_norm.append(rows[2][r])
            h.clipped.append(bool(rows[3][r]))
            h.param_norm.append(rows[4][r])
            if attn is not None:
                h.max_attn_logit.append(attn[r])

    @torch.no_grad()
    def evaluate(self) -> None:
        self.model.eval()
        _, loss = self.model(*self.val_batch)
        self.model.train()
        for r, (h, value) in enumerate(zip(self.history, loss.cpu().tolist())):
            if self.alive[r] and math.isfinite(value):
                h.val_steps.append(self.step)
                h.val_loss.append(value)

    # --- the whole run ------------------------------------------------------------
    def run(self, progress: ProgressHook | None = None, report_every: int = 5) -> dict:
        start = time.perf_counter()
        self.model.train()
        while self.step < self.spec.steps and bool(self.alive.any()):
            self.train_step()
            if progress is not None and (self.step % report_every == 0 or self.step == 1):
                self.wall_time = time.perf_counter() - start
                progress(self.result())
        self.wall_time = time.perf_counter() - start
        return self.result()

    def result(self) -> dict:
        return {"steps": self.spec.steps, "done": self.step, "device": self.device,
                "runs": [h.as_dict() for h in self.history]}


def train(spec: TrainSpec, progress: ProgressHook | None = None, **kwargs) -> dict:
    """Train every run of `spec` in lockstep and return their histories."""
    return LockstepTrainer(spec, **kwargs).run(progress)
