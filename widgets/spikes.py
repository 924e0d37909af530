"""Spike lab: bad batches injected into a real run, and four ways to live with them.

Four runs of the tiny GPT train in lockstep (same initial weights, same batches, one
trainer with a Recovery hook, see widgets/lab/recovery.py). From `bad_step` on, `bad_count`
batches in a row are replaced (through the trainer's batch_hook) by bad data that
every run reads. The runs differ only in what they do about it:

* do nothing;
* clip the global gradient norm at c;
* skip: a spike detector (gradient norm above `spike_factor` x the median of the last
  20 accepted steps) drops that update, weights and AdamW state untouched;
* roll back: the same detector restores the weights and optimizer state of
  `rollback_steps` updates earlier and goes on with the next batches.

The largest attention logit (over layers, heads and positions) is traced every
step; QK-norm and z-loss apply to all four runs. An LR that creeps upward makes the
gradient norm rise slowly: the warning sign before a spike.

With several seeds (`seeds`) every seed trains the four runs in the same pass, and reads the
same bad batches at the same steps; the chart draws each response's mean over the seeds
inside the band of its lowest and highest seed's loss.
"""
from __future__ import annotations

import statistics
from collections import Counter

from widgets import spread
from widgets.base import Param, Widget
from widgets.kit import (REPORT_EVERY, check_inside_run, figure, finite_list, fmt, hline, line, panels_layout,
                         reporter, seed_note, seeded_curves)
from widgets.lab.corrupt import constant_batch, corrupt_steps, random_batch
from widgets.lab.model import GPTConfig
from widgets.lab.recovery import CreepingLR, RecoveryPolicy, SpikeDetector, recovery_trainer
from widgets.lab.trainer import RunConfig, TrainSpec
from widgets.script import Shown, pretty, training_script
from widgets.spread import SEEDS_PARAM

BATCH_SIZE = 8  # sequences per step
BLOCK_SIZE = 32  # characters per sequence
WARMUP = 10
Z_LOSS = 1e-4  # PaLM's coefficient
BAD_KINDS = (("repeated", "repeated character"), ("random", "random characters"))
LOSS_RANGE = [1.8, 5.0]
ATTN_RANGE = [-0.5, 3.0]  # log10: 0.3 to 1000, so QK-norm's cap of 4 and a runaway logit both show
POST_WINDOW = 10  # steps after the bad stretch over which a jump is measured
PRE_WINDOW = 10  # steps before it


def jump(loss: list[float], start: int, count: int) -> float | None:
    """Mean training loss over the POST_WINDOW steps after the bad stretch minus the mean of the PRE_WINDOW before."""
    before = loss[max(0, start - PRE_WINDOW):start]
    after = loss[start + count:start + count + POST_WINDOW]
    if not before or not after:
        return None
    return statistics.fmean(after) - statistics.fmean(before)


def finish(result: dict, values: dict) -> dict:
    """What the chart shows of the runs' histories: each run's loss jump around the bad batches,
    NaN-free curves, and where the bad stretch lies."""
    for run in result["runs"]:
        run["jump"] = jump(run["loss"], values["bad_step"], values["bad_count"]) if values["bad_count"] else None
        run["max_attn_logit"] = finite_list(run.get("max_attn_logit", []))
        run["loss"] = finite_list(run["loss"])
    result["bad_steps"] = [values["bad_step"], min(values["steps"], values["bad_step"] + values["bad_count"])]
    return result


def recovery_events(runs: list[dict]) -> list[tuple[int, str]]:
    """One curve's skips and rollbacks, in step order: (step, what happened), each once, with
    how many of the curve's seeds it happened to when it has several."""
    counts = Counter((t, "skipped") for run in runs for t in run.get("skipped", []))
    counts.update((t, f"rolled back {n} steps") for run in runs for t, n in run.get("rollbacks", []))
    if len(runs) == 1:
        return sorted(counts)
    return [(t, f"{what} ({n} of {len(runs)} seeds)") for (t, what), n in sorted(counts.items())]


