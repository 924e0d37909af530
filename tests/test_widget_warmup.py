"""The warmup widget: the claims its caption and chapter 3 make, on the real default runs."""
from __future__ import annotations

import pytest

from widgets.base import ParamError
from widgets.registry import get_widget

WIDGET = get_widget("warmup")


@pytest.fixture(scope="module")
def default_runs():
    data = WIDGET.compute(WIDGET.canonicalize({}))
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


def test_chapter_claim_no_warmup_starts_faster(default_runs):
    warm, cold = default_runs
    assert cold["loss"][5] < 3.4 and warm["loss"][5] > 3.8


def test_chapter_claim_no_warmup_stalls_and_ends_half_a_nat_worse(default_runs):
    warm, cold = default_runs
    assert warm["diverged_at"] is None and cold["diverged_at"] is None
    assert cold["val_steps"][1] == 50
    assert abs(cold["val_loss"][1] - cold["val_loss"][-1]) < 0.1  # stalled from step 50
    assert warm["val_loss"][1] - warm["val_loss"][-1] > 0.3  # still improving
    assert cold["val_loss"][-1] == pytest.approx(3.09, abs=0.01)
    assert warm["val_loss"][-1] == pytest.approx(2.51, abs=0.01)
    assert cold["val_loss"][-1] - warm["val_loss"][-1] > 0.5


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
