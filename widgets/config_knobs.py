"""Read a training config safely and annotate every knob that keeps training stable.

The text is untrusted: it is parsed with `yaml.safe_load` (YAML, JSON) or
`ast.literal_eval` (a Python dict literal), never eval/exec, and it is capped
before parsing (length, bracket nesting) and after (depth, number of entries,
aliases walked). Bad input never raises: `read_config` returns an "error".

Each recognised key (and its common aliases, at any depth: `optimizer.lr` is
found too) gets what it guards against, the common value in LLM pretraining,
and a level: "ok", "note", "unusual" or "risky". Unusual and risky knobs are
the flags. `read_config` also works out the batch arithmetic:
tokens per step = micro-batch x sequence length x accumulation x data-parallel ranks.
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any, Callable

import yaml

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the same safe loader, in C when built
MAX_CHARS = 20_000  # also the widget's text limit
MAX_DEPTH = 8  # nesting of mappings/lists in the parsed config
MAX_ENTRIES = 400  # keys and list items visited in total
MAX_BRACKETS = 32  # bracket nesting seen in the raw text, checked before parsing

LEVELS = ("ok", "note", "unusual", "risky")
FLAGGED = ("unusual", "risky")


class ConfigError(ValueError):
    """Text that cannot be read as a config: the message says why, for the learner."""


@dataclass(frozen=True)
class Knob:
    key: str  # canonical name
    aliases: tuple[str, ...]
    guards: str  # what the knob guards against
    common: str  # the common value in LLM pretraining


KNOBS: tuple[Knob, ...] = (
    Knob("optimizer", ("optimizer", "optim", "optimizer_name", "optimizer_type", "opt"),
         "the update rule: AdamW decouples weight decay from the adaptive step", "AdamW"),
    Knob("lr", ("lr", "learning_rate", "max_lr", "peak_lr", "base_lr", "lr_max"),
         "too high: spikes and divergence; too low: wasted compute", "3e-4 (6e-4 for small models)"),
    Knob("min_lr", ("min_lr", "final_lr", "lr_min", "end_lr", "min_learning_rate", "eta_min"),
         "the floor the schedule decays to: the last steps anneal at a small LR", "~10% of the peak, or 1e-5"),
    Knob("beta1", ("beta1", "adam_beta1", "b1"),
         "momentum: averages gradient noise over ~1/(1-beta1) steps", "0.9"),
    Knob("beta2", ("beta2", "adam_beta2", "b2"),
         "the second-moment horizon: 0.999 reacts too slowly to a gradient-scale shift and lets spikes through",
         "0.95"),
    Knob("eps", ("eps", "adam_eps", "epsilon", "adam_epsilon"),
         "division by a near-zero second moment", "1e-8"),
    Knob("weight_decay", ("weight_decay", "wd", "decay", "weight_decay_rate"),
         "weights growing without bound (decoupled decay on the matrices)", "0.1"),
    Knob("decay_all", ("weight_decay_all", "decay_all", "decay_all_params", "decay_embeddings",
                       "decay_norms", "decay_biases", "decay_norm_and_bias", "apply_decay_to_all"),
         "decay on embeddings, norm gains and biases pulls them to zero for no benefit",
         "false: decay the weight matrices only"),
    Knob("no_decay", ("no_decay", "no_decay_params", "exclude_from_weight_decay", "no_weight_decay"),
         "the list of tensors kept out of weight decay", "biases, norm gains, embeddings"),
    Knob("warmup", ("warmup", "warmup_steps", "warmup_iters", "lr_warmup_steps", "num_warmup_steps",
                    "warmup_ratio", "warmup_fraction"),
         "huge early updates while Adam's statistics are still noise", "~2000 steps, or 1-5% of the run"),
    Knob("schedule", ("schedule", "lr_schedule", "scheduler", "lr_scheduler", "lr_scheduler_type",
                      "decay_style", "lr_decay_style"),
         "annealing at the end of the run: the loss drops as the LR decays", "cosine (or WSD / linear)"),
    Knob("grad_clip", ("grad_clip", "max_grad_norm", "clip_grad", "clip_grad_norm", "gradient_clipping",
                       "clip_norm", "grad_norm_clip", "clip"),
         "one bad batch's huge gradient wrecking the weights", "1.0 (global norm)"),
    Knob("dropout", ("dropout", "resid_pdrop", "attn_pdrop", "embd_pdrop", "hidden_dropout",
                     "attention_dropout", "resid_dropout", "dropout_rate"),
         "overfitting; with one pass over trillions of tokens there is little to overfit", "0.0"),
    Knob("micro_batch", ("batch_size", "micro_batch", "micro_batch_size", "per_device_train_batch_size",
                         "train_micro_batch_size_per_gpu", "mbs"),
         "memory per device; the global batch is what the optimizer sees", "whatever fits in memory"),
    Knob("grad_accum", ("gradient_accumulation_steps", "grad_accum", "accumulation_steps",
                        "accumulate_grad_batches", "grad_accum_steps"),
         "a global batch too small for one device's memory", "enough to reach ~4M tokens per step"),
    Knob("dp_ranks", ("data_parallel", "data_parallel_size", "dp", "dp_size", "world_size", "num_gpus",
                      "n_gpus", "gpus", "num_devices"),
         "how many replicas each contribute a micro-batch per step", "as many as you have"),
    Knob("seq_len", ("seq_len", "block_size", "context_length", "max_seq_len", "seq_length",
                     "sequence_length", "n_ctx", "max_length"),
         "tokens per sequence: sets what the model can attend to", "2048-8192"),
    Knob("max_steps", ("max_steps", "max_iters", "total_steps", "train_steps", "num_steps",
                       "lr_decay_iters", "num_training_steps", "train_iters"),
         "the length of the run; the schedule decays over it", "total tokens / tokens per step"),
    Knob("total_tokens", ("total_tokens", "train_tokens", "num_tokens", "tokens"),
         "the training budget in tokens", "~20 tokens per parameter or (much) more"),
    Knob("sched_first", ("scheduler_step_before_optimizer", "step_scheduler_first", "scheduler_first"),
         "stepping the scheduler before optimizer.step() skips the schedule's first value (PyTorch warns)",
         "false: optimizer.step(), then scheduler.step()"),
    Knob("step_order", ("step_order", "order", "update_order", "training_step_order"),
         "the order of the calls in one training step", "zero_grad, backward, clip, optimizer, scheduler"),
    Knob("zero_grad", ("zero_grad", "zero_grads", "reset_grads", "optimizer_zero_grad"),
         "gradients summing over every step since the start", "true (set_to_none)"),
    Knob("precision", ("precision", "dtype", "mixed_precision", "amp_dtype"),
         "overflow and underflow in low precision", "bf16"),
    Knob("z_loss", ("z_loss", "z_loss_coef", "z_loss_weight"),
         "output logits drifting huge", "1e-4 (optional)"),
    Knob("qk_norm", ("qk_norm", "qk_layernorm", "query_key_norm"),
         "attention logits growing until the softmax saturates", "true in several recent models (optional)"),
)

ALIASES: dict[str, str] = {}
for _knob in KNOBS:
    for _alias in _knob.aliases:
        ALIASES[_alias] = _knob.key
BY_KEY = {k.key: k for k in KNOBS}
BETAS_ALIASES = ("betas", "adam_betas", "beta")


def normalise(key: Any) -> str:
    return str(key).strip().lower().replace("-", "_").replace(" ", "_")


# --- safe parsing ----------------------------------------------------------------------------
def _bracket_depth(text: str) -> int:
    """Deepest nesting of brackets in the raw text (quoted strings skipped)."""
    depth = deepest = 0
    quote = None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]})":
            depth = max(0, depth - 1)
    return deepest


def parse_text(text: str) -> tuple[dict, str]:
    """(mapping, format) or ConfigError. YAML or JSON, or a Python dict literal starting with '{'."""
    if len(text) > MAX_CHARS:
        raise ConfigError(f"The config is {len(text):,} characters long; at most {MAX_CHARS:,} are read.")
    if not text.strip():
        raise ConfigError("The config is empty: paste a YAML mapping or a Python dict.")
    if _bracket_depth(text) > MAX_BRACKETS:
        raise ConfigError(f"The config nests brackets more than {MAX_BRACKETS} deep; a training config "
                          "never needs that.")
    body = text.strip()
    if body.startswith("{") and not _looks_like_json(body):
        fmt = "Python dict"
        try:
            parsed = ast.literal_eval(body)  # literals only: no names, calls or attribute access
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as error:
            raise ConfigError(_literal_message(error)) from None
    else:
        fmt = "YAML"
        try:
            parsed = yaml.load(body, Loader=_SAFE_LOADER)  # safe_load's loader: no !!python tags
        except yaml.YAMLError as error:
            raise ConfigError(_yaml_message(error)) from None
        except (RecursionError, MemoryError, ValueError, OverflowError) as error:
            raise ConfigError(f"The YAML could not be read safely ({type(error).__name__}).") from None
    if not isinstance(parsed, dict):
        raise ConfigError(f"The config must be a mapping of knob names to values (key: value), "
                          f"but this text is a {type(parsed).__name__}.")
    _check_size(parsed)
    return parsed, fmt


def _looks_like_json(body: str) -> bool:
    import json

    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return False
    return True


def _literal_message(error: Exception) -> str:
    if isinstance(error, SyntaxError):
        where = f" (line {error.lineno}, column {error.offset})" if error.lineno else ""
        return f"The Python dict does not parse{where}: {error.msg}."
    if isinstance(error, ValueError) and "malformed" in str(error):
        return ("The Python dict may only hold literals (numbers, strings, lists, tuples, dicts, "
                "True/False/None); names, calls and expressions such as __import__(...) are not evaluated.")
    return f"The Python dict could not be read ({type(error).__name__}: {error})."


def _yaml_message(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    if "python/" in str(error) or "could not determine a constructor" in str(error):
        return (f"The YAML uses a tag that could run code{where} (for example !!python/object); "
                "only plain YAML values are read.")
    return f"The text is not valid YAML{where}: {problem}."


def _check_size(parsed: dict) -> None:
    """Walk the parsed config with a budget: caps depth and entries, and stops YAML alias bombs."""
    budget = [MAX_ENTRIES]

    def walk(node: Any, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ConfigError(f"The config nests more than {MAX_DEPTH} levels deep; a training config "
                              "never needs that.")
        if isinstance(node, dict):
            items = list(node.values())
        elif isinstance(node, (list, tuple)):
            items = list(node)
        else:
            return
        budget[0] -= len(items)
        if budget[0] < 0:
            raise ConfigError(f"The config has more than {MAX_ENTRIES} entries; paste only the "
                              "training section.")
        for item in items:
            walk(item, depth + 1)

    walk(parsed, 1)


# --- finding the knobs -------------------------------------------------------------------------
def flatten(parsed: dict) -> list[tuple[str, str, Any]]:
    """(path, canonical knob, value) for every recognised key, in the order of the text."""
    found = []

    def walk(node: dict, prefix: str) -> None:
        for raw_key, value in node.items():
            key = normalise(raw_key)
            path = f"{prefix}{raw_key}"
            if isinstance(value, dict):
                if key in ALIASES and BY_KEY[ALIASES[key]].key in ("optimizer", "schedule"):
                    name = value.get("name", value.get("type"))
                    if name is not None:
                        found.append((f"{path}.name", ALIASES[key], name))
                walk(value, f"{path}.")
            elif key in BETAS_ALIASES and isinstance(value, (list, tuple)) and len(value) == 2:
                found.append((f"{path}[0]", "beta1", value[0]))
                found.append((f"{path}[1]", "beta2", value[1]))
            elif key in ALIASES:
                found.append((path, ALIASES[key], value))

    walk(parsed, "")
    return found


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip().replace("_", ""))
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _truthy(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, (int, float)):
        return value != 0
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1", "all"):
        return True
    if text in ("false", "no", "off", "0", "none", "null", ""):
        return False
    return None


# --- the advice ----------------------------------------------------------------------------------
Verdict = tuple[str, str]  # (level, comment)


def _judge(knob: str, value: Any, ctx: dict) -> Verdict:
    judge: Callable[[Any, dict], Verdict] | None = JUDGES.get(knob)
    if judge is None:
        return "ok", ""
    return judge(value, ctx)


def _optimizer(value, ctx):
    name = str(value).lower()
    if "adamw" in name or "lion" in name or "muon" in name or "adafactor" in name or "shampoo" in name:
        return "ok", ""
    if "adam" in name:
        if (ctx.get("weight_decay") or 0) > 0:
            return "unusual", ("Adam with weight_decay adds L2 to the gradient, which the adaptive step then "
                               "rescales; AdamW decouples the decay.")
        return "note", "Adam without decay works; AdamW with decay 0.1 is the usual LLM choice."
    if "sgd" in name:
        return "unusual", "Plain SGD trains transformers poorly: their layers need per-parameter step sizes."
    return "note", "Not an optimizer this reader knows."


def _lr(value, ctx):
    lr = _number(value)
    if lr is None or lr <= 0:
        return "risky", "Not a positive number: nothing will train."
    if lr > 3e-3:
        return "risky", (f"{lr:g} is far above the usual peak (3e-4 to 6e-4, ~1e-3 for tiny models): "
                         "expect loss spikes or divergence.")
    if lr > 1e-3:
        return "unusual", f"{lr:g} is high for an LLM; only small models tolerate it."
    if lr < 1e-5:
        return "unusual", f"{lr:g} is so low that the loss will barely move."
    return "ok", ""


def _min_lr(value, ctx):
    floor, peak = _number(value), ctx.get("lr")
    if floor is None or floor < 0:
        return "risky", "Not a number of zero or more."
    if peak:
        if floor > peak:
            return "risky", f"The floor {floor:g} is above the peak LR {peak:g}: the schedule would rise."
        if floor > 0.5 * peak:
            return "unusual", f"The floor is {floor / peak:.0%} of the peak: the run barely anneals."
    return "ok", ""


def _beta1(value, ctx):
    b = _number(value)
    if b is None or not 0 <= b < 1:
        return "risky", "beta1 must be in [0, 1)."
    if not 0.8 <= b <= 0.95:
        return "unusual", f"beta1={b:g}; 0.9 is almost universal."
    return "ok", ""


def _beta2(value, ctx):
    b = _number(value)
    if b is None or not 0 <= b < 1:
        return "risky", "beta2 must be in [0, 1)."
    if b >= 0.99:
        return "unusual", (f"beta2={b:g} is Adam's default, tuned for small models: its second moment "
                           "remembers ~1/(1-beta2) steps, so a sudden gradient-scale shift gets a huge step. "
                           "LLM recipes use 0.95.")
    if b < 0.9:
        return "unusual", f"beta2={b:g} makes the second-moment estimate very noisy."
    return "ok", ""


def _eps(value, ctx):
    e = _number(value)
    if e is None or e < 0:
        return "risky", "Not a non-negative number."
    if e > 1e-5:
        return "unusual", f"eps={e:g} is large: it damps the step of every parameter with small gradients."
    if e < 1e-12:
        return "unusual", f"eps={e:g} barely protects against a zero second moment."
    return "ok", ""


def _weight_decay(value, ctx):
    wd = _number(value)
    if wd is None or wd < 0:
        return "risky", "Not a non-negative number."
    if wd == 0:
        return "note", "No weight decay: weight norms can drift up over a long run; 0.1 is the usual value."
    if wd > 0.3:
        return "unusual", f"weight_decay={wd:g} is strong; 0.1 is the usual value with AdamW."
    return "ok", ""


def _decay_all(value, ctx):
    if _truthy(value):
        return "risky", ("Weight decay on every tensor: embeddings, norm gains and biases are pulled toward "
                         "zero too. Decay only the weight matrices.")
    return "ok", ""


def _no_decay(value, ctx):
    if isinstance(value, (list, tuple)) and not value:
        return "risky", "An empty no-decay list means weight decay hits every tensor, norms and biases included."
    return "ok", ""


def _warmup(value, ctx):
    w = _number(value)
    if w is None or w < 0:
        return "risky", "Not a non-negative number."
    if w == 0:
        return "risky", "No warmup: the first updates use the full LR while Adam's statistics are noise."
    total = ctx.get("max_steps")
    steps = w * total if (w < 1 and total) else w
    if w < 1 and not total:
        return ("ok", "") if 0.005 <= w <= 0.1 else ("unusual", f"A warmup of {w:.1%} of the run is unusual.")
    if total and steps > 0.25 * total:
        return "unusual", f"Warmup takes {steps / total:.0%} of the run: most of it never reaches the peak LR."
    if steps < 50:
        return "unusual", f"{steps:g} warmup steps is very short."
    return "ok", ""


def _schedule(value, ctx):
    name = str(value).lower()
    if any(k in name for k in ("cos", "wsd", "linear", "trapezoid", "warmup_stable", "inverse_sqrt", "rsqrt")):
        return "ok", ""
    if "constant" in name or name in ("none", "false"):
        return "unusual", "A constant LR never anneals: the final loss is higher than with a decay at the end."
    return "note", "Not a schedule this reader knows."


def _grad_clip(value, ctx):
    c = _number(value)
    if value is None or value is False or c == 0:
        return "risky", "No clipping: one bad batch's gradient goes straight into the weights."
    if c is None or c < 0:
        return "risky", "Not a positive number."
    if c > 5:
        return "unusual", f"A threshold of {c:g} almost never fires; 1.0 is the usual value."
    if c < 0.1:
        return "unusual", f"A threshold of {c:g} clips nearly every step, which acts like a lower LR."
    return "ok", ""


def _dropout(value, ctx):
    d = _number(value)
    if d is None or not 0 <= d < 1:
        return "risky", "Dropout must be in [0, 1)."
    if d > 0.2:
        return "unusual", f"dropout={d:g} is heavy; pretraining on a large corpus uses 0.0."
    if d > 0:
        return "note", "Pretraining usually uses 0.0; dropout helps when data is small (fine-tuning)."
    return "ok", ""


def _positive_int(value, ctx):
    n = _number(value)
    if n is None or n < 1 or n != int(n):
        return "risky", "Not a positive whole number."
    return "ok", ""


def _seq_len(value, ctx):
    verdict = _positive_int(value, ctx)
    if verdict[0] != "ok":
        return verdict
    return ("note", "Short for an LLM; 2048-8192 is common.") if _number(value) < 512 else ("ok", "")


def _sched_first(value, ctx):
    if _truthy(value):
        return "risky", ("scheduler.step() before optimizer.step() shifts the schedule by one step and skips "
                         "its first value (PyTorch warns about it); call it after the optimizer.")
    return "ok", ""


def _step_order(value, ctx):
    if not isinstance(value, (list, tuple)):
        return "note", "Give the order as a list, e.g. [zero_grad, backward, clip, optimizer, scheduler]."
    names = [normalise(v) for v in value]

    def first(*words):
        return next((i for i, n in enumerate(names) if any(w in n for w in words)), None)

    sched, opt = first("sched", "lr_step"), first("optim", "opt_step", "step")
    if sched is not None and opt is not None and sched < opt:
        return "risky", "The scheduler steps before the optimizer: the schedule is shifted by one step."
    clip, backward = first("clip"), first("backward")
    if clip is not None and ((backward is not None and clip < backward) or (opt is not None and clip > opt)):
        return "risky", "Clipping must come after backward() and before optimizer.step()."
    if first("zero") is None:
        return "risky", "No zero_grad in the step: gradients accumulate across every step."
    return "ok", ""


def _zero_grad(value, ctx):
    if _truthy(value) is False:
        return "risky", ("No zero_grad: each step's gradient is added to all the previous ones, so the "
                         "update grows without bound.")
    return "ok", ""


def _precision(value, ctx):
    name = str(value).lower()
    if "bf16" in name or "bfloat16" in name or "fp32" in name or "float32" in name or "32" in name:
        return "ok", ""
    if "fp16" in name or "float16" in name or name == "16" or "half" in name:
        return "note", "fp16 needs a loss scaler (its range is small); bf16 does not."
    return "note", "Not a precision this reader knows."


JUDGES: dict[str, Callable[[Any, dict], Verdict]] = {
    "optimizer": _optimizer, "lr": _lr, "min_lr": _min_lr, "beta1": _beta1, "beta2": _beta2, "eps": _eps,
    "weight_decay": _weight_decay, "decay_all": _decay_all, "no_decay": _no_decay, "warmup": _warmup,
    "schedule": _schedule, "grad_clip": _grad_clip, "dropout": _dropout, "micro_batch": _positive_int,
    "grad_accum": _positive_int, "dp_ranks": _positive_int, "seq_len": _seq_len, "max_steps": _positive_int,
    "sched_first": _sched_first, "step_order": _step_order, "zero_grad": _zero_grad, "precision": _precision,
}

# knobs whose absence is itself a flag, with what the absence means
MISSING_FLAGS = {
    "warmup": ("risky", "No warmup is set: the run starts at the full LR."),
    "grad_clip": ("risky", "No gradient clipping is set: nothing stops one bad batch's gradient."),
}


# --- the whole report ----------------------------------------------------------------------------
def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def arithmetic(ctx: dict) -> list[dict]:
    """Tokens per step, steps and total tokens, from whatever the config gives."""
    rows = []
    micro, seq = ctx.get("micro_batch"), ctx.get("seq_len")
    accum, ranks = ctx.get("grad_accum") or 1, ctx.get("dp_ranks") or 1
    steps, tokens = ctx.get("max_steps"), ctx.get("total_tokens")
    per_step = None
    if micro and seq:
        per_step = int(micro * seq * accum * ranks)
        rows.append({"quantity": "tokens per step",
                     "formula": f"micro-batch {micro:g} x seq {seq:g} x accumulation {accum:g} x ranks {ranks:g}",
                     "value": per_step})
        rows.append({"quantity": "sequences per step", "formula": "micro-batch x accumulation x ranks",
                     "value": int(micro * accum * ranks)})
    if per_step and steps:
        rows.append({"quantity": "total tokens", "formula": f"steps {steps:g} x tokens per step",
                     "value": int(steps * per_step)})
    if per_step and tokens and not steps:
        rows.append({"quantity": "total steps", "formula": f"tokens {tokens:g} / tokens per step",
                     "value": int(math.ceil(tokens / per_step))})
    return rows


def _batch_check(ctx: dict, rows: list[dict]) -> dict | None:
    per_step = next((r["value"] for r in rows if r["quantity"] == "tokens per step"), None)
    if per_step is None:
        return None
    if per_step < 2 ** 16:
        level, comment = "unusual", "Far below the 0.5M-4M tokens per step of LLM pretraining: noisy gradients."
    elif per_step > 2 ** 24:
        level, comment = "unusual", "Above 16M tokens per step: past the critical batch size, steps are wasted."
    else:
        level, comment = "ok", ""
    steps, tokens = ctx.get("max_steps"), ctx.get("total_tokens")
    if steps and tokens and abs(steps * per_step - tokens) > 0.05 * tokens:
        level, comment = "unusual", (f"steps x tokens per step = {steps * per_step:,.0f}, but the config "
                                     f"says {tokens:,.0f} tokens.")
    return {"path": "(computed)", "knob": "tokens per step", "value": f"{per_step:,}",
            "guards": "gradient noise: the global batch sets it",
            "common": "~4M tokens (0.5M-4M)", "level": level, "comment": comment}


def read_config(text: str) -> dict:
    """The annotated config: rows per knob, flags, batch arithmetic, or an 'error' message."""
    try:
        parsed, fmt = parse_text(text)
    except ConfigError as error:
        return {"error": str(error), "format": None, "rows": [], "arithmetic": [], "flags": 0}
    found = flatten(parsed)
    ctx: dict[str, Any] = {}
    for _, knob, value in found:
        number = _number(value)
        if number is not None and knob not in ctx:
            ctx[knob] = number
    rows = []
    for path, knob, value in found:
        level, comment = _judge(knob, value, ctx)
        info = BY_KEY[knob]
        rows.append({"path": path, "knob": knob, "value": _show(value), "guards": info.guards,
                     "common": info.common, "level": level, "comment": comment})
    present = {knob for _, knob, _ in found}
    for knob, (level, comment) in MISSING_FLAGS.items():
        if knob not in present:
            info = BY_KEY[knob]
            rows.append({"path": "(not set)", "knob": knob, "value": "-", "guards": info.guards,
                         "common": info.common, "level": level, "comment": comment})
    sums = arithmetic(ctx)
    batch = _batch_check(ctx, sums)
    if batch:
        rows.append(batch)
    flags = sum(r["level"] in FLAGGED for r in rows)
    return {"error": None, "format": fmt, "rows": rows, "arithmetic": sums, "flags": flags,
            "unknown_keys": _unknown(parsed)}


def _unknown(parsed: dict) -> list[str]:
    out = []

    def walk(node: dict, prefix: str) -> None:
        for raw_key, value in node.items():
            key = normalise(raw_key)
            if isinstance(value, dict):
                walk(value, f"{prefix}{raw_key}.")
            elif key not in ALIASES and key not in BETAS_ALIASES and key not in ("name", "type"):
                out.append(f"{prefix}{raw_key}")

    walk(parsed, "")
    return out[:50]


DEFAULT_CONFIG = """\
# The curriculum's representative pretraining config
optimizer:
  name: adamw
  lr: 3.0e-4          # peak
  betas: [0.9, 0.95]
  eps: 1.0e-8
  weight_decay: 0.1   # matrices only
  no_decay: [bias, norm, embedding]
schedule:
  name: cosine
  warmup_steps: 2000
  min_lr: 1.0e-5
grad_clip: 1.0
dropout: 0.0
precision: bf16
micro_batch: 4
seq_len: 8192
gradient_accumulation_steps: 8
data_parallel: 16     # 4 x 8192 x 8 x 16 = 4,194,304 tokens per step
max_steps: 500000
"""
