"""Schedule families on real runs with the same budget, and WSD's "decay now" branch.

Constant, cosine, linear and WSD share the peak LR, the warmup, the number of steps and
the floor they decay to (10% of the peak, or zero); a fifth lockstep run is WSD's branch:
it follows the WSD run exactly until the branch step, then decays to the floor over a
short window (widgets/lab/branching.py
explains why that run IS a branch from the WSD run's checkpoint). All five runs start
from the same weights and read the same batches, in one LockstepTrainer.

The loss panel shows each run's training loss averaged over the last SMOOTH steps
(batches of 8 sequences are noisy; every run saw the same batches, so the averages
compare like with like) and the validation loss as dots.
"""
from __future__ import annotations

from widgets.base import Param, ParamError, Widget
from widgets.kit import (check_inside_run, figure, fmt, line, panels_layout, seed_note, seeded_curves,
                         train_streaming)
from widgets.spread import SEEDS_PARAM
from widgets.lab.branching import DecayBranch
from widgets.lab.model import GPTConfig
from widgets.lab.schedules import Schedule, floor_lr
from widgets.lab.trainer import RunConfig, TrainSpec
from widgets.script import Shown, training_script

BATCH_SIZE = 8
BLOCK_SIZE = 32
SMOOTH = 10  # the loss panel plots the mean of the last 10 training losses
FAMILIES = ("constant", "cosine", "linear", "wsd")
LABELS = {"constant": "constant", "cosine": "cosine", "linear": "linear", "wsd": "WSD"}
LOSS_RANGE = [2.6, 3.6]
FLOORS = {"10-percent": 0.1, "zero": 0.0}  # the floor the decays end at, as a share of the peak
DIFF_RANGE = [-0.15, 0.1]  # fixed: the difference to constant, where the schedules part ways
BRANCH = 4  # index of the branch run (among each seed's five)


def trailing_mean(values: list[float], window: int = SMOOTH) -> list[float]:
    """Mean of the last `window` values at each step (fewer at the start)."""
    out, total = [], 0.0
    for t, v in enumerate(values):
        total += v
        if t >= window:
            total -= values[t - window]
        out.append(total / min(t + 1, window))
    return out


def summarise(history: dict, at: int, end: int) -> dict:
    """What the chart shows: each run's loss, its trailing mean and LR; the branch run (the last of
    each seed's five) only from its checkpoint `at` to the end of its decay window `end`."""
    runs = []
    for k, r in enumerate(history["runs"]):
        run = {"label": r["label"], "loss": r["loss"], "smooth": trailing_mean(r["loss"]), "lr": r["lr"],
               "val_steps": r["val_steps"], "val_loss": r["val_loss"], "diverged_at": r["diverged_at"],
               **({"seed": r["seed"]} if "seed" in r else {})}
        if k % (BRANCH + 1) == BRANCH:  # the branch is shown from its checkpoint to the end of its window
            run["first"] = at
            for key in ("loss", "smooth", "lr"):
                run[key] = run[key][at:end]
            keep = [i for i, s in enumerate(r["val_steps"]) if at <= s <= end]
            run["val_steps"] = [r["val_steps"][i] for i in keep]
            run["val_loss"] = [r["val_loss"][i] for i in keep]
        else:
            run["first"] = 0
        runs.append(run)
    return {"steps": history["steps"], "done": history["done"], "device": history["device"],
            "branch_at": at, "branch_end": end, "runs": runs}


