"""Batch size and gradient noise, measured on the real tiny GPT.

At fixed weights (at initialisation, or after a few real training steps), the gradient
of M independent batches of B sequences is compared with the gradient of one large
batch (256 sequences): the mean squared distance ||g_B - g_big||^2 falls roughly as 1/B,
because a batch gradient is an average of B per-sequence gradients. Then short real
runs with a few batch sizes and the SAME learning rate, each given the same number of
tokens, show validation loss against tokens seen (separate trainers, same seed: same
initial weights; each batch size draws its own batches).

With several seeds, each curve's trainer stacks its seeds and run_together steps the trainers
side by side; lab/seeds.py's seed_major orders the runs seed-major.
"""
from __future__ import annotations

import math

import torch

from widgets import spread
from widgets.base import Param, Widget
from widgets.kit import REPORT_EVERY, band_traces, figure, fmt, line, panels_layout, seed_note, seeded_curves
from widgets.spread import SEEDS_PARAM
from widgets.lab.data import BatchStream, fixed_batch, load_corpus
from widgets.lab.model import GPTConfig
from widgets.lab.schedules import Schedule
from widgets.lab.seeds import seed_major
from widgets.lab.trainer import LockstepTrainer, RunConfig, TrainSpec, run_together
from widgets.script import Script, Shown, Step, imports, pretty

BLOCK_SIZE = 32
NOISE_BATCHES = (1, 2, 4, 8, 16, 32)
BIG_BATCH = 256  # sequences in the reference ("true") gradient
RUN_BATCHES = (4, 16, 64)
BUDGET_SEQUENCES = 512  # each run sees 512 x 32 = 16,384 tokens
EVALS_PER_RUN = 8
PRETRAIN_LR = 3e-3


def flat_grad(model, x, y) -> torch.Tensor:
    model.zero_grad(set_to_none=True)
    model(x, y)[1].sum().backward()
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def noise_scale(batch_sizes, noise, big_sq_norm: float, big_batch: int = BIG_BATCH) -> dict:
    """McCandlish et al.'s simple noise scale B_simple = tr(Sigma) / |G|^2, from the measured noise.

    g_B and g_big are independent means of B and big_batch per-sequence gradients, so
    E||g_B - g_big||^2 = tr(Sigma) (1/B + 1/big_batch): each B gives an estimate of tr(Sigma),
    and their mean is the one used. |g_big|^2 overstates |G|^2 by tr(Sigma)/big_batch, which is
    taken off. B_simple is in sequences (of BLOCK_SIZE tokens): the batch at which the noise in
    a step's gradient is about as large as the gradient itself.
    """
    estimates = [n / (1 / b + 1 / big_batch) for b, n in zip(batch_sizes, noise)]
    trace_sigma = sum(estimates) / len(estimates)
    grad_sq = big_sq_norm - trace_sigma / big_batch
    return {"trace_sigma": trace_sigma, "grad_sq": grad_sq,
            "b_simple": trace_sigma / grad_sq if grad_sq > 0 else None}


def fit_slope(xs, ys) -> float:
    """Least-squares slope of log(y) against log(x)."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def pretrained(spec: TrainSpec) -> LockstepTrainer:
    """A trainer after its spec's steps: the fixed weights the noise is measured at."""
    trainer = LockstepTrainer(spec)
    trainer.run()
    trainer.model.eval()  # no dropout anyway; eval makes it explicit that weights are fixed
    return trainer


def big_gradient(model, seed: int) -> torch.Tensor:
    """The reference gradient: one batch of BIG_BATCH sequences (its own seed)."""
    return flat_grad(model, *fixed_batch(load_corpus().train, BIG_BATCH, BLOCK_SIZE, seed + 1000))


