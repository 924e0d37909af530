"""Adam + L2 vs AdamW: the same weight-decay coefficient, added to the gradient or decoupled.

Two real runs of the tiny GPT in lockstep (one run-stacked model: same initial
weights, same batches), each with its own course optimizer (the trainer's per_run_blocks):

  Adam + L2   AdamW(decoupled=False): g <- g + wd * theta, then Adam divides by sqrt(v_hat)
  AdamW       AdamW(decoupled=True):  theta <- theta - lr * wd * theta, untouched by v

Both decay only the weight matrices (see model.is_decayed). After every step the
widget reads each optimizer's real state and measures, per weight matrix, how much
the decay alone moved it, relative to the matrix's norm:

  AdamW       ||lr * wd * theta|| / ||theta|| = lr * wd               (the same for every matrix)
  Adam + L2   ||lr * wd * theta / (sqrt(v_hat) + eps)|| / ||theta||  (the decay term's share of the step)

so L2 decays a matrix whose gradients are large (large v) much less than one whose
gradients are small.

With several seeds (`seeds`), every seed trains both runs in the same pass; the recorder's
series are per stacked run, in the order of `runs` (seed-major), and the chart draws each
curve's mean over the seeds inside the band of its lowest and highest seed.
"""
from __future__ import annotations

import math
import statistics

import torch

from widgets import spread
from widgets.base import Param, Widget
from widgets.kit import band_traces, color, figure, fmt, line, seed_note, seeded_curves, title, train_streaming
from widgets.lab.model import GPTConfig
from widgets.lab.optim import AdamW
from widgets.lab.schedules import Schedule
from widgets.lab.hooks import StepHook
from widgets.lab.optim import per_run_blocks
from widgets.lab.trainer import RunConfig, TrainSpec
from widgets.script import Shown, final_numbers, training_script
from widgets.spread import SEEDS_PARAM

BATCH_SIZE = 8
BLOCK_SIZE = 32
EVAL_EVERY = 25
EPS = 1e-8
WINDOW = 10  # the per-matrix decay shown is the mean over the last WINDOW steps
LABELS = ("Adam + L2", "AdamW")
COLOURS = (3, 2)  # Adam + L2 orange, AdamW green


def short(name: str) -> str:
    """blocks.0.attn.qkv.weight -> L0 attn.qkv"""
    parts = name.split(".")
    return f"L{parts[1]} {'.'.join(parts[2:-1])}" if parts[0] == "blocks" else name


class DecayRecorder(StepHook):
    """After each step: the decayed-weight norm per run, and each matrix's decay rate and sqrt(v_hat),
    read from each run's own optimizer state (run r is block r: its optimizer's rows of the flat buffers;
    with several seeds, every seed's runs are blocks of their own)."""

    def __init__(self, values: dict):
        self.values = values
        self.names: list[str] = []
        runs = len(LABELS) * values.get("seeds", 1)
        self.norm = [[] for _ in range(runs)]  # per run: norm of all decayed matrices together, per step
        self.rate = [[] for _ in range(runs)]  # per run, per step: [decay rate of each matrix]
        self.sqrt_v = [[] for _ in range(runs)]  # per run, per step: [rms of sqrt(v_hat) of each matrix]

    def after_step(self, trainer, accepted) -> None:
        lr, wd, b2 = self.values["lr"], self.values["weight_decay"], self.values["beta2"]
        slots = trainer.params.group("decayed").slots
        if not self.names:
            self.names = [short(s.name) for s in slots]
        with torch.no_grad():
            for run, opt in enumerate(trainer.optimizer.optimizers):
                rows = opt.param_groups[0]["params"][0]  # this run's row of the decayed buffer
                v_all = opt.state[rows]["v"] / (1 - b2 ** opt.steps[0])
                rates, roots, total = [], [], 0.0
                for slot in slots:
                    theta, root = rows[:, slot.columns], v_all[:, slot.columns].sqrt()
                    norm = theta.double().norm().item()
                    total += norm ** 2
                    if not opt.param_groups[0]["decoupled"]:  # L2: the decay after the division by sqrt(v_hat)
                        moved = (lr * wd * theta / (root + EPS)).double().norm().item()
                    else:  # decoupled: lr * wd * theta
                        moved = lr * wd * norm
                    rates.append(moved / norm if norm > 0 else 0.0)
                    roots.append(root.double().pow(2).mean().sqrt().item())
                self.norm[run].append(math.sqrt(total))
                self.rate[run].append(rates)
                self.sqrt_v[run].append(roots)

    def data(self) -> dict:
        def recent(series):
            rows = series[-WINDOW:]
            return [sum(col) / len(rows) for col in zip(*rows)] if rows else [0.0] * len(self.names)
        return {"tensors": self.names,
                "decayed_norm": [list(n) for n in self.norm],
                "decay_rate": [recent(r) for r in self.rate],
                "sqrt_v": [recent(r) for r in self.sqrt_v]}


