"""Gradient accumulation: the caption's claims on the real default computation."""
from __future__ import annotations

import pytest
import torch

from widgets.grad_accumulation import WIDGET, accumulated_gradient, one_batch_gradient
from widgets.lab.data import BatchStream, fixed_batch, load_corpus
from widgets.lab.model import GPTConfig, TinyGPT
from shared_runs import widget_run, widget_data


@pytest.fixture(scope="module")
def default():
    return widget_run(WIDGET.name)


def test_accumulated_gradient_matches_the_big_batch_to_float32_rounding(default):
    _, data = default
    check = data["check"]
    assert check["relative_diff"] < 1e-6
    assert check["max_abs_diff"] < 1e-6


def test_not_dividing_by_k_makes_the_gradient_exactly_k_times_too_large(default):
    values, data = default
    assert data["check"]["ratio_not_divided"] == pytest.approx(values["k"], abs=1e-5)


@pytest.mark.parametrize("k,b", [(1, 3), (3, 2), (16, 1)])
def test_ratio_and_equivalence_for_other_k(k, b):
    data = widget_data(WIDGET.name, {"k": k, "micro_batch": b, "steps": 2})
    assert data["check"]["ratio_not_divided"] == pytest.approx(k, abs=1e-5)
    assert data["check"]["relative_diff"] < 1e-6


def test_accumulation_against_torch_mean_loss_on_a_plain_module():
    """The same identity with a plain torch Linear and F.cross_entropy (no course code)."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(5, 3)
    x, y = torch.randn(12, 5), torch.randint(0, 3, (12,))
    layer.zero_grad()
    torch.nn.functional.cross_entropy(layer(x), y).backward()
    big = layer.weight.grad.clone()
    layer.zero_grad()
    for i in range(4):
        (torch.nn.functional.cross_entropy(layer(x[3 * i:3 * i + 3]), y[3 * i:3 * i + 3]) / 4).backward()
    torch.testing.assert_close(layer.weight.grad, big, rtol=1e-6, atol=1e-7)


def test_tokens_arithmetic_is_computed(default):
    values, data = default
    t = data["tokens"]
    assert t["tokens_per_step"] == values["micro_batch"] * 32 * values["k"] == 512
    assert t["example_tokens_per_step"] == 4_194_304
    assert t["example_total_tokens"] == 2_097_152_000_000


def test_forgotten_zero_grad_norm_grows_and_ends_with_higher_loss(default):
    _, data = default
    good, bad = data["runs"]
    assert good["label"].startswith("zero_grad every") and bad["label"].endswith("forgotten")
    # the first step is identical, afterwards the forgotten run carries all earlier gradients
    assert good["grad_norm"][0] == bad["grad_norm"][0]
    assert bad["grad_norm"][-1] > 1.5 * bad["grad_norm"][0]
    assert all(b > 1.5 * g for g, b in zip(good["grad_norm"][2:], bad["grad_norm"][2:]))
    assert bad["loss"][-1] > good["loss"][-1]
    # the norm of a sum of vectors is at most the sum of their norms
    assert all(n <= s + 1e-4 for n, s in zip(bad["grad_norm"], bad["sum_fresh_norms"]))


def test_forgotten_zero_grad_run_matches_a_plain_torch_loop_and_sums_every_gradient(default):
    """Replay the forgotten-zero_grad run with torch.optim.SGD on a plain one-run model: its
    .grad at step s is the sum of every gradient computed so far (checked vector by vector),
    and the widget's gradient norms are those of this plain loop."""
    values, data = default
    k, b = values["k"], values["micro_batch"]
    model = TinyGPT(GPTConfig(block_size=32)).init_weights(WIDGET.seed)
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=values["lr"])
    batches = BatchStream(load_corpus().train, k * b, 32, WIDGET.seed)
    running = None
    for s in range(values["steps"]):
        x, y = batches.next()
        losses = [model(x[i * b:(i + 1) * b], y[i * b:(i + 1) * b])[1].sum() / k for i in range(k)]
        fresh = torch.cat([g.reshape(-1) for g in torch.autograd.grad(sum(losses), params, retain_graph=True)])
        running = fresh if running is None else running + fresh
        for loss in losses:
            loss.backward(retain_graph=True)  # no zero_grad: .grad keeps everything
        grad = torch.cat([p.grad.reshape(-1) for p in params])
        torch.testing.assert_close(grad, running, rtol=1e-4, atol=1e-6)
        assert data["runs"][1]["grad_norm"][s] == pytest.approx(grad.norm().item(), rel=1e-4)
        opt.step()


def test_one_batch_gradient_helper_is_plain_backward():
    model = TinyGPT(GPTConfig(block_size=32)).init_weights(1)
    x, y = fixed_batch(load_corpus().train, 4, 32, 1)
    g = one_batch_gradient(model, x, y)
    assert g.numel() == sum(p.numel() for p in model.parameters())
    torch.testing.assert_close(accumulated_gradient(model, x, y, 1), g)
