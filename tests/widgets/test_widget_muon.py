"""Muon: the course's Newton-Schulz and Muon step against torch.optim.Muon, and the caption's claims."""
from __future__ import annotations

import math

import pytest
import torch
from torch.optim._muon import DEFAULT_A, DEFAULT_B, DEFAULT_C, EPS, _zeropower_via_newtonschulz

from widgets.lab.model import GPTConfig
from widgets.lab.muon import COEFFICIENTS, Muon, exact_orthogonal, muon_adamw, newton_schulz
from widgets.lab.schedules import Schedule
from widgets.lab.trainer import LockstepTrainer, RunConfig, TrainSpec
from widgets.muon import WIDGET, gradient_spectra
from shared_runs import widget_run


def test_coefficients_are_torchs():
    assert COEFFICIENTS == (DEFAULT_A, DEFAULT_B, DEFAULT_C)


@pytest.mark.parametrize("shape", [(8, 20), (20, 8), (16, 16)])
@pytest.mark.parametrize("steps", [0, 1, 5, 9])
def test_newton_schulz_matches_torch_bit_for_bit(shape, steps):
    g = torch.randn(shape, generator=torch.Generator().manual_seed(steps))
    theirs = _zeropower_via_newtonschulz(g, COEFFICIENTS, steps, EPS)
    assert torch.equal(newton_schulz(g, steps), theirs)


def test_newton_schulz_on_a_stack_matches_each_slice():
    g = torch.randn(3, 12, 30, generator=torch.Generator().manual_seed(1))
    stacked = newton_schulz(g, 5, dtype=torch.float32)
    for r in range(3):
        torch.testing.assert_close(stacked[r], newton_schulz(g[r], 5, dtype=torch.float32), rtol=1e-5, atol=1e-5)


def test_exact_orthogonal_has_unit_singular_values():
    g = torch.randn(10, 25, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(torch.linalg.svdvals(exact_orthogonal(g)), torch.ones(10), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(12, 7), (7, 12)])
@pytest.mark.parametrize("nesterov", [True, False])
def test_muon_step_matches_torch_optim_muon(shape, nesterov):
    """torch's defaults: lr 1e-3, weight decay 0.1, momentum 0.95, nesterov, 5 steps, 'original' LR adjustment."""
    g = torch.Generator().manual_seed(3)
    init = torch.randn(shape, generator=g)
    grads = [torch.randn(shape, generator=g) for _ in range(10)]
    theirs = init.clone().requires_grad_()
    ours = init.clone().unsqueeze(0).requires_grad_()
    opt_theirs = torch.optim.Muon([theirs], lr=0.02, nesterov=nesterov)
    opt_ours = Muon([ours], runs=1, lr=0.02, nesterov=nesterov)
    for grad in grads:
        theirs.grad, ours.grad = grad.clone(), grad.clone().unsqueeze(0)
        opt_theirs.step()
        opt_ours.step()
    assert not torch.equal(theirs.detach(), init)
    torch.testing.assert_close(ours[0].detach(), theirs.detach(), rtol=1e-5, atol=1e-6)


def test_fan_in_first_swaps_rows_and_cols_in_the_lr_adjustment():
    """The course model stores (in, out); torch's nn.Linear stores (out, in): the same update."""
    g = torch.Generator().manual_seed(4)
    w_out_in = torch.randn(20, 8, generator=g)
    grad = torch.randn(20, 8, generator=g)
    theirs = w_out_in.clone().requires_grad_()
    ours = w_out_in.T.clone().unsqueeze(0).requires_grad_()
    opt_theirs = torch.optim.Muon([theirs], lr=0.02)
    opt_ours = Muon([ours], runs=1, lr=0.02, fan_in_first=True)
    theirs.grad, ours.grad = grad.clone(), grad.T.clone().unsqueeze(0)
    opt_theirs.step()
    opt_ours.step()
    torch.testing.assert_close(ours[0].T.detach(), theirs.detach(), rtol=1e-5, atol=1e-6)


def test_muon_adamw_keeps_runs_apart():
    """Run 0 (AdamW everywhere) of a two-run Muon trainer equals a one-run AdamW-only trainer, and the
    Muon run's hidden matrices really took Muon's update."""
    config = GPTConfig(block_size=16, n_layer=1, n_head=2, n_embd=32)
    schedule = Schedule("constant", 1e-2, 0, 5)

    def trainer(runs, use_muon):
        spec = TrainSpec(config, tuple(RunConfig(f"r{k}", schedule) for k in range(runs)), steps=5, batch_size=4,
                         eval_every=0)
        t = LockstepTrainer(spec, device="cpu", optimizer=muon_adamw(use_muon, muon_lr=0.02))
        t.run()
        return t

    two, one = trainer(2, [False, True]), trainer(1, [False])
    for (name, a), b in zip(two.model.named_parameters(), one.model.parameters()):
        torch.testing.assert_close(a[0].detach(), b[0].detach(), msg=name)
    fc = two.model.blocks[0].mlp.fc.weight
    assert not torch.allclose(fc[1], fc[0])
    assert torch.equal(two.model.wte[0], one.model.wte[0]) or torch.allclose(two.model.wte[0], one.model.wte[0])


@pytest.fixture(scope="module")
def default_run():
    return widget_run(WIDGET.name)


def test_caption_newton_schulz_brings_singular_values_near_but_not_to_one(default_run):
    values, data = default_run
    assert values["iterations"] == 5 and values["precision"] == "bfloat16"
    sv = data["spectra"]["singular_values"][5]
    # the raw gradient (fp32) spans about seven orders of magnitude
    assert data["spectra"]["raw_max"] > 0
    assert len(sv) == 64
    inside = [s for s in sv if 0.6 <= s <= 1.25]
    assert len(inside) == len(sv) - 1  # all but the smallest
    assert max(abs(s - 1) for s in sv) > 0.1  # not exactly orthogonal
    assert all(abs(s - 1) < 1e-4 for s in data["spectra"]["exact"])


def test_caption_raw_gradient_spans_orders_of_magnitude():
    values = WIDGET.canonicalize({"precision": "float32", "iterations": 0})
    spectra = gradient_spectra(values["matrix"], values["iterations"], values["precision"], WIDGET.seed)
    sv = spectra["singular_values"][0]
    assert sv[0] / sv[-1] > 1e6


def test_caption_muon_ends_lower_than_adamw(default_run):
    _, data = default_run
    adamw, muon = data["runs"]
    assert adamw["label"] == "AdamW" and muon["label"] == "Muon + AdamW"
    assert adamw["loss"][0] == muon["loss"][0]  # same init, same first batch
    assert muon["val_loss"][-1] < adamw["val_loss"][-1] - 0.2
    assert math.isfinite(muon["val_loss"][-1])
