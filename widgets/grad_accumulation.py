"""Gradient accumulation: k micro-batches of b sequences against one batch of k*b.

Everything is computed on the real tiny GPT with the same weights and the same k*b
sequences: the gradient of one big batch, the gradient accumulated over k micro-batches
with the loss divided by k, and the same without the division (exactly k times too
large). Then a short real SGD run from the same weights on the same batches: one run
calls zero_grad before every step, the other forgets it, so its gradient is the sum of
every gradient computed so far.

With several seeds both runs are trained under each seed in the same stacked model (seed-major,
lab/seeds.py): each seed starts from its own weights and reads its own batches. The one-batch
check stays on the first seed's weights. Each run's validation loss is measured once, at the
end, so the seeds' comparison (widgets/spread.py) has a number that is not the training batch.
"""
from __future__ import annotations

import torch

from widgets.base import Param, Widget
from widgets import spread
from widgets.lab.data import BatchStream, fixed_batch, load_corpus
from widgets.lab.model import GPTConfig, TinyGPT
from widgets.lab.optim import SGD
from widgets.lab.seeds import batch_source, stacked
from widgets.kit import band_traces, color, figure, finite, fmt, line, panels_layout, seed_note, seeded_curves
from widgets.spread import SEEDS_PARAM
from widgets.script import Script, Shown, Step

BLOCK_SIZE = 32  # characters per sequence
# The curriculum's worked example: a big pretraining batch.
EXAMPLE_SEQUENCES, EXAMPLE_CONTEXT, EXAMPLE_STEPS = 512, 8192, 500_000
LABELS = ("zero_grad every step", "zero_grad forgotten")
EVAL_BATCH = 64  # validation sequences, as the trainer's


def flat_grad(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.detach().reshape(-1) for p in model.parameters()])


def one_batch_gradient(model, x, y) -> torch.Tensor:
    model.zero_grad(set_to_none=True)
    model(x, y)[1].sum().backward()
    return flat_grad(model)


def accumulated_gradient(model, x, y, k: int, divide: bool = True) -> torch.Tensor:
    """k backward passes over micro-batches of len(x) // k sequences, summed in .grad."""
    model.zero_grad(set_to_none=True)
    b = len(x) // k
    for i in range(k):
        loss = model(x[i * b:(i + 1) * b], y[i * b:(i + 1) * b])[1].sum()
        (loss / k if divide else loss).backward()
    return flat_grad(model)


def per_run_norm(tensors) -> torch.Tensor:
    """Global L2 norm per run of run-stacked tensors: (R,)."""
    return torch.stack([t.detach().pow(2).flatten(1).sum(1) for t in tensors]).sum(0).sqrt()


def tokens_arithmetic(b: int, k: int) -> dict:
    example = EXAMPLE_SEQUENCES * EXAMPLE_CONTEXT
    return {"micro_batch": b, "context": BLOCK_SIZE, "k": k, "tokens_per_step": b * BLOCK_SIZE * k,
            "example_sequences": EXAMPLE_SEQUENCES, "example_context": EXAMPLE_CONTEXT,
            "example_tokens_per_step": example, "example_steps": EXAMPLE_STEPS,
            "example_total_tokens": example * EXAMPLE_STEPS}


@torch.no_grad()
def validation_loss(model, tokens, seed: int) -> torch.Tensor:
    """Each run's loss on a fixed validation batch (the one the lab's trainer uses): (R,)."""
    model.eval()
    return model(*fixed_batch(tokens, EVAL_BATCH, BLOCK_SIZE, seed + 1))[1]


