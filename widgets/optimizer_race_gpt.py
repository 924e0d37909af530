"""Optimizer race on the tiny GPT: SGD, SGD + momentum, Adam and AdamW in lockstep.

One run-stacked tiny GPT holds every run: same initial weights, same batches, one
forward/backward pass per step. Each run is updated by its own course optimizer
(widgets/lab/per_run.py): one course SGD owns the SGD runs (momentum per run: 0
or beta1), one course AdamW owns the Adam runs (weight decay per run: 0 for Adam,
the slider's value, decoupled, for AdamW). The LR is constant: the race is about
the update rule, not the schedule.
"""
from __future__ import annotations

from widgets.base import Param, ParamError, Widget
from widgets.lab.model import GPTConfig
from widgets.lab.optim import SGD, AdamW
from widgets.lab.per_run import train_per_run
from widgets.plotting import color
from widgets.runs import REPORT_EVERY, history_figure, history_tables

BATCH_SIZE = 8
BLOCK_SIZE = 32
EVAL_EVERY = 20
RACERS = ("sgd", "momentum", "adam", "adamw")
LABELS = {"sgd": "SGD", "momentum": "SGD + momentum", "adam": "Adam", "adamw": "AdamW"}


def plan(values: dict) -> tuple[list[str], list[tuple]]:
    """Labels and (n_runs, optimizer factory) blocks for the switched-on racers, in RACERS order."""
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
    return [LABELS[n] for n in sgd_runs + adam_runs], blocks


class OptimizerRaceGPTWidget(Widget):
    def check(self, values: dict) -> None:
        if not any(values[f"show_{n}"] for n in RACERS):
            raise ParamError("show_sgd", values["show_sgd"], "at least one optimizer switched on",
                             "show_sgd=False: switch on at least one optimizer (all four are off)")

    def compute(self, values, progress=None):
        labels, blocks = plan(values)
        report = None
        if progress is not None:
            def report(partial):
                progress(partial, partial["done"], partial["steps"])
        return train_per_run(GPTConfig(block_size=BLOCK_SIZE), labels, blocks, steps=values["steps"],
                             batch_size=BATCH_SIZE, seed=self.seed, eval_every=EVAL_EVERY,
                             progress=report, report_every=REPORT_EVERY)

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

    def code(self, values):
        v = values
        sgd_runs = [n for n in ("sgd", "momentum") if v[f"show_{n}"]]
        adam_runs = [n for n in ("adam", "adamw") if v[f"show_{n}"]]
        labels = [LABELS[n] for n in sgd_runs + adam_runs]
        blocks = []
        if sgd_runs:
            momentum = [v["beta1"] if n == "momentum" else 0.0 for n in sgd_runs]
            blocks.append(f"    ({len(sgd_runs)}, lambda groups, runs: SGD(groups, runs, lr={v['lr_sgd']!r}, "
                          f"momentum={momentum!r})),")
        if adam_runs:
            blocks.append(f"    ({len(adam_runs)}, make_adam),")
        decay = [v["weight_decay"] if n == "adamw" else 0.0 for n in adam_runs]
        block_lines = "\n".join(blocks)
        return f'''# The optimizer race on the tiny GPT: one course optimizer per block of runs,
# same initial weights and same batches for every run. Run from the repository root.
from widgets.lab.model import GPTConfig
from widgets.lab.optim import SGD, AdamW
from widgets.lab.per_run import train_per_run


def make_adam(groups, runs):  # Adam = no decay; AdamW = decoupled decay on the weight matrices
    groups[0]["weight_decay"] = {decay!r}
    return AdamW(groups, runs, lr={v["lr_adaptive"]!r}, beta1={v["beta1"]!r}, beta2={v["beta2"]!r})


blocks = [
{block_lines}
]
result = train_per_run(GPTConfig(block_size={BLOCK_SIZE}), {labels!r},
                       blocks, steps={v["steps"]}, batch_size={BATCH_SIZE}, seed={self.seed},
                       eval_every={EVAL_EVERY})
for run in result["runs"]:
    print(f"{{run['label']:>15}}: final train loss {{run['loss'][-1]:.3f}}, "
          f"validation {{run['val_loss'][-1]:.3f}}, diverged at {{run['diverged_at']}}")
'''


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
