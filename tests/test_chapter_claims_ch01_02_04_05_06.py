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
    tested = {("batch-size", "accum-equal"), ("batch-size", "forgot-zero-grad")}
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
