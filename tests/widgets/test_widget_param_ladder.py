"""The parameter ladder: real counts from the real model, GPT-2's published sizes, presets, rules."""
from __future__ import annotations

import pytest
import torch

from widgets.base import ParamError
from widgets.lab.model import GPTConfig, TinyGPT, count_parameters
from widgets.param_ladder import GPT3, PRESETS
from widgets.registry import get_widget
from shared_runs import widget_run, widget_data

WIDGET = get_widget("param-ladder")


@pytest.fixture(scope="module")
def default():
    return widget_run(WIDGET.name)


def rung(data, start):
    return next(r for r in data["rungs"] if r["label"].startswith(start))


def test_caption_claim_default_is_the_course_model_and_gpt3_is_1_6_million_times_larger(default):
    values, data = default
    assert "108,352" in WIDGET.caption and "1.6 million" in WIDGET.caption
    on_cpu = count_parameters(TinyGPT(GPTConfig(), runs=1))  # built for real, with memory
    assert data["yours"] == on_cpu and data["yours"]["total"] == 108_352
    ratio = rung(data, "GPT-3")["params"] / data["yours"]["total"]
    assert 1.55e6 < ratio < 1.65e6


@pytest.mark.parametrize("preset,published", [
    ("gpt2", 124_439_808), ("gpt2-medium", 354_823_168), ("gpt2-large", 774_030_080), ("gpt2-xl", 1_557_611_200),
])
def test_gpt2_presets_give_the_published_counts(preset, published):
    values = WIDGET.canonicalize({"preset": preset, "n_layer": "3", "n_embd": "96"})  # the preset wins
    assert values["vocab_size"] == 50257 and values["block_size"] == 1024 and values["tie_weights"]
    assert WIDGET.compute(values)["yours"]["total"] == published


def test_sliders_configured_like_gpt2_small_give_its_count_too():
    values = WIDGET.canonicalize({"n_layer": "12", "n_embd": "768", "n_head": "12", "vocab_size": "50257",
                                  "block_size": "1024", "tie_weights": "true", "bias": "true"})
    assert WIDGET.compute(values)["yours"]["total"] == 124_439_808


def test_the_this_course_preset_matches_the_default_model():
    values = WIDGET.canonicalize({"preset": "this-course", "n_layer": "7"})
    assert values["n_layer"] == GPTConfig().n_layer
    assert WIDGET.compute(values)["yours"]["total"] == count_parameters(TinyGPT(GPTConfig()))["total"]


def test_splits_add_up_and_follow_the_model_rules():
    data = widget_data(WIDGET.name, {"preset": "gpt2"})["yours"]
    assert data["embedding"] + data["non_embedding"] == data["total"]
    assert data["decayed"] + data["not_decayed"] == data["total"]
    assert data["embedding"] == 50257 * 768 + 1024 * 768  # token table (tied: counted once) + positions
    assert data["decayed"] == 12 * (768 * 3 * 768 + 768 * 768 + 2 * 768 * 4 * 768)  # the weight matrices


def test_untying_adds_the_output_matrix():
    tied = widget_data(WIDGET.name, {"tie_weights": "true"})["yours"]["total"]
    untied = widget_data(WIDGET.name, {"tie_weights": "false"})["yours"]["total"]
    assert untied - tied == 65 * 64


def test_rungs_are_counted_except_the_labelled_published_one(default):
    _, data = default
    assert rung(data, "a line")["params"] == 2
    assert rung(data, "GPT-2 XL")["params"] == 1_557_611_200
    gpt3 = rung(data, "GPT-3")["params"]
    with torch.device("meta"):
        assert gpt3 == count_parameters(TinyGPT(GPT3))["total"]
    assert gpt3 == 174_604_259_328  # what GPT-3's configuration counts; the paper says 175B
    assert abs(gpt3 - 175e9) / 175e9 < 0.01
    # the one figure not counted here says so; every other rung is counted from a configuration
    published = [r for r in data["rungs"] if not r["source"].startswith("counted")]
    assert [r["label"] for r in published] == [rung(data, "hybrid")["label"]]
    assert "published" in published[0]["source"] and "not counted" in published[0]["source"]


def test_ratios_are_relative_to_the_current_configuration():
    values = WIDGET.canonicalize({"preset": "gpt2-xl"})
    data = WIDGET.compute(values)
    texts = WIDGET.figure(values, data)["data"][0]["text"]
    assert any("112× your model" in t for t in texts)  # GPT-3 / GPT-2 XL
    rows = WIDGET.tables(values, data)[0]["rows"]
    assert ["GPT-2 XL", "1,557,611,200", "1× your model"] == rows[3][:3]


def test_the_ladder_axis_is_fixed():
    small = WIDGET.figure(*(lambda v: (v, WIDGET.compute(v)))(WIDGET.canonicalize({})))
    large = WIDGET.figure(*(lambda v: (v, WIDGET.compute(v)))(WIDGET.canonicalize({"preset": "gpt2"})))
    assert small["layout"]["xaxis"]["range"] == large["layout"]["xaxis"]["range"]


def test_heads_must_divide_the_width():
    with pytest.raises(ParamError) as caught:
        WIDGET.canonicalize({"n_embd": "96", "n_head": "5"})
    assert caught.value.field == "n_head" and "n_embd=96" in caught.value.message
    assert WIDGET.canonicalize({"n_embd": "96", "n_head": "6"})["n_head"] == 6
    # a preset replaces the sliders before the rule is checked
    assert WIDGET.canonicalize({"preset": "gpt2-xl", "n_embd": "96", "n_head": "5"})["n_head"] == 25


def test_each_preset_sets_the_sliders_to_its_model():
    for name, config in PRESETS.items():
        values = WIDGET.canonicalize({"preset": name, "n_layer": "1", "n_embd": "32", "n_head": "2"})
        assert {k: values[k] for k in config} == config, name  # the preset wins over the sliders