class SpikesWidget(Widget):
    def check(self, values: dict) -> None:
        if values["bad_count"]:
            check_inside_run(values, "bad_step", "must fall inside the run")

    # --- the runs -------------------------------------------------------------------
    def spec(self, values: dict) -> TrainSpec:
        steps = values["steps"]
        schedule = CreepingLR(values["peak_lr"], WARMUP, steps, values["lr_creep"])
        return TrainSpec(
            model=GPTConfig(block_size=BLOCK_SIZE, qk_norm=values["qk_norm"]),
            runs=(RunConfig("do nothing", schedule),
                  RunConfig(f"clip at {values['clip']:.3g}", schedule, clip=values["clip"]),
                  RunConfig("skip the batch", schedule),
                  RunConfig(f"roll back {values['rollback_steps']}", schedule)),
            steps=steps, batch_size=BATCH_SIZE, seed=self.seed, eval_every=25,
            z_loss=Z_LOSS if values["z_loss"] else 0.0, record_attention=True, seeds=values["seeds"])

    @staticmethod
    def policies(values: dict) -> tuple[RecoveryPolicy, ...]:
        return (RecoveryPolicy("none"), RecoveryPolicy("none"), RecoveryPolicy("skip"),
                RecoveryPolicy("rollback", values["rollback_steps"]))

    @staticmethod
    def hook(values: dict):
        """The batch hook: `bad_count` bad batches from `bad_step` on, the same for every run."""
        if values["bad_kind"] == "repeated":
            def make(step, x, y):
                return constant_batch(x)
        else:
            def make(step, x, y):
                return random_batch(x, step)
        return corrupt_steps(range(values["bad_step"], values["bad_step"] + values["bad_count"]), make)

    def compute(self, values, progress=None):
        trainer = recovery_trainer(self.spec(values), self.policies(values),
                                   SpikeDetector(factor=values["spike_factor"]), batch_hook=self.hook(values))
        return spread.with_seeds(finish(trainer.run(reporter(progress, lambda partial: finish(partial, values)),
                                                    report_every=REPORT_EVERY), values))

    # --- drawing ---------------------------------------------------------------------
    def figure(self, values, data):
        traces = []
        policies = self.policies(values)
        curves = zip(seeded_curves(data, keys=("loss", "grad_norm", "max_attn_logit")), spread.by_curve(data))
        for i, ((run, band), runs) in enumerate(curves):
            steps = list(range(len(run["loss"])))
            traces += band
            traces.append(line(steps, run["loss"], run["label"], i, panel=1))
            traces.append(line(steps, run["grad_norm"], run["label"], i, panel=2, show_legend=False))
            traces.append(line(steps, run.get("max_attn_logit", []), run["label"], i, panel=3, show_legend=False))
            traces.append(line(run["val_steps"], run["val_loss"], f"{run['label']} (validation)", i, panel=1,
                               mode="markers", show_legend=False, group=run["label"], marker={"size": 7}))
            # skips and rollbacks in the order they happened (a trace that only grows), on the loss curve
            events = recovery_events(runs)
            xs = [t for t, _ in events]
            ys = [min(LOSS_RANGE[1] - 0.15, run["loss"][t]) if t < len(run["loss"]) and run["loss"][t] is not None
                  else LOSS_RANGE[1] - 0.15 for t in xs]
            policy = policies[i].kind
            traces.append(line(xs, ys, f"{run['label']}: {'skipped' if policy == 'skip' else 'rolled back'}", i,
                               panel=1, mode="markers", show_legend=False, group=run["label"],
                               marker={"symbol": "x" if policy == "skip" else "triangle-left", "size": 11},
                               hovertext=[e for _, e in events]))
        titles = ["training loss per step (dots: validation)", "gradient norm before clipping",
                  "largest attention logit" + (" (QK-norm caps it at 4)" if values["qk_norm"] else "")]
        layout = panels_layout(titles, y_titles=["loss", "grad norm", "max logit"], y_log=[False, True, True],
                               y_ranges=[LOSS_RANGE, [-1.3, 2.0], ATTN_RANGE])
        layout["xaxis"] = {**layout["xaxis"], "range": [0, data["steps"]]}
        start, end = data.get("bad_steps", [values["bad_step"], values["bad_step"] + values["bad_count"]])
        shapes = []
        if values["bad_count"]:
            for suffix in ("", "2", "3"):
                shapes.append({"type": "rect", "xref": f"x{suffix}", "yref": f"y{suffix} domain",
                               "x0": start - 0.5, "x1": end - 0.5, "y0": 0, "y1": 1, "line": {"width": 0},
                               "fillcolor": "rgba(220, 38, 38, 0.15)"})
            late = end > 0.7 * data["steps"]  # near the right edge: the label goes on the band's left
            layout["annotations"].append({"text": "bad batches", "xref": "x",
                                          "yref": "y domain", "x": start - 0.5 if late else end,
                                          "y": 0.97, "xanchor": "right" if late else "left",
                                          "yanchor": "top", "showarrow": False, "font": {"size": 11}})
        shapes.append(hline(values["clip"], 0, data["steps"], "2"))
        layout["shapes"] = shapes
        return figure(traces, layout)

    def tables(self, values, data):
        summary = {"caption": "Each run around the bad batches",
                   "columns": ["run", "loss jump (mean of 10 steps after minus 10 before)", "final validation loss",
                               "largest attention logit", "skipped steps", "rollbacks (step: updates undone)"],
                   "rows": []}
        for run in data["runs"]:
            attn = [a for a in run.get("max_attn_logit", []) if a is not None]
            summary["rows"].append([
                run["label"] + seed_note(run), fmt(run.get("jump")),
                fmt(run["val_loss"][-1] if run["val_loss"] else None),
                fmt(max(attn) if attn else None), ", ".join(map(str, run.get("skipped", []))) or "-",
                ", ".join(f"{t}: {n}" for t, n in run.get("rollbacks", [])) or "-"])
        tables = [summary]
        for run in data["runs"]:
            rows = [[t, fmt(run["loss"][t]), fmt(run["lr"][t]), fmt(run["grad_norm"][t]),
                     fmt(run["max_attn_logit"][t] if t < len(run.get("max_attn_logit", [])) else None)]
                    for t in range(len(run["loss"]))
                    if t % 10 == 0 or data["bad_steps"][0] - 1 <= t <= data["bad_steps"][1] + 2]
            caption = f"{run['label']}{seed_note(run)}: every 10 steps and around the bad batches"
            tables.append({"caption": caption,
                           "columns": ["step", "loss", "learning rate", "gradient norm", "largest attention logit"],
                           "rows": rows})
        return tables

    def script(self, values):
        spec, policies = self.spec(values), self.policies(values)
        numbers = []
        for i, run in enumerate(spec.runs):
            numbers += [Shown(f"{run.label}: loss jump (mean of {POST_WINDOW} steps after minus {PRE_WINDOW} before)",
                              ("runs", i, "jump")),
                        Shown(f"{run.label}: final validation loss", ("runs", i, "val_loss", -1))]
        bad = (f"{values['bad_count']} bad batches ({self.param('bad_kind').label_of(values['bad_kind'])}) from "
               f"step {values['bad_step']} on" if values["bad_count"] else "no bad batches")
        return training_script(
            self, values, spec,
            "Four runs from the same weights on the same batches; they differ only in what they do about bad "
            "batches: nothing, clipping, skipping a flagged step, rolling back to an earlier state.",
            f"Each run's recovery policy, and the spike detector that flags a step whose gradient norm exceeds "
            f"{values['spike_factor']:g} times the median of the last accepted steps. The batch hook swaps in "
            f"{bad}, the same for every run. Then train the four in lockstep.",
            train=(f"policies = {pretty(policies)}\n"
                   f"trainer = recovery_trainer(spec, policies, SpikeDetector(factor={values['spike_factor']!r}),\n"
                   "                           batch_hook=SpikesWidget.hook(values))\n"
                   "result = finish(trainer.run(), values)"),
            extra_imports=("widgets.lab.recovery:RecoveryPolicy", "widgets.lab.recovery:SpikeDetector",
                           "widgets.lab.recovery:recovery_trainer", "widgets.spikes:SpikesWidget",
                           "widgets.spikes:finish"),
            numbers=tuple(numbers))


