"""Is this difference real? Several seeds of every curve: their band, and a paired test.

A widget that compares curves offers `seeds` (SEEDS_PARAM: 1, 3 or 5). With more than one,
its TrainSpec trains every curve under each seed in the same lockstep pass (lab/seeds.py),
and the result's `runs` holds one entry per curve and seed, seed-major, each with its `seed`.
`with_seeds` adds what the page and the JSON twin show about them:

  seeds       the seeds, in run order
  bands       per curve: each step's min, mean and max of the training loss over the seeds
  comparison  per curve after the first: the paired difference of its final validation loss
              from the first curve's, seed by seed, its mean and spread, and a paired t-test

Why a paired t-test and not a sign test: both pair each seed's two curves (same initial
weights, same batches, so the seed's own luck cancels out of the difference). But with 3 or
5 seeds a two-sided sign test can never reach p < 0.05 (its smallest p is 2 / 2^n: 0.25 for
3 seeds, 0.0625 for 5), so it could never say a difference is real. The t-test can, when the
differences are consistent, at the price of assuming they are roughly normal: a difference of
final losses averaged over thousands of tokens is close enough. The p-value comes from
Student's t distribution in closed form (integer degrees of freedom; no SciPy here).
"""
from __future__ import annotations

import math
import statistics

from widgets.base import Param

SEEDS_PARAM = Param("seeds", "Seeds per curve", "int", 1, min=1, max=5, step=2, values=(1, 3, 5),
                    help="Train every curve under 1, 3 or 5 seeds (other initial weights and batches) "
                         "in the same pass: the band shows the spread, the summary a paired t-test.")
NOISE_P = 0.05  # a difference whose paired test gives p at or above this is "within noise"


