"""LR sweep: real runs of the tiny GPT at geometrically spaced learning rates.

All runs train in ONE LockstepTrainer: same initial weights, same batches, and each
run has its own schedule peak (constant, or cosine to 10% of its peak). The top
panel plots each run's final loss against its LR on a log axis; the bottom panel
shows the loss curves. Zones come from the runs themselves (see `zones`):

  diverge  the run hit NaN/inf, or its final loss is not below its loss at step 0
  crawl    (of the rest) LR below the best run's LR and improvement from step 0 less
           than half of the best run's improvement
  learn    every other run

"final loss" is the mean of the last FINAL_WINDOW training losses (every run saw the
same batches, so the mean compares like with like); with several seeds, its mean over the
seeds, and the loss curves are each LR's mean inside a band. While the runs stream, only the
loss curves grow; the final-loss panel and the zones are drawn once the runs are done.
"""
from __future__ import annotations

import math
import statistics

from widgets.base import Param, ParamError, Widget
from widgets.kit import (check_inside_run, color, figure, finite_list, fit_range, fmt, line, seeded_curves, title,
                         train_streaming)
from widgets.spread import SEEDS_PARAM
from widgets.lab.model import GPTConfig
from widgets.lab.schedules import Schedule, floor_lr
from widgets.lab.trainer import RunConfig, TrainSpec
from widgets.script import Shown, training_script

BATCH_SIZE = 8  # sequences per step
BLOCK_SIZE = 32  # characters per sequence
FINAL_WINDOW = 10  # final loss = mean of the last 10 training losses
MAX_TOP_LR = 10.0  # the highest LR of a sweep may not exceed this
LOSS_RANGE = [1.8, 5.0]  # fixed y range of both panels
ZONE_COLORS = {"crawl": "rgba(37, 99, 235, 0.10)", "learn": "rgba(5, 150, 105, 0.13)",
               "diverge": "rgba(220, 38, 38, 0.12)"}
ZONE_TEXT = {"crawl": "#1d4ed8", "learn": "#047857", "diverge": "#b91c1c"}


def sweep_lrs(lowest: float, factor: float, count: int) -> list[float]:
    """lowest, lowest*factor, ..., rounded to 4 significant digits (what the runs use)."""
    return [float(f"{lowest * factor ** k:.4g}") for k in range(count)]


def final_loss(losses: list[float], diverged_at: int | None) -> float | None:
    """Mean of the last FINAL_WINDOW training losses; None for a run that hit NaN/inf."""
    if diverged_at is not None or not losses:
        return None
    tail = losses[-FINAL_WINDOW:]
    return sum(tail) / len(tail)


def zones(lrs: list[float], initial: list[float], final: list[float | None]) -> tuple[list[str], int | None]:
    """Each run's zone, and the index of the best run (lowest final loss, not diverged)."""
    diverged = [f is None or not math.isfinite(f) or f >= i0 for f, i0 in zip(final, initial)]
    candidates = [k for k in range(len(lrs)) if not diverged[k]]
    if not candidates:
        return ["diverge"] * len(lrs), None
    best = min(candidates, key=lambda k: final[k])
    best_gain = initial[best] - final[best]
    labels = []
    for k in range(len(lrs)):
        if diverged[k]:
            labels.append("diverge")
        elif lrs[k] < lrs[best] and initial[k] - final[k] < 0.5 * best_gain:
            labels.append("crawl")
        else:
            labels.append("learn")
    return labels, best


def _mean(values: list) -> float | None:
    """The mean over a curve's seeds; None if a seed has no value (it diverged, or has not started)."""
    return None if any(v is None for v in values) else statistics.fmean(values)


def summarise(lrs: list[float], history: dict) -> dict:
    """What the chart shows of the sweep's histories: each LR's loss at step 0 and final loss (with
    several seeds, their means over the seeds; None if a seed diverged), and (once every run is
    done or diverged) the zones and the best LR."""
    runs = history["runs"]
    seeds = [runs[c::len(lrs)] for c in range(len(lrs))]  # seed-major: LR c's runs are c, c + len(lrs), ...
    initial = [_mean([r["loss"][0] if r["loss"] else None for r in curve]) for curve in seeds]
    final = [_mean([final_loss(r["loss"], r["diverged_at"]) for r in curve]) for curve in seeds]
    data = {"steps": history["steps"], "done": history["done"], "device": history["device"], "lrs": lrs,
            "runs": [{"label": r["label"], "loss": finite_list(r["loss"]), "diverged_at": r["diverged_at"],
                      **({"seed": r["seed"]} if "seed" in r else {})} for r in runs],
            "initial": initial, "final": final, "zones": None, "best": None}
    if history["done"] == history["steps"] or all(r["diverged_at"] is not None for r in runs):
        labels, best = zones(lrs, [x if x is not None else math.inf for x in initial], final)
        data["zones"], data["best"] = labels, best
    return data


