"""Optimizer race on the tiny GPT: SGD, SGD + momentum, Adam and AdamW in lockstep.

One run-stacked tiny GPT holds every run: same initial weights, same batches, one
forward/backward pass per step. Each block of runs is updated by its own course optimizer
(the trainer's per_run_blocks, widgets/lab/trainer.py): one course SGD owns the SGD runs (momentum per run: 0
or beta1), one course AdamW owns the Adam runs (weight decay per run: 0 for Adam,
the slider's value, decoupled, for AdamW). The LR is constant: the race is about
the update rule, not the schedule.
"""
from __future__ import annotations

from widgets.base import Param, Widget
from widgets.kit import check_any_on, color, history_figure, history_tables, train_streaming
from widgets.lab.model import GPTConfig
from widgets.spread import SEEDS_PARAM
from widgets.lab.optim import SGD, AdamW
from widgets.lab.schedules import Schedule
from widgets.lab.optim import per_run_blocks
from widgets.lab.trainer import RunConfig, TrainSpec
from widgets.script import Shown, final_numbers, training_script

BATCH_SIZE = 8
BLOCK_SIZE = 32
EVAL_EVERY = 20
RACERS = ("sgd", "momentum", "adam", "adamw")
LABELS = {"sgd": "SGD", "momentum": "SGD + momentum", "adam": "Adam", "adamw": "AdamW"}


def plan(values: dict, seed: int = 1337) -> tuple[TrainSpec, list[tuple]]:
    """The spec (one constant-LR run per switched-on racer, in RACERS order) and its
    (n_runs, optimizer factory) blocks."""
    sgd_runs = [n for n in ("sgd", "momentum") if values[f"show_{n}"]]
    adam_runs = [n for n in ("adam", "adamw") if values[f"show_{n}"]]
    blocks = []
    if sgd_runs:
        momentum = [values["beta1"] if n == "momentum" else 0.0 for n in sgd_runs]
        blocks.append((len(sgd_runs), lambda groups, runs: SGD(groups, runs, lr=values["lr_sgd"], momentum=momentum)))
    if adam_runs:
        decay = [values["weight_decay"] if n == "adamw" else 0.0 for n in adam_runs]

        def make_adam(groups, runs):
            groups[0]["weight_decay"] = decay  # decay the weight matrices only (see model.is_decayed)
            return AdamW(groups, runs, lr=values["lr_adaptive"], beta1=values["beta1"], beta2=values["beta2"])

        blocks.append((len(adam_runs), make_adam))
    steps = values["steps"]
    runs = tuple(RunConfig(LABELS[n], Schedule("constant", values["lr_sgd" if n in ("sgd", "momentum") else "lr_adaptive"],
                                               0, steps))
                 for n in sgd_runs + adam_runs)
    spec = TrainSpec(model=GPTConfig(block_size=BLOCK_SIZE), runs=runs, steps=steps, batch_size=BATCH_SIZE,
                     seed=seed, eval_every=EVAL_EVERY, seeds=values["seeds"])
    return spec, blocks


class OptimizerRaceGPTWidget(Widget):
    def check(self, values: dict) -> None:
        check_any_on(values, self.params)

    def compute(self, values, progress=None):
        spec, blocks = plan(values, self.seed)
        return train_streaming(spec, progress, optimizer=per_run_blocks(blocks))

    def figure(self, values, data):
        fig = history_figure(data, panels=("loss", "grad_norm"))
        # keep each optimizer's colour from the 2-D race whichever racers are switched off
        order = {LABELS[n]: i for i, n in enumerate(RACERS)}
        for trace in fig["data"]:
            base = trace["legendgroup"].removesuffix(" diverged")
            if base in order:
                trace["line"]["color"] = color(order[base])
                if "marker" in trace:
                    trace["marker"]["color"] = color(order[base])
        return fig

    def tables(self, values, data):
        return history_tables(data)

    def script(self, values):
        spec, _ = plan(values, self.seed)
        numbers = final_numbers([r.label for r in spec.runs])
        numbers += tuple(Shown(f"{r.label}: diverged at step", ("runs", i, "diverged_at")) for i, r in enumerate(spec.runs))
        return training_script(
            self, values, spec,
            "One constant-LR run per racer switched on, from the same weights on the same batches: the race is "
            "about the update rule, not the schedule.",
            "plan() also gives the optimizer blocks: one course SGD owns the SGD runs (momentum per run: 0 or "
            "beta1), one course AdamW the Adam runs (weight decay per run: 0 for Adam, decoupled for AdamW, on "
            "the weight matrices only). Train every run in lockstep, each updated by its block's optimizer.",
            train=f"_, blocks = plan(values, seed={self.seed})\n"
                  "result = train(spec, optimizer=per_run_blocks(blocks))",
            extra_imports=("widgets.lab.optim:per_run_blocks", "widgets.optimizer_race_gpt:plan"),
            numbers=numbers)


WIDGET = OptimizerRaceGPTWidget(
    name="optimizer-race-gpt",
    title="Optimizer race on the tiny GPT",
    caption=("Four real training runs of the tiny GPT from the same weights on the same batches, each with "
             "its own optimizer: after 80 steps Adam and AdamW reach a validation loss at least 0.2 lower "
             "than plain SGD, and momentum lands in between."),
    streams=True,
    params=(
        Param("lr_sgd", "SGD learning rate", "float", 0.05, min=1e-3, max=1.0, step=0.05, log=True,
              help="For SGD and SGD + momentum."),
        Param("lr_adaptive", "Adam learning rate", "float", 3e-3, min=1e-4, max=3e-2, step=0.05, log=True,
              help="For Adam and AdamW."),
        Param("steps", "Training steps", "int", 80, min=20, max=200, step=10, unit="steps"),
        SEEDS_PARAM,
        Param("beta1", "beta1 (momentum)", "float", 0.9, min=0.0, max=0.99, step=0.01,
              help="SGD's momentum and Adam's first-moment decay."),
        Param("beta2", "Adam beta2", "float", 0.95, min=0.8, max=0.999, step=0.001, advanced=True),
        Param("weight_decay", "AdamW weight decay", "float", 0.1, min=0.0, max=1.0, step=0.01, advanced=True,
              help="Decoupled, on the weight matrices only; Adam runs without decay."),
        Param("show_sgd", "Show SGD", "bool", True, advanced=True),
        Param("show_momentum", "Show SGD + momentum", "bool", True, advanced=True),
        Param("show_adam", "Show Adam", "bool", True, advanced=True),
        Param("show_adamw", "Show AdamW", "bool", True, advanced=True),
    ),
)