def gradient_noise(model, g_big: torch.Tensor, batch: int, count: int, seed: int) -> tuple[float, float]:
    """Mean ||g_B - g_big||^2 and mean cosine(g_B, g_big) over `count` independent batches of `batch`."""
    stream = BatchStream(load_corpus().train, batch, BLOCK_SIZE, seed + batch)
    sq, cos = [], []
    for _ in range(count):
        g = flat_grad(model, *stream.next())
        sq.append((g - g_big).pow(2).sum().item())
        cos.append(torch.nn.functional.cosine_similarity(g, g_big, dim=0).item())
    return sum(sq) / count, sum(cos) / count


def tokens_run(h: dict, b: int, steps: int) -> dict:
    """One run of batch size `b` as the chart shows it: its losses against tokens seen."""
    return {"label": h["label"], "batch_size": b, "steps": steps,
            "tokens": [(i + 1) * b * BLOCK_SIZE for i in range(len(h["loss"]))], "loss": h["loss"],
            "val_tokens": [s * b * BLOCK_SIZE for s in h["val_steps"]],
            "val_loss": h["val_loss"], "diverged_at": h["diverged_at"], **({"seed": h["seed"]} if "seed" in h else {})}


class BatchNoiseWidget(Widget):
    def pretrain_spec(self, values: dict) -> TrainSpec:
        n = values["at_step"]
        return TrainSpec(model=GPTConfig(block_size=BLOCK_SIZE),
                         runs=(RunConfig("pretrain", Schedule("constant", PRETRAIN_LR, 0, max(n, 1), PRETRAIN_LR)),),
                         steps=n, batch_size=8, seed=self.seed, eval_every=max(n, 1))

    def run_specs(self, values: dict) -> list[TrainSpec]:
        lr = values["lr"]
        specs = []
        for b in RUN_BATCHES:
            steps = BUDGET_SEQUENCES // b
            specs.append(TrainSpec(model=GPTConfig(block_size=BLOCK_SIZE),
                                   runs=(RunConfig(f"batch {b}", Schedule("constant", lr, 0, steps, lr)),),
                                   steps=steps, batch_size=b, seed=self.seed,
                                   eval_every=max(1, steps // EVALS_PER_RUN), eval_at_start=True,
                                   seeds=values["seeds"]))
        return specs

    def compute(self, values, progress=None):
        m = values["batches"]
        pre = pretrained(self.pretrain_spec(values))
        model = pre.model
        g_big = big_gradient(model, self.seed)
        specs = self.run_specs(values)
        trainers = [LockstepTrainer(s) for s in specs]
        run_steps = sum(s.steps for s in specs)
        total = len(NOISE_BATCHES) + run_steps  # progress units: one per batch size, then one per step
        data = {"batch_sizes": [], "noise": [], "cosine": [], "slope": None, "big_batch": BIG_BATCH,
                "at_step": values["at_step"], "big_grad_sq_norm": g_big.pow(2).sum().item(),
                "budget_tokens": BUDGET_SEQUENCES * BLOCK_SIZE, "device": pre.device, "noise_scale": None}

        def snapshot(done: int) -> dict:  # each trainer: one batch size under every seed (lab/seeds.py)
            runs = seed_major([[tokens_run(h, b, t.spec.steps) for h in t.result()["runs"]]
                               for b, t in zip(RUN_BATCHES, trainers)])
            return spread.with_seeds({**data, "batch_sizes": list(data["batch_sizes"]), "noise": list(data["noise"]),
                                      "cosine": list(data["cosine"]), "runs": runs, "done": done})

        if progress is not None:
            progress(snapshot(0), 0, total)
        for b in NOISE_BATCHES:
            sq, cos = gradient_noise(model, g_big, b, m, self.seed)
            data["batch_sizes"].append(b)
            data["noise"].append(sq)
            data["cosine"].append(cos)
            if len(data["noise"]) >= 2:
                data["slope"] = fit_slope(data["batch_sizes"], data["noise"])
            data["noise_scale"] = noise_scale(data["batch_sizes"], data["noise"], data["big_grad_sq_norm"])
            if progress is not None:
                progress(snapshot(len(data["noise"])), len(data["noise"]), total)

        def report(rounds: int) -> None:
            done = len(NOISE_BATCHES) + sum(t.step for t in trainers)
            progress(snapshot(done), done, total)

        run_together(trainers, None if progress is None else report, REPORT_EVERY)
        return snapshot(total)

    def figure(self, values, data):
        bs = data["batch_sizes"]
        ref = [data["noise"][0] / b for b in bs] if bs else []
        slope = "…" if data["slope"] is None else f"{data['slope']:.2f}"
        b_simple = (data["noise_scale"] or {}).get("b_simple")
        scale = "" if b_simple is None else f"; B_simple ≈ {b_simple:.3g} sequences"
        traces = [
            line(bs, data["noise"], "mean ‖g_B − g_big‖²", 0, mode="lines+markers", marker={"size": 9}),
            line(bs, ref, "1/B reference", 7, dash="dash"),
        ]
        several = spread.seed_count(data) > 1
        for i, (run, _) in enumerate(seeded_curves(data, keys=("loss", "tokens", "val_tokens", "val_loss")), start=1):
            if several:  # the band: every seed's validation loss, lowest to highest
                low, _, high = spread.per_step(spread.by_curve(data)[i - 1], "val_loss")
                traces += band_traces(run["val_tokens"][:len(low)], low, high, run["label"], i, panel=2)
            traces.append(line(run["tokens"], run["loss"], f"{run['label']} (train)", i, panel=2,
                               show_legend=False, opacity=0.35, group=run["label"]))
            traces.append(line(run["val_tokens"], run["val_loss"], f"{run['label']}, validation", i, panel=2,
                               mode="lines+markers", group=run["label"], marker={"size": 6}))
        layout = panels_layout(
            [f"gradient noise against batch size (fit slope {slope}; at step {data['at_step']}{scale})",
             f"loss against tokens seen, same LR {values['lr']:g} (validation markers, train faint)"],
            x_title="tokens seen", y_titles=["‖g_B − g_big‖²", "loss"], y_log=[True, False],
            y_ranges=[None, [2.3, 4.4]], shared_x=False)
        layout["xaxis"] = {**layout["xaxis"], "type": "log", "showticklabels": True,
                           "title": {"text": "batch size B (sequences)"}, "tickvals": list(NOISE_BATCHES), "range": [-0.1, 1.6]}
        layout["xaxis2"] = {**layout["xaxis2"], "range": [0, data["budget_tokens"]]}
        layout["yaxis"]["domain"] = [0.6, 1.0]
        layout["yaxis2"]["domain"] = [0.0, 0.44]
        layout["annotations"][1]["y"] = 0.44
        layout["hovermode"] = "closest"
        layout["height"] = 660
        layout["margin"] = {**layout["margin"], "t": 90}
        return figure(traces, layout)

    def tables(self, values, data):
        scale = data["noise_scale"] or {}
        noise = {"caption": (f"Gradient noise at step {data['at_step']}: {values['batches']} batches per size, against "
                             f"a {data['big_batch']}-sequence gradient (log-log slope {fmt(data['slope'], 3)}); "
                             f"noise scale B_simple = tr Σ / |G|² = {fmt(scale.get('trace_sigma'))} / "
                             f"{fmt(scale.get('grad_sq'))} = {fmt(scale.get('b_simple'), 3)} sequences"),
                 "columns": ["batch size", "mean ‖g_B − g_big‖²", "mean cosine to g_big"],
                 "rows": [[b, fmt(n), fmt(c, 3)] for b, n, c in zip(data["batch_sizes"], data["noise"],
                                                                    data["cosine"])]}
        tables = [noise]
        for run in data["runs"]:
            tables.append({"caption": f"{run['label']}{seed_note(run)}: validation loss against tokens seen",
                           "columns": ["tokens", "validation loss"],
                           "rows": [[t, fmt(v)] for t, v in zip(run["val_tokens"], run["val_loss"])]})
        return tables

    def script(self, values):
        pre, specs = self.pretrain_spec(values), self.run_specs(values)
        m, n = values["batches"], values["at_step"]
        numbers = [Shown(f"B = {b}: mean squared distance to the big-batch gradient", ("noise", k))
                   for k, b in enumerate(NOISE_BATCHES)]
        numbers += [Shown("log-log slope", ("slope",)), Shown("B_simple (sequences)", ("noise_scale", "b_simple"))]
        numbers += [Shown(f"batch {b}: final validation loss", ("runs", k, "val_loss", -1))
                    for k, b in enumerate(RUN_BATCHES)]
        return Script(
            self.name, self.title, values, about=self.caption, numbers=tuple(numbers),
            imports=imports(pre, specs, extra=(
                "widgets.batch_noise:NOISE_BATCHES", "widgets.batch_noise:big_gradient",
                "widgets.batch_noise:fit_slope", "widgets.batch_noise:gradient_noise",
                "widgets.batch_noise:noise_scale", "widgets.batch_noise:pretrained", "widgets.lab.trainer:train",
                "widgets.lab.seeds:seed_major")),
            steps=(
                Step(f"Fixed weights to measure at: {n} real training steps first (0: at initialisation).",
                     f"model = pretrained({pretty(pre)}).model"),
                Step(f"The reference gradient of one batch of {BIG_BATCH} sequences, then, for each batch size B, "
                     f"the mean squared distance to it of {m} independent batch gradients: it falls about as 1/B.",
                     f"g_big = big_gradient(model, seed={self.seed})\n"
                     f"noise = [gradient_noise(model, g_big, b, {m}, seed={self.seed})[0] for b in NOISE_BATCHES]"),
                Step("The log-log slope of noise against B (about -1), and McCandlish et al.'s simple noise scale "
                     "B_simple = tr(Sigma) / |G|^2 estimated from the same numbers.",
                     "slope = fit_slope(NOISE_BATCHES, noise)\n"
                     "scale = noise_scale(NOISE_BATCHES, noise, g_big.pow(2).sum().item())"),
                Step(f"Short runs with batch sizes {', '.join(map(str, RUN_BATCHES))} and the same LR, each "
                     f"given the same {BUDGET_SEQUENCES * BLOCK_SIZE:,} tokens: a bigger batch takes fewer steps.",
                     f"specs = {pretty(specs)}\n"
                     "result = {'noise': noise, 'slope': slope, 'noise_scale': scale,\n"
                     "          'runs': seed_major([train(spec)['runs'] for spec in specs])}"),
            ))


WIDGET = BatchNoiseWidget(
    name="batch-noise",
    title="Batch size and gradient noise",
    caption=("The squared distance between a batch gradient and a 256-sequence gradient falls roughly as 1/B "
             "(log-log slope near -1). With the same LR and the same 16,384 tokens, batch 64 gets only 8 steps "
             "and ends with the highest validation loss on every seed. On the default seed batch 16 ends lowest, "
             "below the noisier batch 4; on most other seeds batch 4 does, so that order is this seed's."),
    streams=True,
    params=(
        Param("batches", "Batches per size M", "int", 16, min=4, max=48, step=4, unit="batches",
              help="Independent batches averaged for each batch size."),
        Param("at_step", "Measure after this many training steps", "int", 0, min=0, max=100, step=10,
              unit="steps", help="0 = at initialisation; otherwise Adam at 3e-3 with batch 8 first."),
        Param("lr", "Learning rate of the loss-per-token runs", "float", 3e-3, min=3e-4, max=2e-2, step=0.05,
              log=True, help="The same constant LR (AdamW) for every batch size."),
        SEEDS_PARAM,
    ),
)