class ScheduleFamiliesWidget(Widget):
    def check(self, values: dict) -> None:
        warmup, at, window = values["warmup"], values["branch_at"], values["window"]
        check_inside_run(values, "warmup")
        start = self.schedule("wsd", values).decay_start()
        if not warmup <= at or at + window > start:
            raise ParamError("branch_at", at, f"from {warmup} (end of warmup) to {start - window} "
                             f"(WSD's decay starts at {start}, minus the {window}-step window)",
                             f"branch_at={at} must lie in WSD's stable phase with room for the {window}-step "
                             f"decay before WSD's own decay starts at step {start}")

    def schedule(self, family: str, values: dict) -> Schedule:
        peak = values["peak_lr"]
        return Schedule(family, peak, values["warmup"], values["steps"], floor_lr(peak, FLOORS[values["floor"]]),
                        values["decay_fraction"])

    def spec(self, values: dict) -> TrainSpec:
        runs = [RunConfig(LABELS[f], self.schedule(f, values)) for f in FAMILIES]
        wsd = self.schedule("wsd", values)
        branch = DecayBranch(wsd, values["branch_at"], values["window"], wsd.min_lr)
        runs.append(RunConfig(f"WSD, decay at {values['branch_at']}", branch))
        return TrainSpec(model=GPTConfig(block_size=BLOCK_SIZE), runs=tuple(runs), steps=values["steps"],
                         batch_size=BATCH_SIZE, seed=self.seed, eval_every=25, seeds=values["seeds"])

    def compute(self, values, progress=None):
        at, end = values["branch_at"], values["branch_at"] + values["window"]
        data = train_streaming(self.spec(values), progress, shape=lambda history: summarise(history, at, end))
        if "comparison" in data:  # the branch is drawn only to the end of its window: not compared at step 300
            data["comparison"] = [c for c in data["comparison"] if not c["curve"].startswith("WSD, decay at")]
        return data

    def figure(self, values, data):
        traces = []
        curves = seeded_curves(data, keys=("loss", "smooth", "lr"), band_key="smooth")
        for k, (run, band) in enumerate(curves):
            steps = list(range(run["first"], run["first"] + len(run["smooth"])))
            dash = "dash" if k == BRANCH else None
            traces += band
            traces.append(line(steps, run["smooth"], run["label"], k, panel=1, dash=dash))
            base = curves[0][0]["smooth"][run["first"]:run["first"] + len(run["smooth"])]
            if k:  # smoothed loss minus the constant run's smoothed loss at the same step (same batches)
                traces.append(line(steps, [a - b for a, b in zip(run["smooth"], base)], run["label"], k, panel=2,
                                   dash=dash, show_legend=False))
            traces.append(line(steps, run["lr"], run["label"], k, panel=3, dash=dash, show_legend=False))
            traces.append(line(run["val_steps"], run["val_loss"], f"{run['label']} (validation)", k, panel=1,
                               mode="markers", show_legend=False, group=run["label"], marker={"size": 7}))
        layout = panels_layout([f"training loss (mean of last {SMOOTH} steps), validation dots",
                                "the same, minus the constant run's (below 0: better than constant)",
                                "learning rate applied"], y_titles=["loss", "loss - constant", "learning rate"],
                               y_ranges=[LOSS_RANGE, DIFF_RANGE, [0, 1.05 * values["peak_lr"]]], height=760)
        layout["xaxis"] = {**layout["xaxis"], "range": [0, max(data["steps"], 1)]}
        layout["shapes"] = [{"type": "line", "xref": "x3", "yref": "paper", "x0": data["branch_at"],
                             "x1": data["branch_at"], "y0": 0, "y1": 1, "line": {"dash": "dot", "color": "#6b7280"}}]
        layout["annotations"].append({"text": "checkpoint", "xref": "x", "yref": "paper", "x": data["branch_at"],
                                      "y": 0.3, "showarrow": False, "xanchor": "left",
                                      "font": {"color": "#6b7280"}})
        return figure(traces, layout)

    def tables(self, values, data):
        rows = []
        for run in data["runs"]:
            for i in range(0, len(run["loss"]), 10):
                rows.append([run["label"] + seed_note(run), run["first"] + i, fmt(run["smooth"][i]), fmt(run["lr"][i])])
        val_rows = [[run["label"] + seed_note(run), s, fmt(v)] for run in data["runs"]
                    for s, v in zip(run["val_steps"], run["val_loss"])]
        return [{"caption": f"Training loss (mean of last {SMOOTH} steps) and LR, every 10 steps",
                 "columns": ["run", "step", "training loss", "learning rate"], "rows": rows},
                {"caption": "Validation loss", "columns": ["run", "step", "validation loss"], "rows": val_rows}]

    def script(self, values):
        at, end = values["branch_at"], values["branch_at"] + values["window"]
        spec = self.spec(values)
        numbers = []
        for k, run in enumerate(spec.runs):
            numbers += [Shown(f"{run.label}: training loss, mean of the last {SMOOTH} steps", ("runs", k, "smooth", -1)),
                        Shown(f"{run.label}: last validation loss", ("runs", k, "val_loss", -1))]
        return training_script(
            self, values, spec,
            "Four schedules with the same peak, warmup, budget and floor, and a fifth run, WSD's branch: it "
            f"follows WSD exactly until step {at}, then decays to the floor over {values['window']} steps. All "
            "five start from the same weights and read the same batches.",
            f"Train the five in lockstep, then keep what the chart shows: each run's training loss averaged "
            f"over its last {SMOOTH} steps, and the branch only from its checkpoint (step {at}) to the end of "
            f"its window (step {end}).",
            train=f"result = summarise(train(spec), at={at}, end={end})",
            extra_imports=("widgets.schedule_families:summarise",), numbers=tuple(numbers))


WIDGET = ScheduleFamiliesWidget(
    name="schedule-families",
    title="Schedule families, and WSD's decay-now branch",
    caption=("Four real runs with the same peak, warmup and budget of 300 steps. On the default seed the three "
             "schedules that decay end below constant (training loss, mean of the last 10 steps), WSD after a decay over "
             "only its last 60 steps. The dashed branch, decayed from a WSD checkpoint, reaches a lower loss "
             "than the stable WSD run at the same step."),
    streams=True,
    params=(
        Param("peak_lr", "Peak learning rate", "float", 1.2e-2, min=1e-3, max=3e-2, step=0.05, log=True),
        Param("branch_at", "Branch WSD at step", "int", 95, min=0, max=300, step=5, unit="steps",
              help="The checkpoint of the stable WSD run that the branch decays from."),
        Param("steps", "Training steps", "int", 300, min=60, max=300, step=10, unit="steps"),
        SEEDS_PARAM,
        Param("floor", "Decay to", "choice", "10-percent", choices=tuple(FLOORS),
              help="Where cosine, linear and WSD end: 10% of the peak, or zero."),
        Param("warmup", "Warmup steps", "int", 15, min=0, max=100, step=5, unit="steps", advanced=True),
        Param("window", "Branch decay window", "int", 25, min=5, max=60, step=5, unit="steps", advanced=True),
        Param("decay_fraction", "WSD decay share", "float", 0.2, min=0.1, max=0.5, step=0.05, advanced=True),
    ),
)
