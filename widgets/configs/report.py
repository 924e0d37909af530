"""The annotated config: every recognised knob with its verdict, the flags, the batch arithmetic.

Each recognised key (or alias, at any depth: `optimizer.lr` is found too) gets what it guards
against, the common value in LLM pretraining, and a level: "ok", "note", "unusual" or "risky".
Unusual and risky knobs are the flags. The batch arithmetic:
tokens per step = micro-batch x sequence length x accumulation x data-parallel ranks.
Bad text never raises: `read_config` returns an "error" instead.
"""
from __future__ import annotations

import math
from typing import Any

from widgets.configs.judging import FLAGGED, number
from widgets.configs.knobs import ALIASES, BETAS_ALIASES, BY_KEY, MISSING_FLAGS, judge, normalise
from widgets.configs.safe_parse import ConfigError, parse_text


def read_config(text: str) -> dict:
    """The annotated config: rows per knob, flags, batch arithmetic, or an 'error' message."""
    try:
        parsed, fmt = parse_text(text)
    except ConfigError as error:
        return {"error": str(error), "format": None, "rows": [], "arithmetic": [], "flags": 0}
    found = flatten(parsed)
    ctx: dict[str, Any] = {}
    for _, knob, value in found:
        n = number(value)
        if n is not None and knob not in ctx:
            ctx[knob] = n
    rows = [_row(path, knob, _show(value), *judge(knob, value, ctx)) for path, knob, value in found]
    present = {knob for _, knob, _ in found}
    rows += [_row("(not set)", knob, "-", level, comment)
             for knob, (level, comment) in MISSING_FLAGS.items() if knob not in present]
    sums = arithmetic(ctx)
    batch = _batch_check(ctx, sums)
    if batch:
        rows.append(batch)
    flags = sum(r["level"] in FLAGGED for r in rows)
    return {"error": None, "format": fmt, "rows": rows, "arithmetic": sums, "flags": flags,
            "unknown_keys": _unknown(parsed)}


def _row(path: str, knob: str, shown: str, level: str, comment: str) -> dict:
    info = BY_KEY[knob]
    return {"path": path, "knob": knob, "value": shown, "guards": info.guards, "common": info.common,
            "level": level, "comment": comment}


def flatten(parsed: dict) -> list[tuple[str, str, Any]]:
    """(path, canonical knob, value) for every recognised key, in the order of the text."""
    found = []

    def walk(node: dict, prefix: str) -> None:
        for raw_key, value in node.items():
            key = normalise(raw_key)
            path = f"{prefix}{raw_key}"
            if isinstance(value, dict):
                if ALIASES.get(key) in ("optimizer", "schedule"):  # optimizer: {name: adamw, ...}
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