def of_curve(series: list, r: int, curves: int) -> list:
    """The entries of curve r, one per seed, from per-run series in the order of `runs` (seed-major)."""
    return series[r::curves]


def seed_spread(series: list[list[float]]) -> tuple[list, list, list]:
    """(min, mean, max) over the seeds at each step; one seed's series as it is, three times."""
    if len(series) == 1:
        return series[0], series[0], series[0]
    return spread.per_step([{"y": s} for s in series], "y")


def curve_mean(per_run: list[list[float]], r: int) -> list[float]:
    """Curve r's per-matrix numbers, averaged over its seeds (one seed's as they are)."""
    rows = of_curve(per_run, r, len(LABELS))
    return rows[0] if len(rows) == 1 else [statistics.fmean(col) for col in zip(*rows)]


class DecoupledDecayWidget(Widget):
    @staticmethod
    def blocks(values: dict) -> list[tuple]:
        def make(decoupled: bool):
            def factory(groups, runs):
                groups[0]["weight_decay"] = values["weight_decay"]  # weight matrices only
                return AdamW(groups, runs, lr=values["lr"], beta1=0.9, beta2=values["beta2"], eps=EPS,
                             decoupled=decoupled)
            return factory
        return [(1, make(False)), (1, make(True))]

    def spec(self, values: dict) -> TrainSpec:
        steps, lr = values["steps"], values["lr"]
        return TrainSpec(model=GPTConfig(block_size=BLOCK_SIZE),
                         runs=tuple(RunConfig(label, Schedule("constant", lr, 0, steps)) for label in LABELS),
                         steps=steps, batch_size=BATCH_SIZE, seed=self.seed, eval_every=EVAL_EVERY,
                         seeds=values["seeds"])

    def compute(self, values, progress=None):
        recorder = DecayRecorder(values)
        return train_streaming(self.spec(values), progress, shape=lambda partial: {**partial, **recorder.data()},
                               optimizer=per_run_blocks(self.blocks(values)), hooks=[recorder])

    def figure(self, values, data):
        traces = []
        steps = values["steps"]
        several = spread.seed_count(data) > 1
        for r, (run, _) in enumerate(seeded_curves(data, keys=("loss",))):
            i = COLOURS[r]
            low, norm, high = seed_spread(of_curve(data["decayed_norm"], r, len(LABELS)))
            x = list(range(1, len(norm) + 1))
            if several:  # the bands: the norm's and the training loss's, lowest to highest seed
                traces += band_traces(x, low, high, run["label"], i, panel=1)
                loss_low, _, loss_high = spread.per_step(spread.by_curve(data)[r])
                traces += band_traces(list(range(len(loss_low))), loss_low, loss_high, run["label"], i, panel=2)
            traces.append(line(x, norm, run["label"], i))
            traces.append(line(range(len(run["loss"])), run["loss"], run["label"], i, panel=2, show_legend=False))
            traces.append({"type": "bar", "x": data["tensors"], "y": curve_mean(data["decay_rate"], r),
                           "name": run["label"], "legendgroup": run["label"], "showlegend": False,
                           "marker": {"color": color(i)}, "xaxis": "x3", "yaxis": "y3"})
        traces.append({"type": "scatter", "mode": "lines+markers", "x": data["tensors"],
                       "y": curve_mean(data["sqrt_v"], 0),
                       "name": "Adam + L2: rms of sqrt(v̂)", "line": {"color": "#6b7280", "dash": "dot"},
                       "marker": {"size": 7}, "xaxis": "x3", "yaxis": "y4"})
        layout = {
            "height": 640, "margin": {"l": 64, "r": 90, "t": 70, "b": 90}, "hovermode": "closest",
            "barmode": "group", "legend": {"orientation": "h", "x": 0, "y": 1.07, "yanchor": "bottom"},
            "xaxis": {"domain": [0, 0.46], "range": [0, steps], "anchor": "y", "title": {"text": "step"}},
            "yaxis": {"domain": [0.6, 1], "anchor": "x", "title": {"text": "norm"}},
            "xaxis2": {"domain": [0.56, 1], "range": [0, steps], "anchor": "y2", "title": {"text": "step"}},
            "yaxis2": {"domain": [0.6, 1], "anchor": "x2", "range": [1.5, 4.6], "title": {"text": "loss"}},
            "xaxis3": {"domain": [0, 1], "anchor": "y3", "tickangle": -30},
            "yaxis3": {"domain": [0, 0.4], "anchor": "x3", "type": "log", "exponentformat": "power",
                       "title": {"text": "decay / step"}},
            "yaxis4": {"domain": [0, 0.4], "anchor": "x3", "overlaying": "y3", "side": "right", "type": "log",
                       "tickformat": ".0e", "nticks": 4, "title": {"text": "rms sqrt(v̂)", "standoff": 4},
                       "showgrid": False},
            "annotations": [
                title("norm of the decayed weight matrices", 0, 1.0),
                title("training loss", 0.56, 1.0),
                title(f"decay per step relative to each matrix's norm (mean of the last {WINDOW} steps)", 0, 0.4),
            ],
        }
        return figure(traces, layout)

    def tables(self, values, data):
        runs = data["runs"]
        names = [r["label"] + seed_note(r) for r in runs]
        final = [[name, fmt(data["decayed_norm"][k][-1] if data["decayed_norm"][k] else None),
                  fmt(r["loss"][-1] if r["loss"] else None),
                  fmt(r["val_loss"][-1] if r["val_loss"] else None)] for k, (name, r) in enumerate(zip(names, runs))]
        l2, adamw = (curve_mean(data["decay_rate"], r) for r in range(len(LABELS)))
        per_tensor = [[name, fmt(a, 3), fmt(b, 3), fmt(v, 3)] for name, a, b, v in
                      zip(data["tensors"], l2, adamw, curve_mean(data["sqrt_v"], 0))]
        over = f", mean over {spread.seed_count(data)} seeds" if spread.seed_count(data) > 1 else ""
        every = 10
        norms = [[t + 1] + [fmt(n[t]) for n in data["decayed_norm"]]
                 for t in range(0, min(len(n) for n in data["decayed_norm"]), every)]
        return [
            {"caption": "End of the runs", "columns": ["run", "decayed-weight norm", "train loss", "validation loss"],
             "rows": final},
            {"caption": f"Decay per step relative to the matrix's norm (mean of the last {WINDOW} steps{over})",
             "columns": ["matrix", "Adam + L2", "AdamW", "Adam + L2: rms sqrt(v_hat)"], "rows": per_tensor},
            {"caption": f"Norm of the decayed weight matrices, every {every} steps",
             "columns": ["step", *names], "rows": norms},
        ]

    def script(self, values):
        spec = self.spec(values)
        numbers = [Shown(f"{label}: decayed-weight norm at the end", ("decayed_norm", r, -1))
                   for r, label in enumerate(LABELS)]
        numbers += [Shown(f"Adam + L2: decay per step of the first matrix (mean of the last {WINDOW} steps)",
                          ("decay_rate", 0, 0)),
                    Shown(f"AdamW: decay per step of the first matrix (mean of the last {WINDOW} steps)",
                          ("decay_rate", 1, 0))]
        numbers += list(final_numbers(LABELS))
        return training_script(
            self, values, spec,
            "Two runs from the same weights on the same batches, at the same constant LR.",
            f"Each run has its own course optimizer: run 0 AdamW(decoupled=False), that is Adam + L2 (the decay "
            f"added to the gradient, then divided by sqrt(v_hat)), run 1 AdamW(decoupled=True); the same "
            f"coefficient {values['weight_decay']:g}, on the weight matrices only. After every step the recorder "
            "reads each optimizer's state and measures how much the decay alone moved each matrix.",
            train=("recorder = DecayRecorder(values)\n"
                   "history = train(spec, optimizer=per_run_blocks(DecoupledDecayWidget.blocks(values)), "
                   "hooks=[recorder])\n"
                   "result = {**history, **recorder.data()}\n"
                   "for name, l2, decoupled in zip(result['tensors'], *result['decay_rate']):\n"
                   "    print(f'{name:28s} decay per step: Adam + L2 {l2:.3g}, AdamW {decoupled:.3g}')"),
            extra_imports=("widgets.decoupled_decay:DecayRecorder", "widgets.decoupled_decay:DecoupledDecayWidget",
                           "widgets.lab.optim:per_run_blocks"),
            numbers=tuple(numbers))


