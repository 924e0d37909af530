"""optimizer-race-gpt: the caption's claim on the real default runs, and the cross-field rule."""
from __future__ import annotations

import pytest

from widgets.base import ParamError
from widgets.optimizer_race_gpt import WIDGET
from shared_runs import widget_data


@pytest.fixture(scope="module")
def default():
    values = WIDGET.canonicalize({})
    reports = []
    # partial data shares its lists with the growing history: note their lengths as they arrive
    data = WIDGET.compute(values, lambda partial, done, total: reports.append(
        (done, total, len(partial["runs"][0]["loss"]), WIDGET.figure(values, partial) if done == 1 else None)))
    return values, data, reports


def final_val(data, label):
    return next(r for r in data["runs"] if r["label"] == label)["val_loss"][-1]


def test_adam_and_adamw_beat_sgd_by_at_least_0_2_and_momentum_lands_between(default):
    values, data, _ = default
    assert values["steps"] == 80
    runs = {r["label"]: r for r in data["runs"]}
    assert list(runs) == ["SGD", "SGD + momentum", "Adam", "AdamW"]
    assert len({r["loss"][0] for r in data["runs"]}) == 1  # same weights, same first batch
    assert all(len(r["loss"]) == 80 and r["diverged_at"] is None for r in data["runs"])
    sgd, momentum = final_val(data, "SGD"), final_val(data, "SGD + momentum")
    best_adam = max(final_val(data, "Adam"), final_val(data, "AdamW"))
    assert sgd - best_adam >= 0.2
    assert best_adam < momentum < sgd


def test_progress_reports_grow_to_the_final_shape(default):
    values, data, reports = default
    assert reports[0][0] == 1 and reports[-1][0] == 80 and all(total == 80 for _, total, _, _ in reports)
    assert [length for _, _, length, _ in reports] == [done for done, _, _, _ in reports]
    assert reports[0][3]["data"]  # the first partial result already draws


def test_adam_and_adamw_differ_only_by_the_decay():
    no_decay = widget_data(WIDGET.name, {"steps": 20, "weight_decay": 0, "show_sgd": False,
                                         "show_momentum": False})
    adam, adamw = no_decay["runs"]
    assert adam["loss"] == adamw["loss"]
    decayed = widget_data(WIDGET.name, {"steps": 20, "show_sgd": False, "show_momentum": False})
    assert decayed["runs"][1]["param_norm"][-1] < decayed["runs"][0]["param_norm"][-1]


def test_switching_every_optimizer_off_is_refused():
    with pytest.raises(ParamError) as caught:
        WIDGET.canonicalize({f"show_{n}": "false" for n in ("sgd", "momentum", "adam", "adamw")})
    assert caught.value.field == "show_sgd"
