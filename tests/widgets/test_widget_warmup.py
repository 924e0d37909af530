"""The warmup widget: the claims its caption and chapter 3 make, on the real default runs."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch

from app.settings import ROOT
from claim_helpers import claim, claim_ids
from widgets.base import ParamError
from widgets.lab.trainer import LockstepTrainer
from widgets.registry import get_widget
from shared_runs import widget_data

CH3 = "03-learning-rate.md"

WIDGET = get_widget("warmup")


@pytest.fixture(scope="module")
def default_runs():
    data = widget_data(WIDGET.name, {})
    warm, cold = data["runs"]
    assert warm["label"].startswith("warmup") and cold["label"] == "no warmup"
    return warm, cold


def test_runs_share_initial_weights_and_batches(default_runs):
    warm, cold = default_runs
    assert warm["loss"][0] == cold["loss"][0]  # step 0: same weights, same batch


def test_the_lr_applied_is_the_warmup_then_cosine(default_runs):
    warm, cold = default_runs
    peak = WIDGET.param("peak_lr").default
    assert warm["lr"][0] == pytest.approx(peak / 40, rel=1e-5)
    assert warm["lr"][39] == pytest.approx(peak, rel=1e-5)
    assert cold["lr"][0] == pytest.approx(peak, rel=1e-5)
    for run, warmup in ((warm, 40), (cold, 0)):  # after warmup both decay to the 10% floor
        assert run["lr"][-1] == pytest.approx(0.1 * peak, rel=0.01)
        assert min(run["lr"][warmup:]) >= 0.1 * peak * 0.999


def test_every_claim_block_of_chapter_3_has_a_test():
    # warmup's are here; sweep-zones in test_widget_lr_sweep.py, the families' in
    # test_widget_schedule_families.py
    assert claim_ids(["03-learning-rate.md"]) == {("learning-rate", "warmup"),
                                                  ("learning-rate", "warmup-sensitivity"),
                                                  ("learning-rate", "warmup-seeds"),
                                                  ("learning-rate", "sweep-zones"),
                                                  ("learning-rate", "families-decay-wins"),
                                                  ("learning-rate", "floor-within-rounding")}


def test_chapter_claim_no_warmup_starts_faster_then_falls_behind_for_good(default_runs):
    text = claim(CH3, "warmup")
    for part in ("step 5", "near 3.3", "near 3.9", "step 25", "never flips back", "near 2.51",
                 "between 2.8 and 3.2", "at least 0.3 nat higher", "first 40 steps"):
        assert part in text, part
    warm, cold = default_runs
    assert warm["diverged_at"] is None and cold["diverged_at"] is None
    assert abs(cold["loss"][5] - 3.3) < 0.1 and abs(warm["loss"][5] - 3.9) < 0.1
    assert cold["loss"][5] < warm["loss"][5]
    assert warm["val_steps"] == cold["val_steps"] and warm["val_steps"][0] == 25
    assert all(w < c for w, c in zip(warm["val_loss"], cold["val_loss"]))  # flipped by 25, for good
    # The warmup run is insensitive to rounding (same to 4 decimals on every kernel set we
    # tried); the run without warmup is not, so its bounds are wide (2.90 to 3.09 seen).
    assert warm["val_loss"][-1] == pytest.approx(2.51, abs=0.01)
    assert 2.8 < cold["val_loss"][-1] < 3.2
    assert cold["val_loss"][-1] - warm["val_loss"][-1] > 0.3


def test_chapter_claim_only_the_run_without_warmup_is_sensitive_to_rounding(default_runs):
    """'The run that warmed up follows the same validation curve to four decimals whichever kernels
    compute it, while the run without warmup drifts hundredths away': what another processor's
    rounding amounts to, a one-ulp change of every initial weight, leaves the warmup run's curve
    within 5e-5 and moves the run without warmup by hundredths or more. (Whether two kernel sets
    round differently is torch's business; that a run magnifies such a difference is the claim.)"""
    text = claim(CH3, "warmup-sensitivity")
    assert "to four decimals" in text and "hundredths away" in text
    trainer = LockstepTrainer(WIDGET.spec(WIDGET.canonicalize({})))
    with torch.no_grad():  # every weight one float32 step up (the parameters are views of these buffers)
        for buffer in trainer.params.buffers():
            buffer.copy_(torch.nextafter(buffer, torch.full_like(buffer, math.inf)))
    nudged_warm, nudged_cold = trainer.run()["runs"]
    warm, cold = default_runs
    assert _largest_gap(warm, nudged_warm) < 5e-5  # four decimals (2e-7 to 7e-7 seen)
    assert _largest_gap(cold, nudged_cold) > 0.005  # hundredths or more (0.04 to 0.18 seen, both kernel sets)


def test_chapter_claim_the_warmup_run_is_the_same_to_four_decimals_on_another_kernel_set(default_runs):
    """The same default run computed by another set of CPU kernels (ATen's unvectorised ones)."""
    own = torch.backends.cpu.get_cpu_capability()
    # the other kernel set: the unvectorised one, or (when this process already runs those, as
    # in the cross-kernel rerun) the processor's own vectorised kernels
    other = _run_in_subprocess({"ATEN_CPU_CAPABILITY": "default" if own != "DEFAULT" else None})
    if other["capability"] == own:
        pytest.skip(f"this CPU has no vectorised kernels ({own} only): there is no other kernel set to compare with")
    warm, _ = default_runs
    assert _largest_gap(warm, other["runs"][0]) < 5e-5  # four decimals (about 5e-7 seen)


def _largest_gap(run: dict, other: dict) -> float:
    return max(abs(a - b) for a, b in zip(run["val_loss"], other["val_loss"]))


def _run_in_subprocess(env: dict) -> dict:
    # through the shared runs: the cross-kernel rerun (earlier in the suite) has recorded this run
    code = ("import json, sys, torch; sys.path.insert(0, 'tests'); from shared_runs import widget_data; "
            "d = widget_data('warmup'); "
            "print(json.dumps({'capability': torch.backends.cpu.get_cpu_capability(), 'runs': d['runs']}))")
    env = {k: v for k, v in {**os.environ, **env}.items() if v is not None}  # None: unset it
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_chapter_claim_over_five_seeds_ahead_early_behind_at_the_end_by_a_gap_that_moves():
    """The comparison over 5 seeds (trained once, shared): bounds on every seed and on the mean."""
    text = claim(CH3, "warmup-seeds")
    for part in ("every one of the five seeds", "ahead at step 5", "more than a third of a nat",
                 "0.15 to 0.55 nat", "under 0.2 nat on some", "over half a nat on others"):
        assert part in text, part
    data = widget_data(WIDGET.name, {"seeds": 5})
    pairs = [(data["runs"][2 * k], data["runs"][2 * k + 1]) for k in range(5)]
    assert [(w["label"], c["label"]) for w, c in pairs] == [("warmup 40", "no warmup")] * 5
    assert len({w["seed"] for w, _ in pairs}) == 5 and all(w["seed"] == c["seed"] for w, c in pairs)
    assert all(w["diverged_at"] is None and c["diverged_at"] is None for w, c in pairs)
    assert all(w["loss"][5] - c["loss"][5] > 0.34 for w, c in pairs)  # every seed (0.46 to 0.62 seen)
    gaps = [c["val_loss"][-1] - w["val_loss"][-1] for w, c in pairs]
    (comparison,) = data["comparison"]
    assert comparison["differences"] == pytest.approx(gaps)
    assert 0.15 < comparison["mean"] < 0.55  # 0.33 seen, sd 0.25
    assert min(gaps) < 0.2 and max(gaps) > 0.5  # -0.002 and 0.66 seen


def test_warmup_must_be_shorter_than_the_run():
    with pytest.raises(ParamError) as caught:
        WIDGET.canonicalize({"warmup": 100, "steps": 100})
    assert caught.value.field == "warmup"


def test_streaming_reports_partial_histories_that_grow():
    reports = []
    values = WIDGET.canonicalize({"steps": 20, "warmup": 5})
    final = WIDGET.compute(values, lambda data, done, total: reports.append((done, total, len(data["runs"][0]["loss"]))))
    assert reports[0][0] == 1 and all(total == 20 for _, total, _ in reports)
    assert [n for _, _, n in reports] == sorted(n for _, _, n in reports)
    assert len(final["runs"][0]["loss"]) == 20