WIDGET = DecoupledDecayWidget(
    name="decoupled-decay",
    title="Adam + L2 vs AdamW",
    caption=("Two real runs of the tiny GPT, same weights and batches, the same coefficient 0.1: Adam + L2 "
             "shrinks the weight matrices to less than half their starting norm in 100 steps while under AdamW "
             "they grow, because L2's decay is divided by sqrt(v), which is tiny for these small gradients; "
             "and under L2 the matrices with the largest sqrt(v) are decayed least. Both hold on each of five "
             "seeds."),
    streams=True,
    params=(
        Param("weight_decay", "Weight-decay coefficient", "float", 0.1, min=0.0, max=1.0, step=0.01,
              help=("The same number for both runs. AdamW shrinks every matrix by lr x wd per step; Adam + L2 "
                    "adds wd x theta to the gradient, which Adam then divides by sqrt(v): matrices with large "
                    "gradients are decayed less, those with small gradients more.")),
        Param("lr", "Learning rate", "float", 3e-3, min=1e-4, max=3e-2, step=0.05, log=True),
        Param("steps", "Training steps", "int", 100, min=20, max=250, step=10, unit="steps"),
        SEEDS_PARAM,
        Param("beta2", "Adam beta2", "float", 0.95, min=0.8, max=0.999, step=0.001, advanced=True),
    ),
)
