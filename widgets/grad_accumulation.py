"""Gradient accumulation: k micro-batches of b sequences against one batch of k*b.

Everything is computed on the real tiny GPT with the same weights and the same k*b
sequences: the gradient of one big batch, the gradient accumulated over k micro-batches
with the loss divided by k, and the same without the division (exactly k times too
large). Then a short real SGD run from the same weights on the same batches: one run
calls zero_grad before every step, the other forgets it, so its gradient is the sum of
every gradient computed so far.
"""
from __future__ import annotations

import torch

from widgets.base import Param, Widget
from widgets.lab.data import BatchStream, fixed_batch, load_corpus
from widgets.lab.model import GPTConfig, TinyGPT
from widgets.lab.optim import SGD
from widgets.kit import color, figure, finite, fmt, line, panels_layout

BLOCK_SIZE = 32  # characters per sequence
# The curriculum's worked example: a big pretraining batch.
EXAMPLE_SEQUENCES, EXAMPLE_CONTEXT, EXAMPLE_STEPS = 512, 8192, 500_000
LABELS = ("zero_grad every step", "zero_grad forgotten")


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
        data = {"k": k, "micro_batch": b, "check": check, "tokens": tokens_arithmetic(b, k),
                "steps": steps, "done": 0, "device": "cpu",
                "runs": [{"label": label, "loss": [], "grad_norm": [], "fresh_grad_norm": [],
                          "sum_fresh_norms": [], "update_norm": []} for label in LABELS]}
        if progress is not None:
            progress(data, 0, steps)  # the equivalence check is ready before the run starts
        # 2. a short SGD run with accumulation, run 0 zeroes its gradient, run 1 forgets
        stacked = TinyGPT(GPTConfig(block_size=BLOCK_SIZE), runs=2).init_weights(self.seed)
        params = list(stacked.parameters())
        optimizer = SGD(params, runs=2, lr=lr)
        batches = BatchStream(corpus.train, k * b, BLOCK_SIZE, self.seed)
        for step in range(steps):
            for p in params:
                if p.grad is not None:
                    p.grad[0].zero_()  # run 0: optimizer.zero_grad(); run 1 keeps its old gradient
            before = [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in params]
            x, y = batches.next()
            loss_sum = torch.zeros(2)
            for i in range(k):
                loss = stacked(x[i * b:(i + 1) * b], y[i * b:(i + 1) * b])[1]
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
            if progress is not None:
                progress(data, step + 1, steps)
        return data

    def figure(self, values, data):
        c = data["check"]
        k = data["k"]
        bars = ["one batch of k·b", "k micro-batches,<br>loss / k", "k micro-batches,<br>loss not / k"]
        norms = [c["norm_big"], c["norm_accumulated"], c["norm_not_divided"]]
        traces = [{"type": "bar", "x": bars, "y": norms, "marker": {"color": [color(0), color(2), color(1)]},
                   "text": [f"{v:.4g}" for v in norms], "textposition": "outside", "showlegend": False,
                   "name": "gradient norm", "xaxis": "x", "yaxis": "y"}]
        for i, run in enumerate(data["runs"]):
            steps = list(range(1, len(run["loss"]) + 1))
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
                f"{t['micro_batch']}×{t['context']}×{t['k']} = {t['tokens_per_step']:,} tokens per optimizer step."]

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
            tables.append({"caption": f"SGD run, {run['label']}",
                           "columns": ["step", "loss", "gradient norm used", "this step's fresh gradient norm",
                                       "sum of fresh norms so far", "update norm"], "rows": rows})
        return tables

    def code(self, values):
        k, b, steps, lr = values["k"], values["micro_batch"], values["steps"], values["lr"]
        return f'''# Gradient accumulation on the course's tiny GPT (run from the repository root).
import torch
from widgets.lab.data import BatchStream, fixed_batch, load_corpus
from widgets.lab.model import GPTConfig, TinyGPT

k, b, block, seed = {k}, {b}, {BLOCK_SIZE}, {self.seed}
corpus = load_corpus()
model = TinyGPT(GPTConfig(block_size=block)).init_weights(seed)
x, y = fixed_batch(corpus.train, k * b, block, seed)  # the same k*b sequences for every variant

def grad():
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])

model.zero_grad(); model(x, y)[1].sum().backward(); g_big = grad()
model.zero_grad()
for i in range(k):
    (model(x[i*b:(i+1)*b], y[i*b:(i+1)*b])[1].sum() / k).backward()  # .grad accumulates
g_acc = grad()
model.zero_grad()
for i in range(k):
    model(x[i*b:(i+1)*b], y[i*b:(i+1)*b])[1].sum().backward()  # forgot to divide by k
g_raw = grad()
print(f"max |accumulated - one batch| = {{(g_acc - g_big).abs().max().item():.3e}}")
print(f"not divided by k: norm ratio = {{(g_raw.norm() / g_big.norm()).item():.6f}} (k = {{k}})")
print(f"tokens per step: {{b}} x {{block}} x {{k}} = {{b * block * k:,}}")
print(f"worked example: 512 x 8192 = {{512 * 8192:,}} tokens/step, x 500,000 steps = {{512 * 8192 * 500_000:,}}")

# A short SGD run, twice from the same weights on the same batches: with and without zero_grad.
for forget in (False, True):
    model = TinyGPT(GPTConfig(block_size=block)).init_weights(seed)
    opt = torch.optim.SGD(model.parameters(), lr={lr!r})
    batches = BatchStream(corpus.train, k * b, block, seed)
    losses, norms = [], []
    for step in range({steps}):
        if not forget:
            opt.zero_grad()
        x, y = batches.next()
        total = 0.0
        for i in range(k):
            loss = model(x[i*b:(i+1)*b], y[i*b:(i+1)*b])[1].sum()
            (loss / k).backward()
            total += loss.item() / k
        norms.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]).norm().item())
        opt.step()
        losses.append(total)
    print("forgot zero_grad" if forget else "zero_grad each step",
          "loss", [round(v, 3) for v in losses], "grad norm", [round(v, 3) for v in norms])
'''


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
        Param("lr", "SGD learning rate", "float", 0.3, min=0.01, max=1.0, step=0.05, log=True, advanced=True),
    ),
)
