"""The knowledge base: every knob the reader recognises, and how its value is judged.

Each knob has a canonical name, the aliases configs use for it (matched at any depth, after
`normalise`), what it guards against, the common value in LLM pretraining, and a judge: a
table from judging.py where one fits, a function where the verdict needs more.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from widgets.configs.judging import OK, Judge, Names, Numeric, Rule, Switch, Verdict, number


@dataclass(frozen=True)
class Knob:
    key: str  # canonical name
    aliases: tuple[str, ...]
    guards: str  # what the knob guards against
    common: str  # the common value in LLM pretraining
    judge: Judge | None = None  # None: recognised and explained, never flagged


def normalise(key: Any) -> str:
    return str(key).strip().lower().replace("-", "_").replace(" ", "_")


# --- the judges that need more than a table ---------------------------------------------------
def _optimizer(value, ctx) -> Verdict:
    name = str(value).lower()
    if any(known in name for known in ("adamw", "lion", "muon", "adafactor", "shampoo")):
        return OK
    if "adam" in name:
        if (ctx.get("weight_decay") or 0) > 0:
            return "unusual", ("Adam with weight_decay adds L2 to the gradient, which the adaptive step then "
                               "rescales; AdamW decouples the decay.")
        return "note", "Adam without decay works; AdamW with decay 0.1 is the usual LLM choice."
    if "sgd" in name:
        return "unusual", "Plain SGD trains transformers poorly: their layers need per-parameter step sizes."
    return "note", "Not an optimizer this reader knows."


def _warmup(value, ctx) -> Verdict:
    """Steps, or below 1 a share of the run (warmup_ratio), judged against max_steps when known."""
    w = number(value)
    if w is None or w < 0:
        return "risky", "Not a non-negative number."
    if w == 0:
        return "risky", "No warmup: the first updates use the full LR while Adam's statistics are noise."
    total = ctx.get("max_steps")
    steps = w * total if (w < 1 and total) else w
    if w < 1 and not total:
        return OK if 0.005 <= w <= 0.1 else ("unusual", f"A warmup of {w:.1%} of the run is unusual.")
    if total and steps > 0.25 * total:
        return "unusual", f"Warmup takes {steps / total:.0%} of the run: most of it never reaches the peak LR."
    if steps < 50:
        return "unusual", f"{steps:g} warmup steps is very short."
    return OK


def _no_decay(value, ctx) -> Verdict:
    if isinstance(value, (list, tuple)) and not value:
        return "risky", "An empty no-decay list means weight decay hits every tensor, norms and biases included."
    return OK


def _step_order(value, ctx) -> Verdict:
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
    return OK


NON_NEGATIVE = "Not a non-negative number."
WHOLE = Numeric("Not a positive whole number.", low=1, integer=True)

KNOBS: tuple[Knob, ...] = (
    Knob("optimizer", ("optimizer", "optim", "optimizer_name", "optimizer_type", "opt"),
         "the update rule: AdamW decouples weight decay from the adaptive step", "AdamW", _optimizer),
    Knob("lr", ("lr", "learning_rate", "max_lr", "peak_lr", "base_lr", "lr_max"),
         "too high: spikes and divergence; too low: wasted compute", "3e-4 (6e-4 for small models)",
         Numeric("Not a positive number: nothing will train.", low=0, low_open=True, rules=(
             Rule(">", 3e-3, "risky", "{v:g} is far above the usual peak (3e-4 to 6e-4, ~1e-3 for tiny models): "
                                      "expect loss spikes or divergence."),
             Rule(">", 1e-3, "unusual", "{v:g} is high for an LLM; only small models tolerate it."),
             Rule("<", 1e-5, "unusual", "{v:g} is so low that the loss will barely move.")))),
    Knob("min_lr", ("min_lr", "final_lr", "lr_min", "end_lr", "min_learning_rate", "eta_min"),
         "the floor the schedule decays to: the last steps anneal at a small LR", "~10% of the peak, or 1e-5",
         Numeric("Not a number of zero or more.", low=0, rules=(
             Rule(">", 1, "risky", "The floor {v:g} is above the peak LR {ref:g}: the schedule would rise.",
                  relative_to="lr"),
             Rule(">", 0.5, "unusual", "The floor is {r:.0%} of the peak: the run barely anneals.",
                  relative_to="lr")))),
    Knob("beta1", ("beta1", "adam_beta1", "b1"),
         "momentum: averages gradient noise over ~1/(1-beta1) steps", "0.9",
         Numeric("beta1 must be in [0, 1).", low=0, high=1, rules=(
             Rule("<", 0.8, "unusual", "beta1={v:g}; 0.9 is almost universal."),
             Rule(">", 0.95, "unusual", "beta1={v:g}; 0.9 is almost universal.")))),
    Knob("beta2", ("beta2", "adam_beta2", "b2"),
         "the second-moment horizon: 0.999 reacts too slowly to a gradient-scale shift and lets spikes through",
         "0.95",
         Numeric("beta2 must be in [0, 1).", low=0, high=1, rules=(
             Rule(">=", 0.99, "unusual", "beta2={v:g} is Adam's default, tuned for small models: its second "
                                         "moment remembers ~1/(1-beta2) steps, so a sudden gradient-scale shift "
                                         "gets a huge step. LLM recipes use 0.95."),
             Rule("<", 0.9, "unusual", "beta2={v:g} makes the second-moment estimate very noisy.")))),
    Knob("eps", ("eps", "adam_eps", "epsilon", "adam_epsilon"),
         "division by a near-zero second moment", "1e-8",
         Numeric(NON_NEGATIVE, low=0, rules=(
             Rule(">", 1e-5, "unusual", "eps={v:g} is large: it damps the step of every parameter with small "
                                        "gradients."),
             Rule("<", 1e-12, "unusual", "eps={v:g} barely protects against a zero second moment.")))),
    Knob("weight_decay", ("weight_decay", "wd", "decay", "weight_decay_rate"),
         "weights growing without bound (decoupled decay on the matrices)", "0.1",
         Numeric(NON_NEGATIVE, low=0, rules=(
             Rule("==", 0, "note", "No weight decay: weight norms can drift up over a long run; 0.1 is the usual "
                                   "value."),
             Rule(">", 0.3, "unusual", "weight_decay={v:g} is strong; 0.1 is the usual value with AdamW.")))),
    Knob("decay_all", ("weight_decay_all", "decay_all", "decay_all_params", "decay_embeddings",
                       "decay_norms", "decay_biases", "decay_norm_and_bias", "apply_decay_to_all"),
         "decay on embeddings, norm gains and biases pulls them to zero for no benefit",
         "false: decay the weight matrices only",
         Switch(True, "risky", "Weight decay on every tensor: embeddings, norm gains and biases are pulled toward "
                               "zero too. Decay only the weight matrices.")),
    Knob("no_decay", ("no_decay", "no_decay_params", "exclude_from_weight_decay", "no_weight_decay"),
         "the list of tensors kept out of weight decay", "biases, norm gains, embeddings", _no_decay),
    Knob("warmup", ("warmup", "warmup_steps", "warmup_iters", "lr_warmup_steps", "num_warmup_steps",
                    "warmup_ratio", "warmup_fraction"),
         "huge early updates while Adam's statistics are still noise", "~2000 steps, or 1-5% of the run", _warmup),
    Knob("schedule", ("schedule", "lr_schedule", "scheduler", "lr_scheduler", "lr_scheduler_type",
                      "decay_style", "lr_decay_style"),
         "annealing at the end of the run: the loss drops as the LR decays", "cosine (or WSD / linear)",
         Names(((("cos", "wsd", "linear", "trapezoid", "warmup_stable", "inverse_sqrt", "rsqrt"), (), OK),
                (("constant",), ("none", "false"),
                 ("unusual", "A constant LR never anneals: the final loss is higher than with a decay at the end."))),
               otherwise=("note", "Not a schedule this reader knows."))),
    Knob("grad_clip", ("grad_clip", "max_grad_norm", "clip_grad", "clip_grad_norm", "gradient_clipping",
                       "clip_norm", "grad_norm_clip", "clip"),
         "one bad batch's huge gradient wrecking the weights", "1.0 (global norm)",
         Numeric("Not a positive number.", low=0,
                 off=("risky", "No clipping: one bad batch's gradient goes straight into the weights."), rules=(
                     Rule(">", 5, "unusual", "A threshold of {v:g} almost never fires; 1.0 is the usual value."),
                     Rule("<", 0.1, "unusual", "A threshold of {v:g} clips nearly every step, which acts like a "
                                               "lower LR.")))),
    Knob("dropout", ("dropout", "resid_pdrop", "attn_pdrop", "embd_pdrop", "hidden_dropout",
                     "attention_dropout", "resid_dropout", "dropout_rate"),
         "overfitting; with one pass over trillions of tokens there is little to overfit", "0.0",
         Numeric("Dropout must be in [0, 1).", low=0, high=1, rules=(
             Rule(">", 0.2, "unusual", "dropout={v:g} is heavy; pretraining on a large corpus uses 0.0."),
             Rule(">", 0, "note", "Pretraining usually uses 0.0; dropout helps when data is small (fine-tuning).")))),
    Knob("micro_batch", ("batch_size", "micro_batch", "micro_batch_size", "per_device_train_batch_size",
                         "train_micro_batch_size_per_gpu", "mbs"),
         "memory per device; the global batch is what the optimizer sees", "whatever fits in memory", WHOLE),
    Knob("grad_accum", ("gradient_accumulation_steps", "grad_accum", "accumulation_steps",
                        "accumulate_grad_batches", "grad_accum_steps"),
         "a global batch too small for one device's memory", "enough to reach ~4M tokens per step", WHOLE),
    Knob("dp_ranks", ("data_parallel", "data_parallel_size", "dp", "dp_size", "world_size", "num_gpus",
                      "n_gpus", "gpus", "num_devices"),
         "how many replicas each contribute a micro-batch per step", "as many as you have", WHOLE),
    Knob("seq_len", ("seq_len", "block_size", "context_length", "max_seq_len", "seq_length",
                     "sequence_length", "n_ctx", "max_length"),
         "tokens per sequence: sets what the model can attend to", "2048-8192",
         Numeric(WHOLE.invalid, low=1, integer=True,
                 rules=(Rule("<", 512, "note", "Short for an LLM; 2048-8192 is common."),))),
    Knob("max_steps", ("max_steps", "max_iters", "total_steps", "train_steps", "num_steps",
                       "lr_decay_iters", "num_training_steps", "train_iters"),
         "the length of the run; the schedule decays over it", "total tokens / tokens per step", WHOLE),
    Knob("total_tokens", ("total_tokens", "train_tokens", "num_tokens", "tokens"),
         "the training budget in tokens", "~20 tokens per parameter or (much) more"),
    Knob("sched_first", ("scheduler_step_before_optimizer", "step_scheduler_first", "scheduler_first"),
         "stepping the scheduler before optimizer.step() skips the schedule's first value (PyTorch warns)",
         "false: optimizer.step(), then scheduler.step()",
         Switch(True, "risky", "scheduler.step() before optimizer.step() shifts the schedule by one step and "
                               "skips its first value (PyTorch warns about it); call it after the optimizer.")),
    Knob("step_order", ("step_order", "order", "update_order", "training_step_order"),
         "the order of the calls in one training step", "zero_grad, backward, clip, optimizer, scheduler",
         _step_order),
    Knob("zero_grad", ("zero_grad", "zero_grads", "reset_grads", "optimizer_zero_grad"),
         "gradients summing over every step since the start", "true (set_to_none)",
         Switch(False, "risky", "No zero_grad: each step's gradient is added to all the previous ones, so the "
                                "update grows without bound.")),
    Knob("precision", ("precision", "dtype", "mixed_precision", "amp_dtype"),
         "overflow and underflow in low precision", "bf16",
         Names(((("bf16", "bfloat16", "fp32", "float32", "32"), (), OK),
                (("fp16", "float16", "half"), ("16",),
                 ("note", "fp16 needs a loss scaler (its range is small); bf16 does not."))),
               otherwise=("note", "Not a precision this reader knows."))),
    Knob("z_loss", ("z_loss", "z_loss_coef", "z_loss_weight"),
         "output logits drifting huge", "1e-4 (optional)"),
    Knob("qk_norm", ("qk_norm", "qk_layernorm", "query_key_norm"),
         "attention logits growing until the softmax saturates", "true in several recent models (optional)"),
)

BY_KEY = {k.key: k for k in KNOBS}
ALIASES = {alias: k.key for k in KNOBS for alias in k.aliases}
BETAS_ALIASES = ("betas", "adam_betas", "beta")  # a [beta1, beta2] pair

# knobs whose absence is itself a flag, with what the absence means
MISSING_FLAGS = {
    "warmup": ("risky", "No warmup is set: the run starts at the full LR."),
    "grad_clip": ("risky", "No gradient clipping is set: nothing stops one bad batch's gradient."),
}


def judge(knob: str, value: Any, ctx: dict) -> Verdict:
    """The verdict on one knob's value, given every knob's number in the config (`ctx`)."""
    found = BY_KEY[knob].judge
    return OK if found is None else found(value, ctx)