class LRSweepWidget(Widget):
    def check(self, values: dict) -> None:
        top = values["lowest_lr"] * values["factor"] ** (values["count"] - 1)
        if top > MAX_TOP_LR * (1 + 1e-9):
            raise ParamError("factor", values["factor"], f"at most {(MAX_TOP_LR / values['lowest_lr']) ** (1 / (values['count'] - 1)):.3g} "
                             f"with {values['count']} LRs from {values['lowest_lr']:g}",
                             f"factor={values['factor']:g} puts the highest LR at {top:.3g}: "
                             f"the sweep may reach at most {MAX_TOP_LR:g}")
        check_inside_run(values, "warmup")

    def lrs(self, values: dict) -> list[float]:
        return sweep_lrs(values["lowest_lr"], values["factor"], values["count"])

    def spec(self, values: dict) -> TrainSpec:
        steps, family = values["steps"], values["schedule"]
        runs = tuple(RunConfig(f"lr {lr:.3g}", Schedule(family, lr, values["warmup"], steps,
                                                       floor_lr(lr) if family == "cosine" else 0.0))
                     for lr in self.lrs(values))
        return TrainSpec(model=GPTConfig(block_size=BLOCK_SIZE), runs=runs, steps=steps,
                         batch_size=BATCH_SIZE, seed=self.seed, eval_every=steps, seeds=values["seeds"])

    def compute(self, values, progress=None):
        lrs = self.lrs(values)
        return train_streaming(self.spec(values), progress, shape=lambda history: summarise(lrs, history))

    def figure(self, values, data):
        lrs = data["lrs"]
        log_lo, log_hi = math.log10(lrs[0]) - 0.3, math.log10(lrs[-1]) + 0.3
        traces, shapes, notes = [], [], []
        top = LOSS_RANGE[1]
        # top panel: final loss vs LR, once the runs are done (points above the range sit on the
        # top edge as triangles); while they stream the panel stays empty, so a partial figure
        # only ever grows (see widgets/kit.py)
        done = data["zones"] is not None
        final = data["final"] if done else []
        shown = [None if f is None else min(f, top - 0.08) for f in final]
        text = ["NaN" if data["runs"][k]["diverged_at"] is not None else
                ("" if f is None else f"{f:.2f}") for k, f in enumerate(final)]
        symbols = ["triangle-up" if f is None or f > top - 0.08 else "circle" for f in final]
        nan_y = [top - 0.08 if data["runs"][k]["diverged_at"] is not None else y for k, y in enumerate(shown)]
        traces.append({"type": "scatter", "mode": "lines+markers+text", "x": lrs[:len(final)], "y": nan_y,
                       "text": text, "textposition": "bottom center", "name": "final loss",
                       "marker": {"size": 10, "symbol": symbols, "color": [color(k) for k in range(len(final))]},
                       "line": {"color": "#6b7280", "width": 1}, "xaxis": "x", "yaxis": "y", "showlegend": False,
                       "hovertemplate": "LR %{x:.3g}: final loss %{text}<extra></extra>"})
        best = [data["best"]] if data["best"] is not None else []
        traces.append({"type": "scatter", "mode": "markers", "x": [lrs[b] for b in best],
                       "y": [data["final"][b] for b in best],
                       "name": "best", "marker": {"size": 18, "symbol": "star-open", "color": "#111827"},
                       "xaxis": "x", "yaxis": "y", "showlegend": False, "hoverinfo": "skip"})
        # bottom panel: the loss curves
        for k, (run, band) in enumerate(seeded_curves(data, keys=("loss",), panel=2)):
            traces += band
            traces.append(line(range(len(run["loss"])), run["loss"], run["label"], k, panel=2))
        curves_y, curves_title = fit_range(LOSS_RANGE, [v for run in data["runs"] for v in run["loss"]],
                                           "training loss")
        # zone bands from the runs: each run owns the span between its neighbours' geometric midpoints
        if data["zones"]:
            edges = [log_lo] + [(math.log10(a) + math.log10(b)) / 2 for a, b in zip(lrs, lrs[1:])] + [log_hi]
            k = 0
            while k < len(lrs):
                j = k
                while j + 1 < len(lrs) and data["zones"][j + 1] == data["zones"][k]:
                    j += 1
                zone = data["zones"][k]
                x0, x1 = 10 ** edges[k], 10 ** edges[j + 1]
                shapes.append({"type": "rect", "xref": "x", "yref": "y", "x0": x0, "x1": x1,
                               "y0": LOSS_RANGE[0], "y1": top, "fillcolor": ZONE_COLORS[zone],
                               "line": {"width": 0}, "layer": "below"})
                notes.append({"text": f"<b>{zone}</b>", "xref": "x", "yref": "y",
                              "x": (edges[k] + edges[j + 1]) / 2, "y": LOSS_RANGE[0] + 0.05,
                              "yanchor": "bottom", "showarrow": False, "font": {"color": ZONE_TEXT[zone]}})
                k = j + 1
        layout = {
            "height": 640, "margin": {"l": 64, "r": 16, "t": 70, "b": 48}, "hovermode": "closest",
            "legend": {"orientation": "h", "y": 1.07, "yanchor": "bottom", "x": 0},
            "xaxis": {"type": "log", "range": [log_lo, log_hi], "anchor": "y",
                      "title": {"text": "learning rate (log scale)"}},
            "yaxis": {"domain": [0.58, 1.0], "range": LOSS_RANGE, "anchor": "x",
                      "title": {"text": f"final loss (mean of last {FINAL_WINDOW})"}},
            "xaxis2": {"range": [0, max(data["steps"], 1)], "anchor": "y2", "title": {"text": "step"}},
            "yaxis2": {"domain": [0.0, 0.38], "range": curves_y, "anchor": "x2",
                       "title": {"text": curves_title}},
            "shapes": shapes,
            "annotations": [title("final loss vs learning rate" + ("" if done else " (drawn when the runs end)"), 0, 1.0),
                            title("loss curves (same weights, same batches)", 0, 0.38), *notes],
        }
        return figure(traces, layout)

    def tables(self, values, data):
        rows = []
        for k, lr in enumerate(data["lrs"]):
            run = data["runs"][k]
            zone = data["zones"][k] if data["zones"] else "running"
            rows.append([fmt(lr), fmt(data["initial"][k]), fmt(data["final"][k], missing="NaN"),
                         "" if run["diverged_at"] is None else run["diverged_at"],
                         zone + (" (best)" if data["best"] == k else "")])
        return [{"caption": f"Each run: loss at step 0, final loss (mean of the last {FINAL_WINDOW} steps), zone",
                 "columns": ["learning rate", "loss at step 0", "final loss", "NaN at step", "zone"],
                 "rows": rows}]

    def script(self, values):
        lrs = self.lrs(values)
        numbers = [Shown("best run (index)", ("best",))]
        for k, lr in enumerate(lrs):
            numbers += [Shown(f"lr {lr:.3g}: final loss (mean of the last {FINAL_WINDOW})", ("final", k)),
                        Shown(f"lr {lr:.3g}: zone", ("zones", k))]
        return training_script(
            self, values, self.spec(values),
            f"{len(lrs)} runs of the tiny GPT from the same initial weights on the same batches; only the "
            "learning rate differs, each run a constant factor above the last.",
            "Train them all in lockstep (one run-stacked model), then read each run's final loss (the mean of "
            f"its last {FINAL_WINDOW} training losses) and sort the runs into zones: diverge (NaN, or not below "
            "its loss at step 0), crawl (below the best run's LR and less than half its gain), learn.",
            train=f"lrs = {lrs!r}\nresult = summarise(lrs, train(spec))",
            extra_imports=("widgets.lr_sweep:summarise",), numbers=tuple(numbers))


