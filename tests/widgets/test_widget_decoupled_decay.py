"""decoupled-decay: the caption's claims on the real default runs (Adam + L2 vs AdamW)."""
from __future__ import annotations

import pytest
import torch

from widgets.decoupled_decay import WIDGET
from shared_runs import widget_run, widget_data


@pytest.fixture(scope="module")
def default():
    return widget_run(WIDGET.name)


def ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    out = [0] * len(xs)
    for rank, i in enumerate(order):
        out[i] = rank
    return out


def spearman(a, b):
    ra, rb = torch.tensor(ranks(a), dtype=torch.float64), torch.tensor(ranks(b), dtype=torch.float64)
    return torch.corrcoef(torch.stack([ra, rb]))[0, 1].item()


def test_l2_shrinks_the_weight_matrices_below_half_while_adamw_lets_them_grow(default):
    values, data = default
    assert values["weight_decay"] == 0.1 and values["steps"] == 100
    assert [r["label"] for r in data["runs"]] == ["Adam + L2", "AdamW"]
    l2, adamw = data["decayed_norm"]
    assert len(l2) == len(adamw) == 100
    assert l2[0] == pytest.approx(adamw[0], rel=0.1)  # same start (one step in)
    assert l2[-1] < 0.5 * l2[0]
    assert adamw[-1] > adamw[0]


def test_under_l2_the_largest_sqrt_v_matrices_are_decayed_least(default):
    values, data = default
    assert len(data["tensors"]) == 8  # 4 weight matrices in each of the 2 layers
    l2_rate, adamw_rate = data["decay_rate"]
    assert spearman(l2_rate, data["sqrt_v"][0]) < -0.8
    # AdamW decays every matrix by the same share lr * wd, far below what L2 does here
    assert adamw_rate == pytest.approx([values["lr"] * values["weight_decay"]] * 8, rel=1e-6)
    assert min(l2_rate) > 10 * max(adamw_rate)


def test_without_decay_both_runs_are_the_same_adam():
    data = widget_data(WIDGET.name, {"weight_decay": 0, "steps": 20})
    a, b = data["runs"]
    assert a["loss"] == b["loss"] and data["decayed_norm"][0] == data["decayed_norm"][1]


def test_five_seeds_draw_bands_and_a_paired_test():
    """The five-seed run the chapter's claims use (tests/claims/test_claims_over_five_seeds_lab.py)."""
    values, data = widget_run(WIDGET.name, {"seeds": 5})
    assert [(r["label"], r["seed"]) for r in data["runs"][:4]] == [("Adam + L2", 1337), ("AdamW", 1337),
                                                                  ("Adam + L2", 2337), ("AdamW", 2337)]
    assert len(data["decayed_norm"]) == len(data["decay_rate"]) == len(data["runs"]) == 10
    names = [t["name"] for t in WIDGET.figure(values, data)["data"]]
    for label in ("Adam + L2", "AdamW"):
        assert f"{label} (mean of 5 seeds) (max over seeds)" in names  # a band on the norm panel and the loss panel
        assert names.count(f"{label} (mean of 5 seeds) (min over seeds)") == 2
    assert "paired t-test" in " ".join(WIDGET.findings(values, data))
    assert any("seed 5337" in row[0] for row in WIDGET.tables(values, data)[0]["rows"])
