"""Adam's bias correction, step by step: the raw moments, the corrected ones, and the step.

One gradient sequence is fed to two copies of the course's Adam (widgets/lab/optim.AdamW,
weight_decay=0) acting on one scalar weight: one with bias correction, one without.
m and v are read back from each optimizer's state, and the step is the real change
of the weight, divided by the LR. The sequence is either the constant g = 1 of the
worked example, or the real gradient of one weight of the tiny GPT over its first
training steps (the weight whose gradient is largest at step 1).
"""
from __future__ import annotations

import torch

from widgets.base import Param, Widget
from widgets.kit import figure, fmt, line, panels_layout
from widgets.lab.model import GPTConfig
from widgets.lab.optim import AdamW
from widgets.lab.schedules import Schedule
from widgets.lab.hooks import StepHook
from widgets.lab.trainer import LockstepTrainer, RunConfig, TrainSpec
from widgets.script import Script, Shown, Step

LR = 1e-3  # the steps are shown in units of the LR, so its value does not matter
EPS = 1e-8
GPT_LR = 3e-3  # the tiny GPT's own training run that produces the real gradients
BATCH_SIZE, BLOCK_SIZE = 8, 32
WATCHED = "blocks.0.attn.qkv.weight"  # the tensor whose largest-gradient weight is followed


class WatchGradient(StepHook):
    """Records one weight's gradient every step: the entry of `name` whose gradient is largest at step 0."""

    metric_names = ("watched_grad",)

    def __init__(self, name: str):
        self.name = name
        self.index = None

    def metrics(self, trainer) -> dict:
        grad = next(s.view.grad for s in trainer.params.views() if s.name == self.name)[0]  # run 0
        if self.index is None:
            self.index = grad.abs().argmax()
        return {"watched_grad": grad.flatten().index_select(0, self.index.view(1))}  # a copy, not a view

    def where(self, trainer) -> str:
        shape = next(s.view.shape[1:] for s in trainer.params.views() if s.name == self.name)
        return f"{self.name}[{', '.join(str(int(i)) for i in torch.unravel_index(self.index.cpu(), shape))}]"


def gpt_gradients(steps: int, seed: int) -> tuple[list[float], str, str]:
    """The gradient of one weight of the tiny GPT over its first `steps` training steps (AdamW, LR 3e-3),
    where that weight is, and the device that trained it."""
    spec = TrainSpec(model=GPTConfig(block_size=BLOCK_SIZE),
                     runs=(RunConfig("gpt", Schedule("constant", GPT_LR, 0, steps)),),
                     steps=steps, batch_size=BATCH_SIZE, seed=seed, eval_every=0)
    watch = WatchGradient(WATCHED)
    trainer = LockstepTrainer(spec, hooks=[watch])
    run = trainer.run()["runs"][0]
    return run["watched_grad"], watch.where(trainer), trainer.device


def adam_trace(grads: list[float], beta1: float, beta2: float, correct: bool) -> dict:
    """Feed `grads` to the course's Adam on one weight; read m, v back and measure each step."""
    w = torch.zeros(1, 1)  # (runs=1, 1)
    opt = AdamW([w], lr=LR, beta1=beta1, beta2=beta2, eps=EPS, bias_correction=correct)
    m, v, m_hat, v_hat, step = [], [], [], [], []
    for t, g in enumerate(grads, start=1):
        before = w.item()
        w.grad = torch.full_like(w, g)
        opt.step()
        state = opt.state[w]
        m.append(state["m"].item())
        v.append(state["v"].item())
        m_hat.append(m[-1] / (1 - beta1 ** t))
        v_hat.append(v[-1] / (1 - beta2 ** t))
        step.append((before - w.item()) / LR)  # the real update, in units of the LR
    return {"m": m, "v": v, "m_hat": m_hat, "v_hat": v_hat, "step": step}


def moments(grads: list[float], beta1: float, beta2: float) -> dict:
    """The same gradients fed to Adam with and without bias correction: the corrected run's raw and
    corrected moments, both runs' steps (in units of the LR) and their ratio."""
    corrected = adam_trace(grads, beta1, beta2, True)
    raw = adam_trace(grads, beta1, beta2, False)
    return {"m": corrected["m"], "v": corrected["v"], "m_hat": corrected["m_hat"], "v_hat": corrected["v_hat"],
            "step_corrected": corrected["step"], "step_uncorrected": raw["step"],
            "raw_m_matches": raw["m"] == corrected["m"] and raw["v"] == corrected["v"],
            "ratio": [u / c if c != 0 else None for u, c in zip(raw["step"], corrected["step"])]}


