"""Curve diagnosis: a real run of the tiny GPT with one knob set wrong; name the knob.

Six mystery cases, numbered in a shuffled order so the URL does not give the
answer away. Each case is one real training run (same model, same seed, same
length); the server knows which knob was wrong and grades the learner's guess
with the numbers of that very run. A case's run is deterministic, so it is
trained once and kept (the guess only changes the grading, not the run).

  lr_high    constant LR 0.1 (after a short warmup): a high plateau
  lr_low     peak LR 3e-5: the loss barely moves
  overfit    600 characters of training text, 150 steps: validation turns up
  no_warmup  peak LR 1e-2 from step 0: an early stall on a plateau
  no_clip    a burst of corrupted batches and no clipping: a spike and a setback
  healthy    peak LR 3e-3, warmup, cosine, clip 1.0
"""
from __future__ import annotations

import copy
import statistics
import threading

from widgets.base import Param, Widget
from widgets.kit import color, fmt, history_figure, train_streaming, val_table
from widgets.lab.corrupt import constant_batch, corrupt_steps
from widgets.lab.data import BatchStream, load_corpus
from widgets.lab.model import GPTConfig
from widgets.lab.schedules import Schedule, cosine_to_floor
from widgets.lab.trainer import RunConfig, TrainSpec

STEPS = 150
BATCH_SIZE = 8
BLOCK_SIZE = 32
EVAL_EVERY = 10
OVERFIT_CHARS = 600  # the overfitting case trains on this many characters only
BAD_START, BAD_LENGTH = 60, 4  # the no-clipping case: corrupted batches at these steps
LOSS_RANGE = (0.8, 4.6)

CASES = ("1", "2", "3", "4", "5", "6")
CASE_CAUSE = {"1": "no_warmup", "2": "healthy", "3": "overfit", "4": "lr_high", "5": "no_clip", "6": "lr_low"}
NO_GUESS = "no guess yet"
GUESSES = {  # what the learner picks -> the cause it names
    "learning rate too high": "lr_high",
    "learning rate too low": "lr_low",
    "overfitting": "overfit",
    "no warmup": "no_warmup",
    "no gradient clipping": "no_clip",
    "nothing wrong (healthy run)": "healthy",
}
CAUSE_NAME = {cause: guess for guess, cause in GUESSES.items()}
SIGNATURE = {
    "lr_high": ("a too-high learning rate drops the loss fast for a few steps, then leaves it on a high "
                "plateau (about 3.3 here, the loss of guessing letters by their frequency) for the rest of the "
                "run: every step overshoots"),
    "lr_low": "a too-low learning rate barely moves the loss from where it started (about 4.17 = ln 65)",
    "overfit": ("overfitting shows as training loss falling far below validation loss while validation "
                "turns and rises: the model memorises its small training set"),
    "no_warmup": ("starting at the full learning rate with no warmup knocks the model onto a plateau in the "
                  "first tens of steps; it escapes only later, as the schedule decays the LR, and ends behind"),
    "no_clip": ("a few corrupted batches with no clipping give a gradient-norm spike of ten times the usual "
                "or more, and the whole unclipped update goes into the weights: the loss on normal data is "
                "set back and validation rises right after the spike"),
    "healthy": ("a healthy run falls smoothly, validation tracks training, and the gradient norm has no "
                "spike"),
}


def _cosine(peak: float, warmup: int) -> Schedule:
    return cosine_to_floor(peak, warmup, STEPS)


