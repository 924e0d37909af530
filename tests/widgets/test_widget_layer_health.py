"""Layer health: the caption's and chapters 1 and 8's claims on the real runs, the telemetry
against a plain model's own numbers, and each planted fault against torch."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from claim_helpers import claim, directive_params
from shared_runs import widget_data
from widgets.base import ParamError
from widgets.lab.data import BatchStream, load_corpus
from widgets.lab.layer_health import Fault
from widgets.lab.model import GPTConfig, TinyGPT
from widgets.lab.reference import from_run
from widgets.lab.schedules import Schedule
from widgets.lab.trainer import RunConfig, TrainSpec
from widgets.layer_health import ROWS, WIDGET, grid_layout

CH1, CH8 = "01-training-loop.md", "08-instabilities.md"
HEALTHY, FAULTY = range(2)
TINY = GPTConfig(block_size=16, n_layer=3, n_head=2, n_embd=32)


@pytest.fixture(scope="module")
def default_run():
    return widget_data(WIDGET.name, {})


def layer(run: dict, key: str, index: int) -> list[float]:
    return [step[index] for step in run[key]]


# --- the caption and chapter 1: a bad init in layer 2 -------------------------------------------
def test_caption_matches_the_defaults(default_run):
    defaults = WIDGET.defaults()
    assert (defaults["fault"], defaults["fault_layer"], defaults["fault_factor"], defaults["n_layer"]) == \
        ("bad-init", 2, 10.0, 4)
    assert "4-layer" in WIDGET.caption and "layer 2" in WIDGET.caption and "10 times too large" in WIDGET.caption
    assert [r["label"] for r in default_run["runs"]] == ["healthy", "layer 2 init ×10"]


def test_caption_claim_the_bad_layer_is_loud_and_moves_slowly(default_run):
    assert "more than 10 times the healthy run's" in WIDGET.caption and "several times smaller" in WIDGET.caption
    healthy, faulty = default_run["runs"]
    assert healthy["diverged_at"] is None and faulty["diverged_at"] is None and len(faulty["loss"]) == 100
    # activation RMS of layer 2 against the healthy run's (15.8x at the least on every kernel set seen)
    assert min(f / h for f, h in zip(layer(faulty, "act_rms", 1), layer(healthy, "act_rms", 1))) > 10
    # update-to-weight ratio of layer 2, healthy over faulty (5.1x at the least seen)
    assert min(h / f for f, h in zip(layer(faulty, "update_ratio", 1), layer(healthy, "update_ratio", 1))) > 3


def test_the_runs_share_weights_and_batches_up_to_the_fault(default_run):
    healthy, faulty = default_run["runs"]
    # layer 1 comes before the fault: on the first step it computes the same numbers in both runs
    assert faulty["act_rms"][0][0] == pytest.approx(healthy["act_rms"][0][0], rel=1e-6)
    assert faulty["attn_logit"][0][0] == pytest.approx(healthy["attn_logit"][0][0], rel=1e-6)
    # on the first step Adam moves every weight by about the LR: the ratio is 10x smaller on 10x larger weights
    assert faulty["update_ratio"][0][1] == pytest.approx(healthy["update_ratio"][0][1] / 10, rel=0.02)


def test_chapter_1_claim_the_faulty_layer_stands_out_from_its_neighbours(default_run):
    text = claim(CH1, "layer-health-bad-init")
    for part in ("At the defaults", "layer 2", "10 times too large", "more than 10 times layer 1's",
                 "even 3 times the one below it", "at least 3 times below every other", "near $2 \\times 10^{-2}$"):
        assert part in text, part
    assert directive_params(CH1, WIDGET.name) == {}
    healthy, faulty = default_run["runs"]
    steps = range(len(faulty["act_rms"]))
    # within the faulty run: layer 2 over layer 1 (25.6x at the least seen)
    assert min(faulty["act_rms"][t][1] / faulty["act_rms"][t][0] for t in steps) > 10
    # the healthy run: no layer's activation RMS is 3x the one below it (1.91x at the most seen)
    assert max(healthy["act_rms"][t][k + 1] / healthy["act_rms"][t][k] for t in steps for k in range(3)) < 3
    # every other layer's ratio over layer 2's, in the faulty run (5.5x at the least seen)
    assert min(faulty["update_ratio"][t][k] / faulty["update_ratio"][t][1] for t in steps for k in (0, 2, 3)) > 3
    # the healthy ratios peak near 2e-2 (0.0216 seen)
    assert 0.012 < max(max(step) for step in healthy["update_ratio"]) < 0.035


# --- chapter 8: no QK-norm at a high LR ---------------------------------------------------------
def test_chapter_8_claim_qk_norm_and_the_soft_cap_bound_the_attention_logit():
    text = claim(CH8, "layer-health-qk")
    for part in ("learning rate of 0.01", "past 20 within the first 50 steps", "never goes above 4",
                 "soft cap of 10", "stays below 10"):
        assert part in text, part
    params = directive_params(CH8, WIDGET.name)
    assert params == {"fault": "no-qk-norm", "peak_lr": 0.01}
    healthy, faulty = widget_data(WIDGET.name, params)["runs"]
    assert healthy["label"] == "healthy (QK-norm)" and faulty["label"] == "no QK-norm"
    assert max(max(step) for step in healthy["attn_logit"]) <= 4 + 1e-4  # |q.k| <= 16 for RMS-normed heads of 16
    assert max(max(step) for step in faulty["attn_logit"][:50]) > 20  # 26.6 and 30.2 seen
    capped = widget_data(WIDGET.name, {**params, "attn_softcap": 10})["runs"]
    assert max(max(step) for step in capped[FAULTY]["attn_logit"]) < 10
    assert max(max(step) for step in capped[FAULTY]["attn_logit"]) > 5  # the cap is what holds it, not a calm run


# --- the telemetry against a plain model's numbers ----------------------------------------------
def _tiny_spec(steps: int = 3, runs: int = 2, schedule: Schedule | None = None) -> TrainSpec:
    schedule = schedule or Schedule("constant", peak_lr=3e-3, warmup=0, total=steps)
    return TrainSpec(model=TINY, runs=tuple(RunConfig(f"r{r}", schedule) for r in range(runs)), steps=steps,
                     batch_size=4, seed=5, eval_every=0)


def _reference_telemetry(before, after, x, y) -> dict:
    """The four numbers per layer for one plain (reference) GPT, the straightforward way."""
    outputs, scores = [], []
    for block in before.h:
        block.register_forward_hook(lambda m, args, out: outputs.append(out.detach()))
        block.attn.c_attn.register_forward_hook(lambda m, args, out: scores.append(out.detach()))
    _, loss = before(x, y)
    loss.backward()
    T, C = x.shape[1], TINY.n_embd
    d = C // TINY.n_head
    result = {"act_rms": [], "grad_rms": [], "update_ratio": [], "attn_logit": []}
    for index, (old, new) in enumerate(zip(before.h, after.h)):
        mats = [(b.attn.c_attn.weight, b.attn.c_proj.weight, b.mlp.c_fc.weight, b.mlp.c_proj.weight) for b in (old, new)]
        result["act_rms"].append(outputs[index].pow(2).mean().sqrt().item())
        grads = torch.cat([w.grad.flatten() for w in mats[0]])
        result["grad_rms"].append(grads.pow(2).mean().sqrt().item())
        moved = sum(((n - o) ** 2).sum() for o, n in zip(*mats)).sqrt()
        result["update_ratio"].append((moved / sum((o ** 2).sum() for o in mats[0]).sqrt()).item())
        q, k, _ = scores[index].split(C, dim=-1)
        q, k = (t.view(x.shape[0], T, TINY.n_head, d).transpose(1, 2) for t in (q, k))
        logits = (q @ k.transpose(-2, -1)) / math.sqrt(d)
        logits = logits.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), -math.inf)
        result["attn_logit"].append(logits.max().item())
    return result


@pytest.mark.parametrize("fault", [Fault("bad init", layer=1, factor=5.0), Fault("high LR", layer=2, factor=4.0)])
def test_telemetry_matches_a_plain_model_step(fault):
    trainer = fault.trainer(_tiny_spec())
    before = [from_run(trainer.model, r) for r in range(2)]
    x, y = BatchStream(load_corpus().train, 4, TINY.block_size, 5).next()
    trainer.train_step()
    after = [from_run(trainer.model, r) for r in range(2)]
    result = trainer.result()
    for r in range(2):
        expected = _reference_telemetry(before[r], after[r], x, y)
        for key, values in expected.items():
            assert result["runs"][r][key][0] == pytest.approx(values, rel=2e-4, abs=1e-7), (r, key)


def test_telemetry_costs_no_host_sync_per_step():
    """The numbers stay on the device until a report: nothing is read back while it trains."""
    trainer = Fault("bad init", layer=0).trainer(_tiny_spec(steps=4))
    for _ in range(4):
        trainer.train_step()
    pending = trainer._rows[-1][2]
    assert set(pending) == {"act_rms", "grad_rms", "update_ratio", "attn_logit"}
    assert all(isinstance(v, torch.Tensor) and v.shape == (2, TINY.n_layer) for v in pending.values())
    assert trainer.history[0].extra["act_rms"] == []  # read back only by result()
    assert len(trainer.result()["runs"][0]["act_rms"]) == 4


# --- the faults against torch ---------------------------------------------------------------------
def test_bad_init_scales_only_that_layers_matrices_of_the_faulty_run():
    trainer = Fault("bad init", layer=1, factor=7.0).trainer(_tiny_spec())
    for name, p in trainer.model.named_parameters():
        if name.startswith("blocks.1.") and p.dim() == 3:
            torch.testing.assert_close(p[1], 7.0 * p[0], rtol=0, atol=0)
        else:
            assert torch.equal(p[0], p[1]), name


def test_high_lr_on_one_layer_matches_torch_adamw_with_param_groups():
    """The faulty run against torch.optim.AdamW on a plain GPT whose layer 1 is a parameter group of its own."""
    steps, lr, factor = 6, 2e-3, 5.0
    spec = _tiny_spec(steps=steps, schedule=Schedule("constant", peak_lr=lr, warmup=0, total=steps))
    result = Fault("high LR", layer=1, factor=factor).trainer(spec).run()
    plain = from_run(TinyGPT(TINY, runs=1).init_weights(spec.seed), 0)
    mine = [p for n, p in plain.named_parameters() if n.startswith("h.1.")]
    rest = [p for n, p in plain.named_parameters() if not n.startswith("h.1.")]
    assert mine and rest
    optimizer = torch.optim.AdamW([{"params": rest, "lr": lr}, {"params": mine, "lr": lr * factor}],
                                  betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
    batches = BatchStream(load_corpus().train, 4, TINY.block_size, spec.seed)
    losses = []
    for _ in range(steps):
        _, loss = plain(*batches.next())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert result["runs"][FAULTY]["loss"] == pytest.approx(losses, abs=1e-4)
    assert result["runs"][HEALTHY]["loss"][-1] != pytest.approx(losses[-1], abs=1e-3)  # the fault changed the run
    assert result["runs"][FAULTY]["lr"] == pytest.approx([lr] * steps)  # the ordinary LR is what is recorded


def test_high_lr_first_update_is_factor_times_the_healthy_one():
    trainer = Fault("high LR", layer=0, factor=8.0).trainer(_tiny_spec(steps=1))
    trainer.run()
    ratio = trainer.result()["runs"]
    assert ratio[FAULTY]["update_ratio"][0][0] == pytest.approx(8.0 * ratio[HEALTHY]["update_ratio"][0][0], rel=1e-4)
    for k in (1, 2):  # the other layers move as in the healthy run
        assert ratio[FAULTY]["update_ratio"][0][k] == pytest.approx(ratio[HEALTHY]["update_ratio"][0][k], rel=1e-5)


def test_with_several_seeds_the_fault_is_planted_in_every_seeds_faulty_run():
    """Seeds stack seed-major (healthy, faulty, healthy, faulty...): run 1 of each seed gets the fault."""
    spec = dataclasses.replace(_tiny_spec(steps=1), seeds=2)
    bad = Fault("bad init", layer=1, factor=7.0).trainer(spec)
    for name, p in bad.model.named_parameters():
        if name.startswith("blocks.1.") and p.dim() == 3:
            for healthy, faulty in ((0, 1), (2, 3)):
                torch.testing.assert_close(p[faulty], 7.0 * p[healthy], rtol=0, atol=0)
    assert not torch.equal(bad.model.wte[0], bad.model.wte[2])  # the second seed's own weights
    high = Fault("high LR", layer=0, factor=8.0).trainer(spec)
    high.run()
    ratio = high.result()["runs"]
    for healthy, faulty in ((0, 1), (2, 3)):
        assert ratio[faulty]["update_ratio"][0][0] == pytest.approx(8 * ratio[healthy]["update_ratio"][0][0], rel=1e-4)
    no_qk = Fault("no QK-norm").trainer(spec)
    assert no_qk.model.blocks[0].attn.qk_norm_runs.tolist() == [True, False, True, False]


def test_a_fault_needs_the_right_number_of_runs():
    with pytest.raises(ValueError, match="2 run"):
        Fault("bad init").trainer(_tiny_spec(runs=1))
    with pytest.raises(ValueError, match="unknown fault"):
        Fault("exploding")


# --- parameters ------------------------------------------------------------------------------------
def test_the_faulty_layer_must_exist(client):
    with pytest.raises(ParamError) as caught:
        WIDGET.canonicalize({"n_layer": 3, "fault_layer": 4})
    assert caught.value.field == "fault_layer" and "n_layer=3" in caught.value.message
    WIDGET.canonicalize({"n_layer": 4, "fault_layer": 4})
    response = client.get("/api/widgets/layer-health", params={"n_layer": 3, "fault_layer": 4})
    assert response.status_code == 422 and "fault_layer" in response.text
    response = client.get("/api/widgets/layer-health", params={"fault_factor": 1000})
    assert response.status_code == 422 and "fault_factor" in response.text


def test_one_spelling_per_run():
    """Settings a fault ignores are reset, so two spellings of one run are one cache key."""
    healthy = WIDGET.canonicalize({"fault": "healthy", "fault_layer": 5, "fault_factor": 50, "n_layer": 3})
    assert healthy == WIDGET.canonicalize({"fault": "healthy", "n_layer": 3})
    no_qk = WIDGET.canonicalize({"fault": "no-qk-norm", "qk_norm": "false"})
    assert no_qk["qk_norm"] is True and no_qk == WIDGET.canonicalize({"fault": "no-qk-norm", "qk_norm": "true"})
    assert WIDGET.canonicalize({"fault": "bad-init", "fault_layer": 3})["fault_layer"] == 3
    assert len(WIDGET.spec(WIDGET.canonicalize({"fault": "healthy"})).runs) == 1
    # the fault's values were its labels until choices became (value, label): old links still parse
    for old, value in (("bad init", "bad-init"), ("high LR", "high-lr"), ("no QK-norm", "no-qk-norm")):
        assert WIDGET.canonicalize({"fault": old}) == WIDGET.canonicalize({"fault": value})
        assert WIDGET.param("fault").label_of(value) == old


# --- the chart: small multiples a phone can read ------------------------------------------------------
def test_figure_is_a_grid_of_layers_by_quantity(default_run):
    values = WIDGET.canonicalize({})
    fig = WIDGET.figure(values, default_run)
    assert len(fig["data"]) == 2 * 4 * values["n_layer"]
    assert sum(t["showlegend"] for t in fig["data"]) == 2  # one legend entry per run
    layout = fig["layout"]
    for note in layout["annotations"]:  # nothing outside the plot area
        assert note["xref"] == note["yref"] == "paper" and 0 <= note["x"] <= 1 and 0 <= note["y"] <= 1
    titles = [layout[k]["title"]["text"] for k in layout if k.startswith("yaxis") and "title" in layout[k]]
    assert len(titles) == 4 and max(map(len, titles)) <= 10  # short: a phone has room for little more
    cells = [k for k in layout if k.startswith("xaxis")]
    assert len(cells) == 4 * values["n_layer"]
    for key in cells:
        low, high = layout[key]["domain"]
        assert 0 <= low < high <= 1


def test_grid_cells_do_not_overlap():
    layout = grid_layout(4, 6, ["a", "b", "c", "d"], [True, True, True, False], 100)
    boxes = [(tuple(layout[f"xaxis{s}"]["domain"]), tuple(layout[f"yaxis{s}"]["domain"]))
             for s in ["", *map(str, range(2, 25))]]
    for i, (xa, ya) in enumerate(boxes):
        for xb, yb in boxes[i + 1:]:
            assert xa[1] <= xb[0] or xb[1] <= xa[0] or ya[1] <= yb[0] or yb[1] <= ya[0]


def test_qk_norm_and_cap_bounds_are_drawn():
    values = WIDGET.canonicalize({"fault": "no-qk-norm", "attn_softcap": 20})
    assert WIDGET.logit_bounds(values) == [4.0, 20.0]
    assert WIDGET.logit_bounds(WIDGET.canonicalize({})) == []


@pytest.mark.parametrize("changes", [
    {"layout": "peri-ln"}, {"layout": "post-ln", "fault": "high-lr"}, {"logit_softcap": 30, "embed_scale": True},
    {"residual_init_scale": False, "fault": "no-qk-norm", "attn_softcap": 5}, {"fault": "healthy"},
    {"n_layer": 6, "fault_layer": 6, "fault": "high-lr", "fault_factor": 100, "peak_lr": 0.03},
])
def test_every_switch_trains_and_draws(changes):
    values = WIDGET.canonicalize({"steps": 20, "n_layer": 2, **changes})
    data = WIDGET.compute(values)
    figure = WIDGET.figure(values, data)
    assert len(figure["data"]) == len(data["runs"]) * 4 * values["n_layer"]
    for run in data["runs"]:
        done = len(run["loss"])
        assert done == 20 or run["diverged_at"] == done  # a run that blew up stops where it did
        assert all(len(step) == values["n_layer"] for step in run["act_rms"])
    assert all(len(row) == len(table["columns"]) for table in WIDGET.tables(values, data) for row in table["rows"])


def test_five_seeds_draw_a_band_in_every_cell_and_a_paired_test():
    """The five-seed run the chapter's claims use (tests/claims/test_claims_over_five_seeds_lab.py)."""
    data = widget_data(WIDGET.name, {"seeds": 5})
    values = WIDGET.canonicalize({"seeds": 5})
    assert [(r["label"], r["seed"]) for r in data["runs"][:2]] == [("healthy", 1337), ("layer 2 init ×10", 1337)]
    names = [t["name"] for t in WIDGET.figure(values, data)["data"]]
    cells = len(ROWS) * values["n_layer"]
    assert names.count("healthy (mean of 5 seeds) (max over seeds)") == cells
    assert "paired t-test" in WIDGET.findings(values, data)[0]
