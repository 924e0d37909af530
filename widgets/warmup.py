"""Warmup vs no warmup: two real runs from the same weights on the same batches.

The only difference between the curves is the warmup: one run ramps its LR up
linearly over `warmup` steps, the other starts at the peak. Both then follow the
same cosine decay to 10% of the peak.
"""
from __future__ import annotations

from widgets.base import Param, Widget
from widgets.kit import check_inside_run, history_figure, history_tables, train_streaming
from widgets.spread import SEEDS_PARAM
from widgets.lab.model import GPTConfig
from widgets.lab.schedules import cosine_to_floor
from widgets.lab.trainer import RunConfig, TrainSpec
from widgets.script import training_script

BATCH_SIZE = 8  # sequences per step: small enough that a run streams in about a second
BLOCK_SIZE = 32  # characters per sequence
CLIP_THRESHOLD = 1.0


class WarmupWidget(Widget):
    def check(self, values: dict) -> None:
        check_inside_run(values, "warmup")

    def spec(self, values: dict) -> TrainSpec:
        steps, peak = values["steps"], values["peak_lr"]
        clip = CLIP_THRESHOLD if values["clip"] else None

        def run(label: str, warmup: int) -> RunConfig:
            return RunConfig(label, cosine_to_floor(peak, warmup, steps), beta2=values["beta2"], clip=clip)

        return TrainSpec(
            model=GPTConfig(block_size=BLOCK_SIZE, post_ln=values["layout"] == "post-ln"),
            runs=(run(f"warmup {values['warmup']}", values["warmup"]), run("no warmup", 0)),
            steps=steps, batch_size=BATCH_SIZE, seed=self.seed, eval_every=25, seeds=values["seeds"])

    def compute(self, values, progress=None):
        return train_streaming(self.spec(values), progress)

    def figure(self, values, data):
        return history_figure(data, lr_range=[0, 0.031],
                              clip=CLIP_THRESHOLD if values["clip"] else None)

    def tables(self, values, data):
        return history_tables(data)

    def script(self, values):
        return training_script(
            self, values, self.spec(values),
            "Two runs of the tiny GPT from the same initial weights on the same batches: the first ramps its "
            "LR up linearly over the warmup steps, the second starts at the peak. Both then follow the same "
            "cosine decay to 10% of the peak.",
            "Train both in lockstep (one run-stacked model, one forward and backward pass per step) and keep "
            "each run's losses, LR and gradient norm per step.")


WIDGET = WarmupWidget(
    name="warmup",
    title="Warmup vs no warmup",
    caption=("Two real training runs of the tiny GPT, same initial weights and same batches; the only "
             "difference is the warmup. At the defaults the run without warmup drops faster for a few "
             "steps, then falls behind for good and ends at least a third of a nat higher in validation loss."),
    streams=True,
    params=(
        Param("peak_lr", "Peak learning rate", "float", 6e-3, min=1e-4, max=3e-2, step=0.05, log=True,
              help="The LR both runs reach; the warmup run gets there gradually."),
        Param("warmup", "Warmup steps", "int", 40, min=0, max=250, step=5, unit="steps",
              help="Length of the linear ramp from near zero to the peak."),
        Param("steps", "Training steps", "int", 150, min=20, max=300, step=10, unit="steps"),
        SEEDS_PARAM,
        Param("beta2", "Adam beta2", "float", 0.95, min=0.9, max=0.999, step=0.001, advanced=True,
              help="0.95 is the usual LLM setting; 0.999 is Adam's default."),
        Param("clip", "Clip the gradient norm at 1.0", "bool", False, advanced=True),
        Param("layout", "Layer-norm placement", "choice", "pre-ln", choices=("pre-ln", "post-ln"),
              advanced=True, help="Post-LN is the original Transformer's layout."),
    ),
)
