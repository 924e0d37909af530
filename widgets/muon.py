"""Muon: what Newton-Schulz does to a real gradient's singular values, then Muon vs AdamW.

Top panel: the gradient of one weight matrix of the tiny GPT (its initial weights,
the first training batch), normalised by its Frobenius norm, and the singular values
(torch.linalg.svdvals) after every Newton-Schulz iteration, against the exact U V^T
from torch.linalg.svd, whose singular values are all 1.

Bottom panel: two real runs in lockstep (same initial weights, same batches): AdamW on
everything, and Muon on the hidden 2-D matrices with AdamW on embeddings, norms and
biases. The training runs Newton-Schulz in float32 (bfloat16 matmuls are slow on a
small CPU); torch.optim.Muon uses bfloat16 and the tests compare the two.
"""
from __future__ import annotations

import torch

from widgets.base import Param, Widget
from widgets.kit import (REPORT_EVERY, figure, fmt, line, loss_traces, panels_layout, reporter, seeded_curves,
                         val_table)
from widgets.lab.data import fixed_batch, load_corpus
from widgets.lab.model import GPTConfig, TinyGPT
from widgets.lab.muon import exact_orthogonal, muon_adamw, newton_schulz_trace
from widgets.lab.schedules import cosine_to_floor
from widgets.lab.trainer import LockstepTrainer, RunConfig, TrainSpec
from widgets import spread
from widgets.spread import SEEDS_PARAM
from widgets.script import Shown, Step, final_numbers, training_script

BATCH_SIZE = 8
BLOCK_SIZE = 32
WARMUP = 10
MATRICES = {  # value -> (parameter name in the course model (stored (in, out): y = x @ W), label)
    "attn-qkv": ("blocks.0.attn.qkv.weight", "block 0 attention q,k,v (64x192)"),
    "attn-proj": ("blocks.0.attn.proj.weight", "block 0 attention output (64x64)"),
    "mlp-up": ("blocks.1.mlp.fc.weight", "block 1 MLP up (64x256)"),
    "mlp-down": ("blocks.1.mlp.proj.weight", "block 1 MLP down (256x64)"),
}
MATRIX_CHOICES = tuple((value, label) for value, (_, label) in MATRICES.items())
PRECISIONS = {"bfloat16": torch.bfloat16, "float32": torch.float32}
SV_RANGE_LOG10 = [-9.5, 0.5]


def gradient_spectra(matrix: str, iterations: int, precision: str, seed: int) -> dict:
    """Singular values of a real gradient (one `matrix` of the tiny GPT at its initial weights, on
    the first training batch) after 0..iterations Newton-Schulz iterations, and of the exact U V^T."""
    config = GPTConfig(block_size=BLOCK_SIZE)
    model = TinyGPT(config, runs=1).init_weights(seed)
    x, y = fixed_batch(load_corpus().train, BATCH_SIZE, BLOCK_SIZE, seed)  # the first training batch
    _, loss = model(x, y)
    loss.sum().backward()
    grad = dict(model.named_parameters())[MATRICES[matrix][0]].grad[0]
    trace = newton_schulz_trace(grad, iterations, dtype=PRECISIONS[precision])
    sv = [torch.linalg.svdvals(t.float()).tolist() for t in trace]
    exact = torch.linalg.svdvals(exact_orthogonal(grad)).tolist()
    return {"shape": list(grad.shape), "raw_max": float(torch.linalg.svdvals(grad).max()),
            "singular_values": sv, "exact": exact}