# --- the t distribution ------------------------------------------------------------------
def t_two_sided_p(t: float, df: int) -> float:
    """P(|T| >= |t|) for Student's t with integer `df` degrees of freedom (Abramowitz and
    Stegun 26.7.3 and 26.7.4: a finite series in cos(theta), theta = atan(|t| / sqrt(df)))."""
    if df < 1:
        raise ValueError("a t-test needs at least one degree of freedom")
    if math.isinf(t):
        return 0.0
    theta = math.atan(abs(t) / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    if df % 2:  # odd: (2/pi) (theta + sin cos (1 + 2/3 cos^2 + 2.4/(3.5) cos^4 + ...))
        term, series = 1.0, 1.0 if df > 1 else 0.0
        for k in range(1, (df - 1) // 2):
            term *= c2 * (2 * k) / (2 * k + 1)
            series += term
        inside = 2 / math.pi * (theta + math.sin(theta) * math.cos(theta) * series)
    else:  # even: sin (1 + 1/2 cos^2 + 1.3/(2.4) cos^4 + ...)
        term, series = 1.0, 1.0
        for k in range(1, df // 2):
            term *= c2 * (2 * k - 1) / (2 * k)
            series += term
        inside = math.sin(theta) * series
    return min(1.0, max(0.0, 1.0 - inside))


def paired_t(differences: list[float]) -> dict:
    """Mean, sample standard deviation, t and two-sided p of paired differences."""
    n = len(differences)
    mean = statistics.fmean(differences)
    sd = statistics.stdev(differences) if n > 1 else 0.0
    if sd == 0.0:
        t = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    else:
        t = mean / (sd / math.sqrt(n))
    return {"mean": mean, "sd": sd, "t": t, "p": t_two_sided_p(t, n - 1) if n > 1 else 1.0}


# --- the runs of several seeds ------------------------------------------------------------
def seed_count(data: dict) -> int:
    return len({run["seed"] for run in data.get("runs", ()) if "seed" in run})


def by_curve(data: dict) -> list[list[dict]]:
    """The runs grouped per curve (each list: that curve's run of every seed, in seed order)."""
    runs = data["runs"]
    seeds = max(seed_count(data), 1)
    curves = len(runs) // seeds
    return [[runs[k * curves + c] for k in range(seeds)] for c in range(curves)]


def per_step(runs: list[dict], key: str = "loss") -> tuple[list[float], list[float], list[float]]:
    """(min, mean, max) over the seeds at each step some seed has reached (a diverged seed
    stops counting where it stopped)."""
    longest = max((len(r[key]) for r in runs), default=0)
    lows, means, highs = [], [], []
    for t in range(longest):
        values = [r[key][t] for r in runs if t < len(r[key]) and r[key][t] is not None and math.isfinite(r[key][t])]
        if not values:
            values = [math.nan]
        lows.append(min(values))
        means.append(statistics.fmean(values))
        highs.append(max(values))
    return lows, means, highs


def final_metric(run: dict) -> float | None:
    """The number a comparison pairs: the final validation loss; None for a run that diverged."""
    if run.get("diverged_at") is not None or not run.get("val_loss"):
        return None
    return run["val_loss"][-1]


def compare(data: dict) -> list[dict]:
    """Each curve after the first against the first: paired differences over the seeds."""
    curves = by_curve(data)
    out = []
    for runs in curves[1:]:
        base = curves[0]
        pairs = [(final_metric(a), final_metric(b)) for a, b in zip(runs, base)]
        entry = {"curve": runs[0]["label"], "baseline": base[0]["label"], "metric": "final validation loss",
                 "test": "paired t-test", "seeds": [r["seed"] for r in runs]}
        if any(a is None or b is None for a, b in pairs):
            lost = sum(a is None for a, _ in pairs) + sum(b is None for _, b in pairs)
            entry.update(differences=None, diverged=lost, within_noise=None)
        else:
            differences = [a - b for a, b in pairs]
            stats = paired_t(differences)
            entry.update(differences=differences, **stats, low=min(differences), high=max(differences),
                         within_noise=stats["p"] >= NOISE_P)
        entry["text"] = sentence(entry)
        out.append(entry)
    return out


def sentence(entry: dict) -> str:
    """One comparison, in words: the difference, its spread, the test and its verdict."""
    n = len(entry["seeds"])
    if entry["differences"] is None:
        return (f"{entry['curve']} against {entry['baseline']}: a run diverged on {entry['diverged']} of "
                f"{2 * n} seed runs, so the final validation losses are not compared.")
    mean, direction = entry["mean"], "higher" if entry["mean"] > 0 else "lower"
    verdict = "within noise" if entry["within_noise"] else "a real difference at this many seeds"
    return (f"{entry['curve']} ends {abs(mean):.3f} {direction} in validation loss than {entry['baseline']} "
            f"(mean of {n} seeds, standard deviation {entry['sd']:.3f}, from {entry['low']:+.3f} to "
            f"{entry['high']:+.3f}); paired t-test p = {entry['p']:.2g}: {verdict}.")


def with_seeds(data: dict) -> dict:
    """The result with its seeds, bands and comparisons (unchanged when it has one seed)."""
    if seed_count(data) < 2:
        return data
    bands = []
    for runs in by_curve(data):
        low, mean, high = per_step(runs)
        bands.append({"curve": runs[0]["label"], "metric": "loss", "min": low, "mean": mean, "max": high})
    return {**data, "seeds": [r["seed"] for r in by_curve(data)[0]], "bands": bands, "comparison": compare(data)}


SEED_KEYS = ("seeds", "bands", "comparison")


def seed_keys(data: dict) -> dict:
    """What with_seeds added (nothing for one seed), for a widget that reshapes its result."""
    return {key: data[key] for key in SEED_KEYS if key in data}


def findings(data: dict) -> list[str]:
    """The comparisons' sentences, for the page under the chart."""
    return [entry["text"] for entry in data.get("comparison", ())]


def mean_run(runs: list[dict], keys=("loss", "lr", "grad_norm", "param_norm")) -> dict:
    """One curve's seeds as one run to draw: each step's mean over the seeds that reached it,
    the validation losses' mean at each evaluation, and every seed's divergence step."""
    out = {"label": runs[0]["label"], "diverged": sorted(r["diverged_at"] for r in runs if r.get("diverged_at") is not None)}
    for key in keys:
        if key in runs[0]:
            out[key] = per_step(runs, key)[1]
    if "val_steps" not in runs[0]:
        return out
    longest = max(runs, key=lambda r: len(r["val_steps"]))
    out["val_steps"] = list(longest["val_steps"])
    out["val_loss"] = [statistics.fmean(r["val_loss"][k] for r in runs if k < len(r["val_loss"]))
                       for k in range(len(longest["val_steps"]))]
    return out