class BiasCorrectionWidget(Widget):
    def compute(self, values, progress=None):
        steps = values["steps"]
        if values["gradient"] == "constant":
            grads, source, device = [1.0] * steps, "constant gradient g = 1", "cpu"
        else:
            grads, where, device = gpt_gradients(steps, self.seed)
            source = f"real gradient of tiny-GPT weight {where}"
        # the Adam traces are scalar arithmetic on the CPU; the device is the one that trained the GPT
        return {"source": source, "device": device, "steps": list(range(1, steps + 1)), "g": grads,
                **moments(grads, values["beta1"], values["beta2"])}

    def figure(self, values, data):
        s = data["steps"]
        traces = [
            line(s, data["g"], "gradient g", 7, mode="lines+markers", marker={"size": 4}, dash="dot"),
            line(s, data["m"], "raw m", 0),
            line(s, data["m_hat"], "corrected m̂", 1, dash="dash"),
            line(s, data["v"], "raw v", 0, panel=2, show_legend=False, group="raw m"),
            line(s, data["v_hat"], "corrected v̂", 1, panel=2, dash="dash", show_legend=False, group="corrected m̂"),
            line(s, data["step_uncorrected"], "step without correction", 3, panel=3),
            line(s, data["step_corrected"], "step with correction", 2, panel=3),
        ]
        layout = panels_layout([f"first moment ({data['source']})", "second moment (log scale)",
                                "|update| / LR"],
                               y_titles=["m", "v", "step / LR"], y_log=[False, True, False], height=640)
        layout["xaxis"] = {**layout["xaxis"], "range": [0.5, values["steps"] + 0.5]}
        return figure(traces, layout, ghost=True)

    def tables(self, values, data):
        rows = [[t, *(fmt(x) for x in (g, m, mh, v, vh, su, sc))]
                for t, g, m, mh, v, vh, su, sc in zip(data["steps"], data["g"], data["m"], data["m_hat"],
                                                      data["v"], data["v_hat"], data["step_uncorrected"],
                                                      data["step_corrected"])]
        return [{"caption": f"Adam's moments and steps, {data['source']} (steps in units of the LR)",
                 "columns": ["step", "g", "raw m", "corrected m", "raw v", "corrected v",
                             "step without correction", "step with correction"],
                 "rows": rows}]

    def script(self, values):
        b1, b2, n = values["beta1"], values["beta2"], values["steps"]
        if values["gradient"] == "constant":
            grads = Step("The worked example's gradient: g = 1 at every step.", f"grads = [1.0] * {n}")
        else:
            grads = Step(f"A real gradient: one weight of the tiny GPT over its first {n} training steps (the "
                         f"entry of {WATCHED} whose gradient is largest at step 1).",
                         f"grads, where, device = gpt_gradients({n}, seed={self.seed})\nprint('the weight:', where)")
        numbers = []
        for t in sorted({0, 1, n - 1}):
            numbers += [Shown(f"step {t + 1}: |update| / LR with correction", ("step_corrected", t)),
                        Shown(f"step {t + 1}: |update| / LR without correction", ("step_uncorrected", t)),
                        Shown(f"step {t + 1}: corrected m", ("m_hat", t))]
        return Script(
            self.name, self.title, values, about=self.caption, numbers=tuple(numbers),
            imports="from widgets.bias_correction import gpt_gradients, moments",
            steps=(grads, Step(f"Feed the same gradients to two copies of the course's Adam (beta1 {b1:g}, beta2 "
                               f"{b2:g}) on one weight, with and without bias correction; read m and v back from "
                               "the optimizer's state and the step from the weight's change.",
                               f"result = moments(grads, beta1={b1!r}, beta2={b2!r})")))


WIDGET = BiasCorrectionWidget(
    name="bias-correction",
    title="Adam's bias correction",
    caption=("The course's Adam fed a constant gradient g = 1, with and without bias correction: at step 1 "
             "the raw m is 0.1 and the corrected m̂ is 1, and without correction the step is 3.2 times the "
             "corrected one, growing to about 6.6 times near step 12 before it slowly shrinks back, because "
             "v (beta2 = 0.999) is underestimated far longer than m."),
    params=(
        Param("beta1", "beta1", "float", 0.9, min=0.0, max=0.999, step=0.001,
              help="Decay of the first moment m (the mean of the gradients)."),
        Param("beta2", "beta2", "float", 0.999, min=0.5, max=0.9999, step=0.0001,
              help="Decay of the second moment v (the mean of the squared gradients)."),
        Param("steps", "Steps", "int", 50, min=5, max=100, step=5, unit="steps"),
        Param("gradient", "Gradient sequence", "choice", "constant", choices=("constant", "tiny-gpt"),
              help="A constant g = 1, or the real gradient of one tiny-GPT weight over its first steps."),
    ),
)