WIDGET = LRSweepWidget(
    name="lr-sweep",
    title="Learning-rate sweep",
    caption=("Six real runs of the tiny GPT from the same weights on the same batches, LRs 6x apart: "
             "the lowest LR crawls (it gains less than half of what the best run gains), the middle ones learn, "
             "and the highest ends above its starting loss (diverge)."),
    streams=True,
    params=(
        Param("lowest_lr", "Lowest learning rate", "float", 1e-4, min=1e-5, max=1e-2, step=0.05, log=True,
              help="The first LR of the sweep; each next one is `factor` times larger."),
        Param("factor", "Factor between LRs", "float", 6.0, min=2.0, max=10.0, step=0.5, unit="x",
              help="Sweeps usually step by 2-10x: coarse first, then finer around the best."),
        Param("count", "Number of LRs", "int", 6, min=3, max=8, step=1, unit="runs"),
        Param("steps", "Training steps", "int", 100, min=30, max=250, step=10, unit="steps"),
        SEEDS_PARAM,
        Param("schedule", "Schedule of every run", "choice", "constant", choices=("constant", "cosine"),
              help="Cosine decays each run to 10% of its own peak."),
        Param("warmup", "Warmup steps", "int", 0, min=0, max=100, step=5, unit="steps", advanced=True),
    ),
)