CONFIGS = {  # cause -> (the one run's config, what differs from the healthy run)
    "healthy": RunConfig("this run", _cosine(3e-3, 20), clip=1.0),
    "lr_high": RunConfig("this run", Schedule("constant", 0.1, 20, STEPS, 0.1), clip=1.0),
    "lr_low": RunConfig("this run", _cosine(3e-5, 20), clip=1.0),
    "overfit": RunConfig("this run", _cosine(3e-3, 20), clip=1.0),
    "no_warmup": RunConfig("this run", _cosine(1e-2, 0), clip=1.0),
    "no_clip": RunConfig("this run", _cosine(3e-3, 20), clip=None),
}
WHAT_WAS_SET = {
    "healthy": "peak LR 3e-3 with 20 warmup steps, cosine to 10%, clipping at 1.0, the full training text",
    "lr_high": "a constant LR of 0.1 after 20 warmup steps (30x the healthy peak)",
    "lr_low": "a peak LR of 3e-5 (100x below the healthy peak)",
    "overfit": f"only the first {OVERFIT_CHARS} characters of the training text, for {STEPS} steps",
    "no_warmup": "a peak LR of 1e-2 from step 0, no warmup (with 30 warmup steps the same peak trains well)",
    "no_clip": (f"no gradient clipping, and {BAD_LENGTH} corrupted batches (every input 'Z', every target 'Q') "
                f"at steps {BAD_START}-{BAD_START + BAD_LENGTH - 1}"),
}


def case_setup(case: str, cause: str | None = None) -> tuple[TrainSpec, dict]:
    """(TrainSpec, trainer hooks) for a case: the run the chart shows is LockstepTrainer(spec, **hooks)."""
    cause = cause or CASE_CAUSE[case]
    spec = TrainSpec(model=GPTConfig(block_size=BLOCK_SIZE), runs=(CONFIGS[cause],), steps=STEPS,
                     batch_size=BATCH_SIZE, seed=1337, eval_every=EVAL_EVERY)
    return spec, case_hooks(cause)


def case_hooks(cause: str) -> dict:
    """The trainer hooks of a cause: a small data slice (overfit) or corrupted batches (no_clip)."""
    if cause == "overfit":
        return {"batches": BatchStream(load_corpus().train[:OVERFIT_CHARS], BATCH_SIZE, BLOCK_SIZE, 1337)}
    if cause == "no_clip":
        bad = range(BAD_START, BAD_START + BAD_LENGTH)
        return {"batch_hook": corrupt_steps(bad, lambda t, x, y: constant_batch(x, "Z", target="Q"))}
    return {}


def run_case(case: str, progress=None) -> dict:
    """Train a case's run (the real computation) and return its history."""
    spec, hooks = case_setup(case)
    return train_streaming(spec, progress, **hooks)


# What the chart shows of a run, and so all that its data and tables carry: the schedule
# (learning rate) and the clipping flags would give the answer away.
SHOWN = ("label", "loss", "grad_norm", "val_steps", "val_loss", "diverged_at")


def shown(run: dict) -> dict:
    return {k: run[k] for k in SHOWN}


# --- reading the curves ------------------------------------------------------------------------
def _mean(xs) -> float:
    return sum(xs) / len(xs)


