"""optimizer-race: the caption's claims on the real default race, and the cross-field rule."""
from __future__ import annotations

import pytest
import torch

from widgets.base import ParamError
from widgets.optimizer_race import WIDGET, surface
from shared_runs import widget_run, widget_data


def final(data, label):
    return next(r for r in data["runs"] if r["label"] == label)


@pytest.fixture(scope="module")
def default():
    return widget_run(WIDGET.name)


def test_on_the_default_valley_sgd_is_far_while_momentum_and_adam_arrive(default):
    values, data = default
    assert values["kappa"] == 100 and values["steps"] == 150 and values["angle"] == 0
    assert [r["label"] for r in data["runs"]] == ["SGD", "SGD + momentum", "RMSProp", "Adam", "AdamW"]
    sgd, momentum, adam = (final(data, n)["distance"][-1] for n in ("SGD", "SGD + momentum", "Adam"))
    assert sgd > 0.5
    assert momentum < 0.01 and adam < 0.01
    assert all(len(r["loss"]) == 151 and r["diverged_at"] is None for r in data["runs"])
    # every racer starts at the same point
    assert all((r["x"][0], r["y"][0]) == (pytest.approx(-1.4), pytest.approx(2.3)) for r in data["runs"])


def test_rotated_45_degrees_adam_ends_farther_away_than_plain_sgd():
    values = WIDGET.canonicalize({"angle": 45})
    data = WIDGET.compute(values)
    assert final(data, "Adam")["distance"][-1] > final(data, "SGD")["distance"][-1]


def test_sgd_diverges_above_two_over_kappa():
    data = widget_data(WIDGET.name, {"lr_sgd": 0.021, "show_rmsprop": False})
    assert final(data, "SGD")["diverged_at"] is not None
    assert len(final(data, "SGD")["loss"]) < 151
    stable = widget_data(WIDGET.name, {"lr_sgd": 0.019})
    assert final(stable, "SGD")["diverged_at"] is None


def test_the_path_follows_the_course_optimizer_on_autograd_gradients():
    """One Adam step by hand from the surface's analytic gradient matches the recorded path."""
    values = WIDGET.canonicalize({"steps": 10})
    data = WIDGET.compute(values)
    adam = final(data, "Adam")
    p = torch.tensor([[-1.4, 2.3]], requires_grad=True)
    ref = torch.optim.Adam([p], lr=values["lr_adaptive"], betas=(values["beta1"], values["beta2"]))
    for t in range(10):
        # valley at angle 0: f = 0.5 ((x-1)^2 + kappa (y-1)^2), gradient written out by hand
        x, y = p.detach()[0].tolist()
        p.grad = torch.tensor([[x - 1.0, values["kappa"] * (y - 1.0)]])
        ref.step()
        assert p[0, 0].item() == pytest.approx(adam["x"][t + 1], abs=1e-5)
        assert p[0, 1].item() == pytest.approx(adam["y"][t + 1], abs=1e-5)


def test_surface_minimum_is_at_one_one():
    for kind in ("valley", "rosenbrock"):
        assert surface(torch.tensor([1.0, 1.0]), kind, 100.0, 30.0).item() == pytest.approx(0.0, abs=1e-10)
        assert surface(torch.tensor([0.0, 0.0]), kind, 100.0, 30.0).item() > 0


def test_switching_every_optimizer_off_is_refused_and_one_can_be_hidden():
    off = {f"show_{n}": "false" for n in ("sgd", "momentum", "rmsprop", "adam", "adamw")}
    with pytest.raises(ParamError) as caught:
        WIDGET.canonicalize(off)
    assert caught.value.field == "show_sgd"
    data = widget_data(WIDGET.name, {**off, "show_adam": "true", "steps": 10})
    assert [r["label"] for r in data["runs"]] == ["Adam"]


def test_figure_keeps_fixed_axes_and_one_colour_per_optimizer(default):
    values, data = default
    fig = WIDGET.figure(values, data)
    assert fig["layout"]["xaxis"]["range"] == [-2.0, 2.5] and fig["layout"]["yaxis2"]["type"] == "log"
    assert fig["data"][0]["type"] == "contour"
