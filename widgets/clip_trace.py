"""A short real run traced by its gradient norm, with and without clipping.

Two runs of the tiny GPT in lockstep (same initial weights, same batches); one
clips the global gradient norm at c. At `bad_step` the batch is corrupted for
both (one character repeated, through the trainer's batch_hook). Each step we
record the gradient norm before clipping, whether clipping fired, and how far the
weights moved, ||theta_after - theta_before||, for each run.
"""
from __future__ import annotations

import math

import torch

from widgets.base import Param, Widget
from widgets import spread
from widgets.kit import (check_inside_run, figure, fmt, hline, line, panels_layout, seed_note, seeded_curves,
                         train_streaming)
from widgets.spread import SEEDS_PARAM
from widgets.lab.corrupt import BAD_CHAR, constant_batch, corrupt_steps
from widgets.lab.model import GPTConfig
from widgets.lab.schedules import cosine_to_floor
from widgets.lab.hooks import WeightsMoved
from widgets.lab.trainer import RunConfig, TrainSpec
from widgets.script import Shown, final_numbers, training_script

BATCH_SIZE = 8
BLOCK_SIZE = 32
PEAK_LR = 6e-3
WARMUP = 10


def percentile_90(norms: list[float]) -> float:
    """The 90th percentile of the observed norms (linear interpolation, as numpy's default)."""
    return float(torch.quantile(torch.tensor(norms, dtype=torch.float64), 0.9)) if norms else math.nan


