"""Learning-rate schedules: the closed forms, LambdaLR driving a real optimizer, and
agreement with torch's own schedulers (LinearLR, CosineAnnealingLR, MultiStepLR,
SequentialLR) for the families torch ships."""
from __future__ import annotations

import math

import pytest
import torch

from lr_oracle import expected_lr
from widgets.lab.schedules import (FAMILIES, Schedule, lambda_scheduler,
                                   torch_builtin_scheduler)

PEAK = 3e-3
# (warmup, total, min_lr): no warmup, one-step warmup, ordinary, warmup == total
COMBOS = [(0, 60, 0.0), (1, 60, 0.0), (6, 60, 1e-4), (15, 40, 3e-4), (20, 20, 0.0)]


def make_optimizer(lr=0.5):
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))  # float64: exact step sizes
    return p, torch.optim.SGD([p], lr=lr)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("W,T,min_lr", COMBOS)
def test_lr_at_matches_closed_form(family, W, T, min_lr):
    s = Schedule(family, peak_lr=PEAK, warmup=W, total=T, min_lr=min_lr)
    for t in range(T):
        assert s.lr_at(t) == pytest.approx(expected_lr(family, t, W, T, min_lr), rel=1e-12, abs=1e-18)


def test_warmup_shape():
    s = Schedule("cosine", peak_lr=1.0, warmup=4, total=20)
    assert [s.lr_at(t) for t in range(4)] == [0.25, 0.5, 0.75, 1.0]  # first update is not LR 0
    assert s.lr_at(4) == 1.0  # cosine starts from the peak right after warmup


def test_wsd_decay_fraction():
    s = Schedule("wsd", peak_lr=1.0, warmup=5, total=100, min_lr=0.1, decay_fraction=0.3)
    assert s.decay_start() == 70
    assert all(s.lr_at(t) == 1.0 for t in range(5, 70))
    for t in range(70, 100):
        assert s.lr_at(t) == pytest.approx(expected_lr("wsd", t, 5, 100, 0.1, 0.3, PEAK=1.0), rel=1e-12)
    assert s.lr_at(99) == pytest.approx(1.0 - 0.9 * 29 / 30)


def test_multistep_drops():
    s = Schedule("multistep", peak_lr=1.0, total=100)
    assert s.multistep_milestones() == [80, 90]
    assert s.lr_at(79) == 1.0
    assert s.lr_at(80) == pytest.approx(math.sqrt(0.1))
    assert s.lr_at(90) == pytest.approx(0.1)


def test_invalid_schedules():
    with pytest.raises(ValueError):
        Schedule("exponential")
    with pytest.raises(ValueError):
        Schedule("cosine", warmup=11, total=10)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("W,T,min_lr", COMBOS)
def test_lambda_scheduler_drives_real_optimizer(family, W, T, min_lr):
    s = Schedule(family, peak_lr=PEAK, warmup=W, total=T, min_lr=min_lr)
    p, opt = make_optimizer()
    scheduler = lambda_scheduler(opt, s)
    for t in range(T):
        lr = opt.param_groups[0]["lr"]
        assert lr == pytest.approx(s.lr_at(t), rel=1e-12, abs=1e-18)
        # the update really used that LR: SGD moves p by lr * g
        before = p.detach().clone()
        p.grad = torch.ones_like(p)
        opt.step()
        assert torch.allclose(before - p.detach(), torch.full_like(p, lr), rtol=1e-9, atol=0)
        scheduler.step()


@pytest.mark.parametrize("family", ["constant", "cosine", "linear", "multistep"])
@pytest.mark.parametrize("W,T,min_lr", COMBOS)
def test_torch_builtin_schedulers_agree(family, W, T, min_lr):
    s = Schedule(family, peak_lr=PEAK, warmup=W, total=T, min_lr=min_lr)
    p, opt = make_optimizer()
    scheduler = torch_builtin_scheduler(opt, s)
    for t in range(T):
        got = opt.param_groups[0]["lr"]
        assert got == pytest.approx(s.lr_at(t), rel=1e-9, abs=1e-15), f"step {t}"
        p.grad = torch.ones_like(p)
        opt.step()
        scheduler.step()  # also after the last update, as a training loop would


def test_builtin_has_no_wsd():
    _, opt = make_optimizer()
    assert torch_builtin_scheduler(opt, Schedule("wsd", total=10)) is None


def test_builtin_ignores_stale_initial_lr():
    """A scheduler used on this optimizer before must not leave its peak behind."""
    _, opt = make_optimizer()
    lambda_scheduler(opt, Schedule("constant", peak_lr=1.0, total=10))
    s = Schedule("cosine", peak_lr=PEAK, warmup=2, total=10)
    p = opt.param_groups[0]["params"][0]
    scheduler = torch_builtin_scheduler(opt, s)
    for t in range(10):
        assert opt.param_groups[0]["lr"] == pytest.approx(s.lr_at(t), rel=1e-9)
        p.grad = torch.ones_like(p)
        opt.step()
        scheduler.step()
