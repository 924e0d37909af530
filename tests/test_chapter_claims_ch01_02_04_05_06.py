"""Claims in chapters 1, 2, 4, 5 and 6 about what a widget's default run shows.

Every sentence in those chapters that states an outcome of a widget run is wrapped in
<!-- CLAIM:<slug>:<id> --> ... <!-- /CLAIM -->. Each test here recomputes the widget at the
same parameters the chapter's directive uses (the defaults unless the directive says
otherwise) and checks the claim on the real data, so the prose cannot drift from the runs.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache

import pytest

from app.content import parse_chapter
from app.settings import Settings
from widgets.registry import all_widgets

CHAPTERS = Settings().content_dir / "chapters"


def chapter_text(name: str) -> str:
    return (CHAPTERS / name).read_text(encoding="utf-8")


def claim(name: str, claim_id: str) -> str:
    """The text of one CLAIM block; fails if the block is missing."""
    slug = parse_chapter(CHAPTERS / name).slug
    m = re.search(rf"<!-- CLAIM:{re.escape(slug)}:{re.escape(claim_id)} -->(.*?)<!-- /CLAIM -->",
                  chapter_text(name), re.S)
    assert m, f"{name}: no CLAIM:{slug}:{claim_id} block"
    return " ".join(m.group(1).split())


def directive_params(name: str, widget: str) -> dict:
    uses = [w for w in parse_chapter(CHAPTERS / name).widgets if w.name == widget]
    assert uses, f"{name} has no {widget} widget"
    return uses[0].overrides


@lru_cache(maxsize=None)
def _run(widget: str, overrides: tuple) -> dict:
    w = all_widgets()[widget]
    return w.compute(w.canonicalize(dict(overrides)))


def run_as_in_chapter(name: str, widget: str) -> dict:
    return _run(widget, tuple(sorted(directive_params(name, widget).items())))


def test_every_claim_block_is_closed_and_has_a_test():
    """Each CLAIM id in these chapters is one this file checks."""
    tested = {("batch-size", "accum-equal"), ("batch-size", "forgot-zero-grad"),
              ("sgd-to-adamw", "bias-steps"), ("sgd-to-adamw", "race-default"),
              ("sgd-to-adamw", "race-rotated"), ("training-loop", "sanity-default"),
              ("training-loop", "label-shift")}
    found = set()
    for name in ("01-training-loop.md", "02-sgd-to-adamw.md", "04-batch-size.md",
                 "05-gradient-clipping.md", "06-regularisation.md"):
        path = CHAPTERS / name
        if not path.exists():
            continue
        text = chapter_text(name)
        opens = re.findall(r"<!-- CLAIM:([a-z0-9-]+):([a-z0-9-]+) -->", text)
        assert len(opens) == text.count("<!-- /CLAIM -->"), f"{name}: unbalanced CLAIM blocks"
        found |= set(opens)
    assert found <= tested, f"claims without a test: {sorted(found - tested)}"


# --- chapter 1: the training loop ----------------------------------------------------------
CH1 = "01-training-loop.md"


def test_ch1_initial_loss_near_ln65_and_single_batch_overfit():
    text = claim(CH1, "sanity-default")
    assert "4.19" in text and "100 steps" in text and "about 0.01" in text
    data = run_as_in_chapter(CH1, "sanity")
    assert data["steps"] == 100
    v65 = next(v for v in data["vocab"] if v["vocab_size"] == 65)
    assert round(v65["initial_loss"], 2) == 4.19 and round(v65["ln_v"], 2) == 4.17
    overfit = data["runs"]["overfit"]
    assert len(overfit["loss"]) == 100 and overfit["loss"][-1] < 0.02
    # "rises, from about 3.3 to about 6.8"
    val = overfit["val_loss"]
    assert round(val[0], 1) == 3.3 and round(val[-1], 1) == 6.8 and val == sorted(val)


def test_ch1_label_shift_bug_is_too_good_to_be_true():
    text = claim(CH1, "label-shift")
    assert "below 0.01" in text and "above 2.5" in text
    data = run_as_in_chapter(CH1, "sanity")
    assert data["bug"] == "label-shift"
    assert data["runs"]["buggy"]["val_loss"][-1] < 0.01
    assert data["runs"]["healthy"]["val_loss"][-1] > 2.5


# --- chapter 2: from SGD to AdamW ------------------------------------------------------------
CH2 = "02-sgd-to-adamw.md"


def test_ch2_uncorrected_adam_step_is_3_2x_at_step_1_and_peaks_near_6_6_around_step_12():
    text = claim(CH2, "bias-steps")
    assert "3.2 times" in text and "6.6 near step 12" in text
    values = all_widgets()["bias-correction"].canonicalize(directive_params(CH2, "bias-correction"))
    assert values["gradient"] == "constant" and values["beta2"] == 0.999
    data = run_as_in_chapter(CH2, "bias-correction")
    ratio = [u / c for u, c in zip(data["step_uncorrected"], data["step_corrected"])]
    assert round(ratio[0], 1) == 3.2
    peak = max(range(len(ratio)), key=ratio.__getitem__)
    assert 10 <= peak + 1 <= 14, peak + 1  # "near step 12" (steps count from 1)
    assert round(ratio[peak], 1) == 6.6
    assert ratio[-1] < ratio[peak]  # "slowly falls back"
    # "m has nearly caught up by then, while v is still far below its true value"
    i = peak
    assert data["m"][i] / data["m_hat"][i] > 0.7 and data["v"][i] / data["v_hat"][i] < 0.02


def race_distances(overrides: dict) -> dict:
    w = all_widgets()["optimizer-race"]
    data = _run("optimizer-race", tuple(sorted(overrides.items())))
    assert w.canonicalize(overrides)["steps"] == 150 and w.canonicalize(overrides)["kappa"] == 100
    return {r["name"]: r["distance"][-1] for r in data["runs"]}


def test_ch2_race_default_sgd_far_momentum_rmsprop_adam_close():
    text = claim(CH2, "race-default")
    assert "150 steps" in text and "more than 0.5" in text and "within 0.01" in text
    d = race_distances(directive_params(CH2, "optimizer-race"))
    assert d["sgd"] > 0.5
    for name in ("momentum", "rmsprop", "adam"):
        assert d[name] < 0.01, (name, d[name])


def test_ch2_race_rotated_adam_ends_farther_than_sgd():
    text = claim(CH2, "race-rotated")
    assert "45 degrees" in text
    d = race_distances({**directive_params(CH2, "optimizer-race"), "angle": 45.0})
    assert d["adam"] > d["sgd"]
    assert d["momentum"] < 0.01  # "momentum still gets close"


# --- chapter 4: batch size and gradient accumulation ----------------------------------------
CH4 = "04-batch-size.md"


def test_ch4_accumulated_gradient_equals_one_batch_to_float_rounding():
    text = claim(CH4, "accum-equal")
    assert "$k = 4$ micro-batches of 4 sequences" in text
    params = all_widgets()["grad-accumulation"].canonicalize(directive_params(CH4, "grad-accumulation"))
    assert params["k"] == 4 and params["micro_batch"] == 4
    check = run_as_in_chapter(CH4, "grad-accumulation")["check"]
    # "about 3e-8": between 1e-8 and 1e-7; "relative difference below 1e-7"
    assert 1e-8 <= check["max_abs_diff"] < 1e-7
    assert check["relative_diff"] < 1e-7
    # "exactly 4 times larger"
    assert "exactly 4 times" in text
    assert check["ratio_not_divided"] == pytest.approx(4.0, abs=1e-5)


def test_ch4_forgetting_zero_grad_grows_the_gradient_and_ends_higher():
    text = claim(CH4, "forgot-zero-grad")
    assert "about three times" in text and "step 10" in text and "higher loss" in text
    data = run_as_in_chapter(CH4, "grad-accumulation")
    assert data["steps"] == 10
    good, forgot = data["runs"]
    assert good["label"] == "zero_grad every step" and forgot["label"] == "zero_grad forgotten"
    ratio = forgot["grad_norm"][9] / good["grad_norm"][9]
    assert 2.5 <= ratio <= 3.5, ratio
    assert forgot["grad_norm"][9] > forgot["grad_norm"][0]  # it climbs
    assert forgot["loss"][-1] > good["loss"][-1]
    assert all(math.isfinite(v) for v in forgot["loss"])