class MuonWidget(Widget):
    def spec(self, values: dict) -> TrainSpec:
        steps, lr = values["steps"], values["adamw_lr"]
        schedule = cosine_to_floor(lr, WARMUP, steps)
        return TrainSpec(model=GPTConfig(block_size=BLOCK_SIZE),
                         runs=(RunConfig("AdamW", schedule), RunConfig("Muon + AdamW", schedule)),
                         steps=steps, batch_size=BATCH_SIZE, seed=self.seed, eval_every=25, seeds=values["seeds"])

    def compute(self, values, progress=None):
        spectra = gradient_spectra(values["matrix"], values["iterations"], values["precision"], self.seed)
        trainer = LockstepTrainer(self.spec(values), optimizer=muon_adamw([False, True], muon_lr=values["muon_lr"],
                                                                          ns_dtype=torch.float32))
        if progress is not None:  # the top panel first, before any training step
            progress({**trainer.result(), "spectra": spectra}, 0, values["steps"])
        result = trainer.run(reporter(progress, lambda partial: {**partial, "spectra": spectra}),
                             report_every=REPORT_EVERY)
        return {**spread.with_seeds(result), "spectra": spectra}

    def figure(self, values, data):
        spectra = data["spectra"]
        traces = []
        k_max = len(spectra["singular_values"]) - 1
        for k, sv in enumerate(spectra["singular_values"]):
            last, first = k == k_max, k == 0
            name = f"gradient / Frobenius norm ({values['precision']})" if first else f"after {k} iteration{'s' * (k > 1)}"
            if not (first or last):
                traces.append(line(range(1, len(sv) + 1), sv, name, 7, show_legend=False, group="ns-mid",
                                   opacity=0.25, hoverinfo="skip"))
                continue
            traces.append(line(range(1, len(sv) + 1), sv, name, 0 if first else 1, group=f"sv-{k}",
                               mode="lines+markers", marker={"size": 4}))
        traces.append(line(range(1, len(spectra["exact"]) + 1), spectra["exact"], "exact U V^T (SVD)", 2,
                           dash="dash", group="exact"))
        for i, (run, band) in enumerate(seeded_curves(data, panel=2, first_colour=3)):
            traces += band + loss_traces(run, 3 + i, panel=2)
        layout = panels_layout(
            [f"singular values (x: index, largest first) of the {MATRICES[values['matrix']][1]} gradient, "
             f"Newton-Schulz in {values['precision']}",
             "training loss (solid) and validation loss (dots), same init and batches"],
            y_titles=["singular value (log)", "loss"], y_log=[True, False],
            y_ranges=[SV_RANGE_LOG10, [1.8, 4.4]], shared_x=False, height=720,
            x_axes=[{"showticklabels": True, "range": [0, len(spectra["exact"]) + 1]}, {"range": [0, data["steps"]]}])
        layout["legend"]["y"] = 1.08
        layout["margin"]["t"] = 110
        layout["hovermode"] = "closest"
        return figure(traces, layout)

    def tables(self, values, data):
        spectra = data["spectra"]
        sv = spectra["singular_values"]
        columns = ["index", "gradient / Frobenius"] + [f"after {k}" for k in range(1, len(sv))] + ["exact U V^T"]
        rows = [[i + 1] + [fmt(s[i]) for s in sv] + [fmt(spectra["exact"][i])] for i in range(len(sv[0]))]
        tables = [{"caption": f"Singular values of the {MATRICES[values['matrix']][1]} gradient per Newton-Schulz iteration",
                   "columns": columns, "rows": rows}]
        for run in data["runs"]:
            tables.append({"caption": f"{run['label']}: training loss every 10 steps",
                           "columns": ["step", "loss", "gradient norm"],
                           "rows": [[t, fmt(run["loss"][t]), fmt(run["grad_norm"][t])]
                                    for t in range(0, len(run["loss"]), 10)]})
            tables.append(val_table(run))
        return tables

    def script(self, values):
        k = values["iterations"]
        numbers = (Shown("raw gradient: largest singular value", ("spectra", "raw_max")),
                   Shown(f"after {k} iterations: largest singular value", ("spectra", "singular_values", -1, 0)),
                   Shown(f"after {k} iterations: smallest singular value", ("spectra", "singular_values", -1, -1)),
                   Shown("before any iteration: smallest singular value", ("spectra", "singular_values", 0, -1)),
                   *final_numbers(["AdamW", "Muon + AdamW"]))
        return training_script(
            self, values, self.spec(values),
            "Two runs from the same weights on the same batches and the same schedule: AdamW on everything, "
            "and Muon on the hidden 2-D matrices with AdamW on the rest.",
            "Train both in lockstep, each run with its own optimizer.",
            train=f"optimizer = muon_adamw([False, True], muon_lr={values['muon_lr']!r}, ns_dtype=torch.float32)\n"
                  "result = {**train(spec, optimizer=optimizer), 'spectra': spectra}",
            extra_imports=("torch", "widgets.lab.muon:muon_adamw", "widgets.muon:gradient_spectra"),
            before=(Step(f"The gradient of the {MATRICES[values['matrix']][1]} matrix at the initial weights, on "
                         f"the first training batch, normalised, then {k} Newton-Schulz iterations in "
                         f"{values['precision']}: the singular values after each, and those of the exact U V^T "
                         "(all 1).",
                         f"spectra = gradient_spectra({values['matrix']!r}, {k}, {values['precision']!r}, "
                         f"seed={self.seed})"),),
            numbers=numbers)


WIDGET = MuonWidget(
    name="muon",
    title="Muon: Newton-Schulz orthogonalisation, then Muon vs AdamW",
    caption=("The real gradient's singular values span orders of magnitude (seven in float32); after 5 Newton-Schulz "
             "iterations (bfloat16, like torch.optim.Muon) all but the smallest lie between 0.6 and 1.25: near 1 "
             "but not exactly, unlike the exact U V^T. Trained in lockstep from the same weights on the same "
             "batches, the Muon run ends with a lower validation loss than AdamW."),
    streams=True,
    params=(
        Param("iterations", "Newton-Schulz iterations", "int", 5, min=0, max=10, step=1, unit="iterations",
              help="torch.optim.Muon uses 5."),
        Param("matrix", "Gradient of", "choice", "mlp-up", choices=MATRIX_CHOICES,
              # the values were the labels until choices became (value, label): old links still work
              aliases=tuple((label, value) for value, label in MATRIX_CHOICES)),
        Param("steps", "Training steps", "int", 100, min=20, max=300, step=10, unit="steps"),
        SEEDS_PARAM,
        Param("adamw_lr", "AdamW learning rate", "float", 6e-3, min=1e-4, max=3e-2, step=0.05, log=True,
              help="Both runs: AdamW's LR for everything it trains (cosine decay after 10 warmup steps)."),
        Param("muon_lr", "Muon learning rate", "float", 0.02, min=1e-3, max=0.2, step=0.05, log=True,
              help="The hidden matrices' LR in the Muon run (0.02 is Keller Jordan's default); same schedule shape."),
        Param("precision", "Newton-Schulz precision (top panel)", "choice", "bfloat16",
              choices=tuple(PRECISIONS), advanced=True,
              help="torch.optim.Muon iterates in bfloat16; its rounding lifts tiny singular values faster."),
    ),
)
