"""Train the lab's tiny GPT with a config, inside the sandbox (the capstone's tests and its
"train with your code" page both run it; lab_model.py is widgets/lab/model.py and corpus.txt
a slice of tiny Shakespeare, shipped by the course).

The data has a broken stretch, as real data does: at steps BURST the batch is a corrupted
shard (every input 'Z', every target 'Q'). A healthy config survives it; one without clipping
is thrown back by it. Everything is seeded: a config trains the same way every time.
"""
from __future__ import annotations

import math

import torch

import lab_model

SEED = 1337
BURST = range(100, 102)  # the corrupted batches
# validation (16 fixed held-out batches) just before the burst, three times after it, and at
# the end: what the health check reads
SETBACK_STEPS = (105, 107, 110)
EVAL_BATCHES = 16
MAX_STEPS_RUN = 300  # the sandbox's time limit allows about this many steps
SCHEDULES = ("cosine", "linear", "constant")
MODEL = dict(n_layer=2, n_head=4, n_embd=64)

# key -> (type, low, high): what a config may say (checked before anything trains)
KEYS = {
    "optimizer": (str, None, None), "betas": (tuple, None, None), "eps": (float, 0.0, 1e-2),
    "weight_decay": (float, 0.0, 1.0), "lr": (float, 0.0, 1.0), "warmup_steps": (int, 0, MAX_STEPS_RUN),
    "schedule": (str, None, None), "min_lr": (float, 0.0, 1.0), "grad_clip": (float, 0.0, 100.0),
    "micro_batch": (int, 1, 32), "seq_len": (int, 8, 64), "grad_accum": (int, 1, 4),
    "total_tokens": (int, 1, 10**7), "max_steps": (int, 1, 10**6),
}


def problems(config) -> list[str]:
    """Why this config cannot be trained at all (empty: it can)."""
    if not isinstance(config, dict):
        return [f"CONFIG must be a dict, it is a {type(config).__name__}"]
    found = []
    missing = [k for k in KEYS if k not in config]
    if missing:
        found.append(f"CONFIG lacks {', '.join(missing)} (keep every key of the broken config)")
    for key, (kind, low, high) in KEYS.items():
        if key not in config:
            continue
        value = config[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is tuple:
            ok = (isinstance(value, (tuple, list)) and len(value) == 2
                  and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in value))
            if not ok:
                found.append(f"betas must be two numbers in [0, 1), got {value!r}")
            continue
        if not isinstance(value, kind) or isinstance(value, bool):
            found.append(f"{key} must be a {kind.__name__}, got {value!r}")
        elif low is not None and not (low <= value <= high):
            found.append(f"{key} must be between {low:g} and {high:g}, got {value!r}")
    if not found:
        if not 0 <= config["min_lr"] <= config["lr"]:
            found.append(f"min_lr must be between 0 and lr, got {config['min_lr']!r}")
        if str(config["optimizer"]).lower() != "adamw":
            found.append(f"optimizer must be 'adamw' (the run uses torch.optim.AdamW), got {config['optimizer']!r}")
        if config["schedule"] not in SCHEDULES:
            found.append(f"schedule must be one of {', '.join(SCHEDULES)}, got {config['schedule']!r}")
        steps = run_length(config)
        if not 1 <= steps <= MAX_STEPS_RUN:
            found.append(f"total_tokens / tokens per step gives {steps} steps; this run must take 1 to "
                         f"{MAX_STEPS_RUN} steps (keep total_tokens and the batch as they were)")
    return found


def tokens_per_step(config) -> int:
    return config["micro_batch"] * config["seq_len"] * config["grad_accum"]


def run_length(config) -> int:
    """How many steps the token budget buys: the run stops there, whatever max_steps says."""
    return config["total_tokens"] // tokens_per_step(config)


def lr_at(config, step: int) -> float:
    """The schedule: linear warmup from 0 at step 0, then the decay over max_steps to min_lr."""
    peak, floor, warmup, total = config["lr"], config["min_lr"], config["warmup_steps"], config["max_steps"]
    if step < warmup:
        return peak * step / warmup
    if config["schedule"] == "constant":
        return peak
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    shape = 0.5 * (1 + math.cos(math.pi * progress)) if config["schedule"] == "cosine" else 1 - progress
    return floor + (peak - floor) * shape


def load_tokens(path: str = "corpus.txt"):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([lookup[c] for c in text], dtype=torch.long)
    cut = int(0.9 * len(ids))
    return ids[:cut], ids[cut:], lookup


def batch(tokens, size, length, generator):
    starts = torch.randint(len(tokens) - length - 1, (size,), generator=generator)
    offsets = torch.arange(length)
    return tokens[starts[:, None] + offsets], tokens[starts[:, None] + offsets + 1]


def run(config, on_step=None) -> dict:
    """Train; on_step(step, train_loss) after each step. Returns the curves:
    {"steps", "loss", "val_steps", "val_loss", "lr", "peak_lr"} (non-finite losses kept as they are)."""
    torch.manual_seed(SEED)
    train, val, lookup = load_tokens()
    length, size, accum = config["seq_len"], config["micro_batch"], config["grad_accum"]
    model = lab_model.TinyGPT(lab_model.GPTConfig(vocab_size=len(lookup), block_size=length, **MODEL))
    model.init_weights(SEED)
    decayed = [p for n, p in model.named_parameters() if lab_model.is_decayed(n, p)]
    others = [p for n, p in model.named_parameters() if not lab_model.is_decayed(n, p)]
    optimizer = torch.optim.AdamW([{"params": decayed, "weight_decay": float(config["weight_decay"])},
                                   {"params": others, "weight_decay": 0.0}], lr=float(config["lr"]),
                                  betas=tuple(config["betas"]), eps=float(config["eps"]))
    data = torch.Generator().manual_seed(SEED + 1)
    held_out = [batch(val, size, length, torch.Generator().manual_seed(SEED + 2 + i)) for i in range(EVAL_BATCHES)]
    steps = run_length(config)
    clip = float(config["grad_clip"] or 0.0)
    out = {"steps": steps, "loss": [], "val_steps": [], "val_loss": [], "lr": [], "peak_lr": float(config["lr"])}
    for step in range(steps):
        lr = lr_at(config, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(accum):
            x, y = batch(train, size, length, data)
            if step in BURST:  # the corrupted shard
                x, y = torch.full_like(x, lookup.get("Z", 0)), torch.full_like(y, lookup.get("Q", 1))
            _, loss = model(x, y)
            (loss.sum() / accum).backward()
            total += float(loss.detach().sum()) / accum
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        out["loss"].append(total)
        out["lr"].append(lr)
        if on_step is not None:
            on_step(step, total)
        if step + 1 in (BURST.start, *SETBACK_STEPS, steps):  # after step + 1 steps
            out["val_steps"].append(step + 1)
            out["val_loss"].append(evaluate(model, held_out))
    return out


@torch.no_grad()
def evaluate(model, batches) -> float:
    model.eval()
    losses = [float(model(x, y)[1].sum()) for x, y in batches]
    model.train()
    return sum(losses) / len(losses)