class ClipTraceWidget(Widget):
    def check(self, values: dict) -> None:
        check_inside_run(values, "bad_step", "must fall inside the run")

    def spec(self, values: dict) -> TrainSpec:
        steps = values["steps"]
        schedule = cosine_to_floor(PEAK_LR, WARMUP, steps)
        return TrainSpec(model=GPTConfig(block_size=BLOCK_SIZE),
                         runs=(RunConfig("no clipping", schedule),
                               RunConfig(f"clip at {values['threshold']:.3g}", schedule, clip=values["threshold"])),
                         steps=steps, batch_size=BATCH_SIZE, seed=self.seed, eval_every=25, seeds=values["seeds"])

    @staticmethod
    def hook(values: dict):
        bad = [values["bad_step"]] if values["bad_batch"] else []
        return corrupt_steps(bad, lambda t, x, y: constant_batch(x))

    def compute(self, values, progress=None):
        def shape(result: dict) -> dict:
            return self.summarise({**result, "threshold": values["threshold"],
                                   "bad_step": values["bad_step"] if values["bad_batch"] else None})
        return train_streaming(self.spec(values), progress, shape=shape, batch_hook=self.hook(values),
                               hooks=[WeightsMoved()])

    @staticmethod
    def summarise(data: dict) -> dict:
        """The clipping statistics of the first seed's two runs (the one-seed result's)."""
        free, clipped = data["runs"][:2]
        c = data["threshold"]
        data["share_clipped"] = sum(clipped["clipped"]) / len(clipped["clipped"]) if clipped["clipped"] else 0.0
        data["p90"] = percentile_90(free["grad_norm"]) if free["grad_norm"] else None
        data["norm_above_c"] = sum(n > c for n in clipped["grad_norm"])
        return data

    def figure(self, values, data):
        traces = []
        for i, (run, band) in enumerate(seeded_curves(data, keys=("loss", "grad_norm", "moved"), panel=2)):
            steps = list(range(len(run["loss"])))
            traces.append(line(steps, run["grad_norm"], run["label"], i, panel=1))
            traces += band
            traces.append(line(steps, run["loss"], run["label"], i, panel=2, show_legend=False))
            traces.append(line(steps, run["moved"], run["label"], i, panel=3, show_legend=False))
        total = data["steps"]
        layout = panels_layout(
            ["gradient norm before clipping (dashed: c; dotted: 90th percentile)",
             "training loss", "how far the weights moved this step, ||Δθ||"],
            y_titles=["gradient norm", "loss", "||Δθ||"], y_log=[True, False, True],
            y_ranges=[[-1.3, 1.6], [1.8, 4.6], [-2.5, 0.5]], height=700)
        layout["xaxis"] = {**layout["xaxis"], "range": [0, total]}
        layout["hovermode"] = "x unified"
        shapes = [hline(data["threshold"], 0, total)]
        done = data["done"] >= total
        if done and data["p90"] is not None:
            shapes.append({"type": "line", "xref": "x", "yref": "y", "x0": 0, "x1": total, "y0": data["p90"],
                           "y1": data["p90"], "line": {"dash": "dot", "color": "#059669"}})
        if data["bad_step"] is not None:
            for k in ("", "2", "3"):
                shapes.append({"type": "line", "xref": "x", "yref": f"y{k} domain", "x0": data["bad_step"],
                               "x1": data["bad_step"], "y0": 0, "y1": 1,
                               "line": {"dash": "dot", "color": "#d97706", "width": 1}})
        layout["shapes"] = shapes
        return figure(traces, layout)  # what the run measured is page text: see findings()

    def findings(self, values, data):
        found = []
        first = " on the first seed" if spread.seed_count(data) > 1 else ""
        if data["p90"] is not None:
            found.append(f"The clipped run{first} was clipped on {data['share_clipped']:.0%} of its steps; the 90th "
                         f"percentile of the gradient norms the unclipped run observed is {data['p90']:.3g}.")
        if data["bad_step"] is not None:
            found.append(f"A corrupted batch ('{BAD_CHAR}' repeated) arrives at step {data['bad_step']}: the orange "
                         f"dotted line.")
        return found + spread.findings(data)

    def tables(self, values, data):
        tables = [{"caption": "Summary", "columns": ["quantity", "value"], "rows": [
            ["threshold c", fmt(data["threshold"])],
            ["share of steps clipped", fmt(data["share_clipped"], 3)],
            ["steps with norm > c (clipped run)", str(data["norm_above_c"])],
            ["90th percentile of the unclipped run's norms", fmt(data["p90"])],
            ["corrupted batch at step", "-" if data["bad_step"] is None else str(data["bad_step"])]]}]
        for run in data["runs"]:
            every = 5
            rows = [[t, fmt(run["loss"][t]), fmt(run["grad_norm"][t]), fmt(run["clipped"][t]), fmt(run["moved"][t])]
                    for t in range(len(run["loss"])) if t % every == 0 or t == data["bad_step"]]
            tables.append({"caption": f"{run['label']}{seed_note(run)}: every {every} steps and the corrupted step",
                           "columns": ["step", "loss", "gradient norm", "clipped", "weights moved"], "rows": rows})
        return tables

    def script(self, values):
        spec, c = self.spec(values), values["threshold"]
        bad = values["bad_step"] if values["bad_batch"] else None
        numbers = [Shown("share of steps clipped", ("share_clipped",)),
                   Shown("90th percentile of the unclipped run's gradient norm", ("p90",))]
        if bad is not None:
            numbers += [Shown(f"step {bad}: gradient norm (corrupted batch)", ("runs", 0, "grad_norm", bad)),
                        Shown(f"step {bad}: weights moved without clipping", ("runs", 0, "moved", bad)),
                        Shown(f"step {bad}: weights moved with clipping", ("runs", 1, "moved", bad))]
        numbers += list(final_numbers([r.label for r in spec.runs], keys=("val_loss",)))
        corrupt = f"the batch of step {bad} is replaced by one character repeated, for both runs" if bad is not None \
            else "no batch is corrupted"
        return training_script(
            self, values, spec,
            f"Two runs from the same weights on the same batches and schedule; the second clips the global "
            f"gradient norm at c = {c:g}.",
            f"Train both in lockstep. The batch hook corrupts batches ({corrupt}); WeightsMoved records how far "
            "each update moved the weights, ||theta_after - theta_before||. Then the share of clipped steps and "
            "the 90th percentile of the unclipped run's gradient norm.",
            train=("history = train(spec, batch_hook=ClipTraceWidget.hook(values), hooks=[WeightsMoved()])\n"
                   f"result = ClipTraceWidget.summarise({{**history, 'threshold': {c!r}, 'bad_step': {bad!r}}})"),
            extra_imports=("widgets.clip_trace:ClipTraceWidget", "widgets.lab.hooks:WeightsMoved"),
            numbers=tuple(numbers))


WIDGET = ClipTraceWidget(
    name="clip-trace",
    title="Gradient norms through a run, and a bad batch",
    caption=("Two real runs in lockstep, one clipping at c = 1; a corrupted batch at step 60 spikes the gradient "
             "norm far above c, and the run with clipping moves its weights less on that step."),
    streams=True,
    params=(
        Param("threshold", "Clipping threshold c", "float", 1.0, min=0.05, max=20.0, step=0.05, log=True),
        Param("bad_batch", "Inject a corrupted batch", "bool", True,
              help=f"One character ('{BAD_CHAR}') repeated over the whole batch, for both runs."),
        Param("bad_step", "Corrupted batch at step", "int", 60, min=0, max=199, step=1, unit="steps"),
        Param("steps", "Training steps", "int", 80, min=20, max=200, step=10, unit="steps"),
        SEEDS_PARAM,
    ),
)