class GradAccumulationWidget(Widget):
    def compute(self, values, progress=None):
        k, b, steps, lr = values["k"], values["micro_batch"], values["steps"], values["lr"]
        corpus = load_corpus()
        # 1. the same weights and the same k*b sequences, three ways
        model = TinyGPT(GPTConfig(block_size=BLOCK_SIZE)).init_weights(self.seed)
        x, y = fixed_batch(corpus.train, k * b, BLOCK_SIZE, self.seed)
        g_big = one_batch_gradient(model, x, y)
        g_acc = accumulated_gradient(model, x, y, k)
        g_raw = accumulated_gradient(model, x, y, k, divide=False)
        diff = (g_acc - g_big).abs().max().item()
        check = {"max_abs_diff": diff, "max_abs_grad": g_big.abs().max().item(),
                 "relative_diff": diff / g_big.abs().max().item(),
                 "norm_big": g_big.norm().item(), "norm_accumulated": g_acc.norm().item(),
                 "norm_not_divided": g_raw.norm().item(),
                 "ratio_not_divided": (g_raw.norm() / g_big.norm()).item()}
        # a deliberately hand-written loop (the bug is in the loop), on the CPU: said so in the provenance
        labels, run_seeds = stacked(LABELS, self.seed, values["seeds"])  # both runs under every seed
        several = values["seeds"] > 1
        data = {"k": k, "micro_batch": b, "check": check, "tokens": tokens_arithmetic(b, k),
                "steps": steps, "done": 0, "device": "cpu",
                "runs": [{"label": label, "loss": [], "grad_norm": [], "fresh_grad_norm": [],
                          "sum_fresh_norms": [], "update_norm": [], **({"seed": s} if several else {})}
                         for label, s in zip(labels, run_seeds)]}
        if progress is not None:
            progress(data, 0, steps)  # the equivalence check is ready before the run starts
        # 2. a short SGD run with accumulation, even runs zero their gradient, odd runs forget
        runs = len(labels)
        model = TinyGPT(GPTConfig(block_size=BLOCK_SIZE), runs=runs).init_weights(self.seed,
                                                                                 run_seeds if several else None)
        params = list(model.parameters())
        optimizer = SGD(params, runs=runs, lr=lr)
        batches = batch_source(lambda seed: BatchStream(corpus.train, k * b, BLOCK_SIZE, seed), corpus.train,
                               k * b, BLOCK_SIZE, run_seeds)  # one seed: (B, T) for all; several: (R, B, T)
        for step in range(steps):
            for p in params:
                if p.grad is not None:
                    p.grad[0::2].zero_()  # even runs: optimizer.zero_grad(); odd runs keep their old gradient
            before = [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in params]
            x, y = batches.next()
            loss_sum = torch.zeros(runs)
            for i in range(k):  # micro-batch i: sequences i*b to (i+1)*b, the second-to-last dimension
                loss = model(x[..., i * b:(i + 1) * b, :], y[..., i * b:(i + 1) * b, :])[1]
                (loss.sum() / k).backward()  # runs are independent: each gets its own gradient
                loss_sum += loss.detach()
            grad_norm = per_run_norm(p.grad for p in params)
            fresh_norm = per_run_norm(p.grad - g0 for p, g0 in zip(params, before))
            old = [p.detach().clone() for p in params]
            optimizer.step()
            update = per_run_norm(p - o for p, o in zip(params, old))
            for r, run in enumerate(data["runs"]):
                run["loss"].append(finite(loss_sum[r].item() / k))
                run["grad_norm"].append(finite(grad_norm[r].item()))
                run["fresh_grad_norm"].append(finite(fresh_norm[r].item()))
                run["sum_fresh_norms"].append(finite(sum(v or 0.0 for v in run["fresh_grad_norm"])))
                run["update_norm"].append(finite(update[r].item()))
            data["done"] = step + 1
            if step + 1 < steps and progress is not None:
                progress(data, step + 1, steps)
        val = validation_loss(model, corpus.val, self.seed)
        for r, run in enumerate(data["runs"]):  # a run that blew up has none (spread: not compared)
            ok = bool(torch.isfinite(val[r]))
            run["val_steps"], run["val_loss"] = ([steps], [val[r].item()]) if ok else ([], [])
        data = spread.with_seeds(data)
        if progress is not None:
            progress(data, steps, steps)
        return data

    def figure(self, values, data):
        c = data["check"]
        k = data["k"]
        bars = ["one batch of k·b", "k micro-batches,<br>loss / k", "k micro-batches,<br>loss not / k"]
        norms = [c["norm_big"], c["norm_accumulated"], c["norm_not_divided"]]
        traces = [{"type": "bar", "x": bars, "y": norms, "marker": {"color": [color(0), color(2), color(1)]},
                   "text": [f"{v:.4g}" for v in norms], "textposition": "outside", "showlegend": False,
                   "name": "gradient norm", "xaxis": "x", "yaxis": "y"}]
        groups = spread.by_curve(data) if spread.seed_count(data) > 1 else None
        for i, (run, _) in enumerate(seeded_curves(data, keys=("loss", "grad_norm"))):
            steps = list(range(1, len(run["loss"]) + 1))
            if groups:  # the bands: every seed's gradient norm and training loss, lowest to highest
                for key, panel in (("grad_norm", 2), ("loss", 3)):
                    low, _, high = spread.per_step(groups[i], key)
                    traces += band_traces(steps[:len(low)], low, high, run["label"], i, panel=panel)
            traces.append(line(steps, run["grad_norm"], run["label"], i, panel=2, mode="lines+markers"))
            traces.append(line(steps, run["loss"], run["label"], i, panel=3, mode="lines+markers",
                               show_legend=False))
        layout = panels_layout(
            [f"gradient norm of the same {k}×{data['micro_batch']} sequences (not dividing makes it ×{k})",
             "gradient norm each SGD step uses", "training loss"],
            x_title="optimizer step", y_titles=["gradient norm", "gradient norm", "loss"],
            y_log=[False, True, False], y_ranges=[[0, 1.25 * max(norms)], None, [2.5, 5.0]], shared_x=False,
            domains=[[0.72, 1.0], [0.36, 0.6], [0.0, 0.28]])  # room under the bars for their labels
        layout["xaxis"] = {**layout["xaxis"], "type": "category", "showticklabels": True}
        layout["xaxis3"] = {**layout["xaxis3"], "range": [0.5, data["steps"] + 0.5]}
        layout["xaxis2"] = {**layout["xaxis2"], "matches": "x3", "showticklabels": True}
        layout["hovermode"] = "closest"
        layout["height"] = 760
        return figure(traces, layout)  # the measured differences are page text: see findings()

    def findings(self, values, data):
        c, t = data["check"], data["tokens"]
        return [f"Measured on these weights: max |accumulated − one batch| = {c['max_abs_diff']:.2e} (relative "
                f"{c['relative_diff']:.1e}); without dividing the loss by k the gradient is ×{c['ratio_not_divided']:.6f}; "
                f"{t['micro_batch']}×{t['context']}×{t['k']} = {t['tokens_per_step']:,} tokens per optimizer step."
                ] + spread.findings(data)

    def tables(self, values, data):
        c, t = data["check"], data["tokens"]
        checks = [["largest |accumulated − one batch| (any weight)", f"{c['max_abs_diff']:.3e}"],
                  ["largest |gradient| (one batch)", f"{c['max_abs_grad']:.4g}"],
                  ["relative difference", f"{c['relative_diff']:.3e}"],
                  ["gradient norm, one batch of k·b", f"{c['norm_big']:.6g}"],
                  ["gradient norm, accumulated with loss / k", f"{c['norm_accumulated']:.6g}"],
                  ["gradient norm, accumulated without / k", f"{c['norm_not_divided']:.6g}"],
                  ["ratio not divided / one batch", f"{c['ratio_not_divided']:.7g}"],
                  ["tokens per optimizer step here (b × context × k)",
                   f"{t['micro_batch']} × {t['context']} × {t['k']} = {t['tokens_per_step']:,}"],
                  ["worked example: tokens per step (sequences × context)",
                   f"{t['example_sequences']:,} × {t['example_context']:,} = {t['example_tokens_per_step']:,}"],
                  ["worked example: tokens in the run (× steps)",
                   f"{t['example_tokens_per_step']:,} × {t['example_steps']:,} = {t['example_total_tokens']:,} "
                   f"(about {t['example_total_tokens'] / 1e12:.1f} trillion)"]]
        tables = [{"caption": "One batch against k accumulated micro-batches (same weights, same sequences)",
                   "columns": ["quantity", "value"], "rows": checks}]
        for run in data["runs"]:
            rows = [[s + 1, fmt(run["loss"][s]), fmt(run["grad_norm"][s]), fmt(run["fresh_grad_norm"][s]),
                     fmt(run["sum_fresh_norms"][s]), fmt(run["update_norm"][s])] for s in range(len(run["loss"]))]
            tables.append({"caption": f"SGD run, {run['label']}{seed_note(run)}",
                           "columns": ["step", "loss", "gradient norm used", "this step's fresh gradient norm",
                                       "sum of fresh norms so far", "update norm"], "rows": rows})
        return tables

    def script(self, values):
        k, b, steps, lr = values["k"], values["micro_batch"], values["steps"], values["lr"]
        numbers = [Shown("gradient norm, one batch of k*b", ("check", "norm_big")),
                   Shown("gradient norm, k micro-batches, loss / k", ("check", "norm_accumulated")),
                   Shown("not divided by k: norm ratio to one batch", ("check", "ratio_not_divided")),
                   Shown("tokens per step", ("tokens", "tokens_per_step"))]
        for r, label in enumerate(LABELS):
            numbers += [Shown(f"{label}: last training loss", ("runs", r, "loss", -1)),
                        Shown(f"{label}: last gradient norm", ("runs", r, "grad_norm", -1))]
        return Script(
            self.name, self.title, values, about=self.caption, numbers=tuple(numbers),
            # the loop is the lesson, so it is written out: one model per run and torch's own SGD,
            # where compute trains both runs in one run-stacked model with the course's SGD. Float
            # rounding differs in the last bits; ten steps amplify it to about 1e-5 relative at most.
            tolerance=1e-4,
            imports=("import torch\n"
                     "from widgets.lab.data import BatchStream, fixed_batch, load_corpus\n"
                     "from widgets.lab.model import GPTConfig, TinyGPT"),
            steps=(
                Step(f"The same weights and the same k*b = {k * b} sequences, three ways: one batch; k micro-batches "
                     "with the loss divided by k, gradients summed in .grad; and the same without the division.",
                     f"k, b, block, seed = {k}, {b}, {BLOCK_SIZE}, {self.seed}\n"
                     "corpus = load_corpus()\n"
                     "model = TinyGPT(GPTConfig(block_size=block)).init_weights(seed)\n"
                     "x, y = fixed_batch(corpus.train, k * b, block, seed)\n"
                     "\n"
                     "def grad():\n"
                     "    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])\n"
                     "\n"
                     "model.zero_grad()\n"
                     "model(x, y)[1].sum().backward()\n"
                     "g_big = grad()\n"
                     "model.zero_grad()\n"
                     "for i in range(k):  # .grad accumulates over the k backward passes\n"
                     "    (model(x[i * b:(i + 1) * b], y[i * b:(i + 1) * b])[1].sum() / k).backward()\n"
                     "g_acc = grad()\n"
                     "model.zero_grad()\n"
                     "for i in range(k):  # forgot to divide by k\n"
                     "    model(x[i * b:(i + 1) * b], y[i * b:(i + 1) * b])[1].sum().backward()\n"
                     "g_raw = grad()\n"
                     "print('largest |accumulated - one batch|:', (g_acc - g_big).abs().max().item())\n"
                     "check = {'norm_big': g_big.norm().item(), 'norm_accumulated': g_acc.norm().item(),\n"
                     "         'ratio_not_divided': (g_raw.norm() / g_big.norm()).item()}"),
                Step("A short SGD run with accumulation, twice from the same weights on the same batches: once "
                     "with zero_grad before every step, once without, so each step uses the sum of every "
                     "gradient so far.",
                     "runs = []\n"
                     "for forget in (False, True):\n"
                     "    model = TinyGPT(GPTConfig(block_size=block)).init_weights(seed)\n"
                     f"    opt = torch.optim.SGD(model.parameters(), lr={lr!r})\n"
                     "    batches = BatchStream(corpus.train, k * b, block, seed)\n"
                     "    losses, norms = [], []\n"
                     f"    for step in range({steps}):\n"
                     "        if not forget:\n"
                     "            opt.zero_grad()\n"
                     "        x, y = batches.next()\n"
                     "        total = 0.0\n"
                     "        for i in range(k):\n"
                     "            loss = model(x[i * b:(i + 1) * b], y[i * b:(i + 1) * b])[1].sum()\n"
                     "            (loss / k).backward()\n"
                     "            total += loss.item() / k\n"
                     "        norms.append(grad().norm().item())\n"
                     "        opt.step()\n"
                     "        losses.append(total)\n"
                     "    runs.append({'loss': losses, 'grad_norm': norms})\n"
                     "result = {'check': check, 'tokens': {'tokens_per_step': b * block * k}, 'runs': runs}"),
            ))


WIDGET = GradAccumulationWidget(
    name="grad-accumulation",
    title="Gradient accumulation: k micro-batches = one big batch",
    caption=("On the same weights and the same k·b sequences, k accumulated micro-batches (loss divided by k) give "
             "the big batch's gradient to float32 rounding, and forgetting the division makes it exactly k times "
             "too large. Forgetting zero_grad makes every SGD step use the sum of all earlier gradients: its "
             "gradient norm grows and it ends with a higher loss than the correct run."),
    streams=True,
    params=(
        Param("k", "Accumulation steps k", "int", 4, min=1, max=16, step=1, unit="micro-batches",
              help="Backward passes per optimizer step."),
        Param("micro_batch", "Micro-batch b", "int", 4, min=1, max=8, step=1, unit="sequences",
              help=f"Sequences of {BLOCK_SIZE} characters per backward pass."),
        Param("steps", "SGD steps", "int", 10, min=2, max=30, step=1, unit="steps"),
        SEEDS_PARAM,
        Param("lr", "SGD learning rate", "float", 0.3, min=0.01, max=1.0, step=0.05, log=True, advanced=True),
    ),
)