def signals(run: dict) -> dict:
    """Numbers that tell the causes apart, measured on a finished run."""
    loss, val, val_steps, gn = run["loss"], run["val_loss"], run["val_steps"], run["grad_norm"]
    n = len(loss)
    best = min(range(len(val)), key=val.__getitem__)
    jumps = [(val[k] - val[k - 1], val_steps[k]) for k in range(1, len(val))]
    rise, rise_step = max(jumps)
    median_gn = statistics.median(gn)
    peak_gn_step = max(range(5, n), key=gn.__getitem__)
    return {
        "start_loss": loss[0],
        "final_train": _mean(loss[-10:]),
        "final_val": val[-1],
        "best_val": val[best], "best_val_step": val_steps[best],
        "val_rise_from_best": val[-1] - val[best],
        "largest_val_jump": rise, "largest_val_jump_step": rise_step,
        "train_drop": loss[0] - _mean(loss[-10:]),
        "early_loss": _mean(loss[5:15]),  # steps 5-14
        "plateau_loss": _mean(loss[20:50]),  # steps 20-49
        "second_half_drop": _mean(loss[n // 2 - 5:n // 2 + 5]) - _mean(loss[-10:]),
        "median_grad_norm": median_gn,
        "peak_grad_norm": gn[peak_gn_step], "peak_grad_norm_step": peak_gn_step,
        "gap": val[-1] - _mean(loss[-10:]),
    }


def evidence(cause: str, s: dict) -> str:
    """What this run's own numbers show, for the cause it really has."""
    if cause == "lr_high":
        return (f"The loss fell to {s['early_loss']:.2f} within 15 steps, then sat at {s['plateau_loss']:.2f} "
                f"(steps 20-49) and gained only {s['second_half_drop']:.2f} over the whole second half; it ended at "
                f"validation {s['final_val']:.2f}.")
    if cause == "lr_low":
        return (f"In {STEPS} steps the training loss fell only {s['train_drop']:.2f}, from {s['start_loss']:.2f} "
                f"to {s['final_train']:.2f}.")
    if cause == "overfit":
        return (f"Validation was lowest ({s['best_val']:.2f}) at step {s['best_val_step']} and then rose "
                f"{s['val_rise_from_best']:.2f} to {s['final_val']:.2f}, while training loss kept falling to "
                f"{s['final_train']:.2f}.")
    if cause == "no_warmup":
        return (f"The loss dropped to {s['early_loss']:.2f} in the first 15 steps and then stalled at "
                f"{s['plateau_loss']:.2f} (steps 20-49) before coming down again as the LR decayed, to "
                f"validation {s['final_val']:.2f}.")
    if cause == "no_clip":
        return (f"At step {s['peak_grad_norm_step']} the gradient norm reached {s['peak_grad_norm']:.1f}, "
                f"{s['peak_grad_norm'] / s['median_grad_norm']:.0f}x its median of {s['median_grad_norm']:.2f}, "
                f"and validation rose {s['largest_val_jump']:.2f} at step {s['largest_val_jump_step']}.")
    return (f"Training loss fell from {s['start_loss']:.2f} to {s['final_train']:.2f}, validation ended at "
            f"{s['final_val']:.2f} (gap {s['gap']:+.2f}), and the largest gradient norm was "
            f"{s['peak_grad_norm'] / s['median_grad_norm']:.1f}x the median.")


def grade(case: str, guess: str, run: dict) -> tuple[str | None, str | None]:
    """(verdict, explanation) for a guess, from the run's own numbers."""
    if guess == NO_GUESS:
        return None, None
    cause, named = CASE_CAUSE[case], GUESSES[guess]
    s = signals(run)
    if named == cause:
        return "correct", (f"Correct: {CAUSE_NAME[cause]}. {evidence(cause, s)} That is the signature: "
                           f"{SIGNATURE[cause]}. This run used {WHAT_WAS_SET[cause]}.")
    return "not quite", (f"Not quite: with {guess}, {SIGNATURE[named]}. Compare this run: "
                         f"training loss {s['start_loss']:.2f} -> {s['final_train']:.2f}, validation lowest "
                         f"{s['best_val']:.2f} at step {s['best_val_step']} and {s['final_val']:.2f} at the end, "
                         f"largest gradient norm {s['peak_grad_norm'] / s['median_grad_norm']:.1f}x the median "
                         f"(step {s['peak_grad_norm_step']}). Look at the curves again and try another cause.")


# --- the widget ---------------------------------------------------------------------------------
_RUNS: dict[str, dict] = {}  # case -> its finished run (deterministic: trained once per process)
_LOCK = threading.Lock()


class DiagnosisWidget(Widget):
    def compute(self, values, progress=None):
        case, guess = values["case"], values["guess"]
        with _LOCK:
            finished = copy.deepcopy(_RUNS.get(case))
        if finished is None:
            report = None if progress is None else (
                lambda partial, done, total: progress(self._data(case, guess, partial, final=False), done, total))
            finished = run_case(case, report)
            with _LOCK:
                _RUNS[case] = copy.deepcopy(finished)
        return self._data(case, guess, finished, final=True)

    @staticmethod
    def _data(case: str, guess: str, result: dict, final: bool) -> dict:
        verdict, explanation = grade(case, guess, result["runs"][0]) if final else (None, None)
        return {"steps": result["steps"], "done": result["done"], "device": result["device"],
                "runs": [shown(run) for run in result["runs"]], "case": case, "guess": guess,
                "verdict": verdict, "explanation": explanation}

    def figure(self, values, data):
        fig = history_figure(data, panels=("loss", "grad_norm"), loss_range=LOSS_RANGE)
        layout = fig["layout"]
        if data["verdict"] is None:
            title = f"Case {data['case']}: which knob was set wrong?"
            tint = "#374151"
        elif data["verdict"] == "correct":
            title = f"\u2714 Correct: {CAUSE_NAME[CASE_CAUSE[data['case']]]}"
            tint = color(2)
        else:
            title = f"\u2718 Not quite: not \u201c{data['guess']}\u201d"
            tint = color(1)
        layout["title"] = {"text": f"<b>{title}</b>", "x": 0, "xanchor": "left", "y": 0.985, "yanchor": "top",
                           "font": {"color": tint}}
        layout["margin"] = {**layout["margin"], "t": 110}
        layout["legend"] = {**layout["legend"], "y": 1.07}
        return fig  # the explanation is page text under the chart: see findings()

    def findings(self, values, data):
        if data["verdict"] is None:
            return []
        mark = "\u2714" if data["verdict"] == "correct" else "\u2718"
        return [f"{mark} Case {data['case']}, your guess \u201c{data['guess']}\u201d. {data['explanation']}"]

    def tables(self, values, data):
        tables = []
        if data["verdict"] is not None:
            tables.append({"caption": f"Your guess for case {data['case']}", "columns": ["guess", "verdict",
                                                                                          "explanation"],
                           "rows": [[data["guess"], data["verdict"], data["explanation"]]]})
        run = data["runs"][0]
        rows = [[t, fmt(run["loss"][t]), fmt(run["grad_norm"][t])] for t in range(0, len(run["loss"]), 10)]
        return tables + [{"caption": "This run: training, every 10 steps", "columns": ["step", "loss", "gradient norm"],
                          "rows": rows}, val_table(run, "This run: validation loss")]

    def code(self, values):
        case = values["case"]
        lines = [
            f"# Case {case} of the curve-diagnosis widget: one real run of the tiny GPT with one knob set wrong.",
            "# Run from the course repository root. The configuration is in widgets/diagnosis.py (CONFIGS),",
            "# kept out of sight here so the code does not give the answer away.",
            "from widgets.diagnosis import case_setup, signals",
            "from widgets.lab.trainer import LockstepTrainer",
            "",
            f"spec, hooks = case_setup({case!r})  # hooks: where this case's batches come from",
            "run = LockstepTrainer(spec, **hooks).run()[\"runs\"][0]",
            "for step, val in zip(run[\"val_steps\"], run[\"val_loss\"]):",
            "    print(f\"step {step:4d}  train {run['loss'][step - 1]:.3f}  validation {val:.3f}  \"",
            "          f\"grad norm {run['grad_norm'][step - 1]:.2f}\")",
            "for name, value in signals(run).items():",
            "    print(f\"{name}: {value:.3f}\")",
        ]
        if values["guess"] != NO_GUESS and GUESSES[values["guess"]] == CASE_CAUSE[case]:
            lines.append("print(spec)  # you named the cause: here is the whole configuration")
        return "\n".join(lines) + "\n"


WIDGET = DiagnosisWidget(
    name="diagnosis",
    title="Curve diagnosis: which knob was wrong?",
    caption=("Each case is a real run of the tiny GPT with one knob set wrong (or none). Case 1, the default, "
             "drops fast, then stalls on a plateau near 3.3 before recovering, ending at least 0.2 above the "
             "healthy case's validation loss: name the cause."),
    streams=True,
    params=(
        Param("case", "Mystery case", "choice", "1", choices=CASES,
              help="Six real runs, numbered in a shuffled order."),
        Param("guess", "What went wrong?", "choice", NO_GUESS, choices=(NO_GUESS, *GUESSES),
              help="Graded on the server with this run's own numbers."),
    ),
)