WIDGET = SpikesWidget(
    name="spikes",
    title="Spike lab: bad batches, and what to do about them",
    caption=("Four real runs in lockstep read three bad batches ('ZZZZ...') at step 50. On each of five seeds the "
             "run that does nothing jumps in loss afterwards, and skipping the flagged batches leaves a jump at "
             "least 0.05 smaller (on this seed, none at all). Clipping makes the jump smaller by about 0.09 on "
             "average over the five, though on one hardly at all. Rolling back gives up 10 steps of progress; it "
             "avoids the jump on this seed, not on every seed."),
    streams=True,
    params=(
        Param("bad_step", "Bad batches start at step", "int", 50, min=0, max=199, step=1, unit="steps"),
        Param("bad_count", "Bad batches in a row", "int", 3, min=0, max=10, step=1,
              help="0 injects nothing: a clean run to compare with."),
        Param("bad_kind", "Bad data", "choice", "repeated", choices=BAD_KINDS,
              # the values were the labels until choices became (value, label): old links still work
              aliases=tuple((label, value) for value, label in BAD_KINDS),
              help="'ZZZZ...' in every sequence (a broken file), or uniformly random characters."),
        Param("clip", "Clipping threshold c (clip run)", "float", 1.0, min=0.1, max=10.0, step=0.05, log=True),
        Param("rollback_steps", "Roll back by", "int", 10, min=0, max=40, step=1, unit="steps",
              help="The rollback run restores the weights and AdamW state it had this many updates before the "
                   "flagged step."),
        Param("qk_norm", "QK-norm (all runs)", "bool", False,
              help="Normalise queries and keys per head: the attention logit can then not exceed sqrt(16) = 4."),
        Param("z_loss", "z-loss 1e-4 (all runs)", "bool", False,
              help="Adds 1e-4 * logsumexp(logits)^2 to the loss (PaLM): keeps the output logits from drifting."),
        Param("peak_lr", "Learning rate", "float", 6e-3, min=1e-3, max=3e-2, step=0.05, log=True,
              help="After 10 warmup steps."),
        SEEDS_PARAM,
        Param("lr_creep", "LR creeps up to", "float", 1.0, min=1.0, max=6.0, step=0.1, unit="x the LR",
              advanced=True, help="The LR rises linearly to this multiple by the last step. In this tiny model "
                                  "the gradient norm hardly moves as it does (it even drifts down); the largest "
                                  "attention logit is what climbs, step after step: that is the warning sign to watch."),
        Param("spike_factor", "Spike detector threshold", "float", 3.0, min=1.5, max=20.0, step=0.1, log=True,
              unit="x median", advanced=True,
              help="Skip and rollback act when the gradient norm exceeds this multiple of the median of the last "
                   "20 accepted steps (nothing is flagged in the first 20 steps)."),
        Param("steps", "Training steps", "int", 80, min=30, max=200, step=10, unit="steps", advanced=True),
    ),
)
