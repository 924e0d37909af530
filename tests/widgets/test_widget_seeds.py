"""Several seeds per curve (widgets/spread.py, widgets/lab/seeds.py): the t distribution against
its printed table, seeds that really differ in weights and batches while seed 0 stays the
one-seed run, and the warmup widget's seeds end to end: runs, band, paired test, the JSON
twin, the schema and a 422."""
from __future__ import annotations

import math

import pytest
import torch

from tests.shared_runs import widget_run
from widgets import spread
from widgets.lab.data import BatchStream, load_corpus
from widgets.lab.model import GPTConfig
from widgets.lab.schedules import Schedule
from widgets.lab.seeds import SeededBatches, seed_values
from widgets.lab.trainer import LockstepTrainer, RunConfig, TrainSpec, train
from widgets.registry import all_widgets

TINY = GPTConfig(block_size=16, n_layer=1, n_head=2, n_embd=32)


# --- the test's arithmetic -------------------------------------------------------------------
@pytest.mark.parametrize("t,df,p", [
    # two-sided critical values of Student's t, as printed in any statistics table
    (12.706, 1, 0.05), (4.303, 2, 0.05), (3.182, 3, 0.05), (2.776, 4, 0.05), (2.571, 5, 0.05),
    (9.925, 2, 0.01), (4.604, 4, 0.01), (1.0, 1, 0.5), (0.0, 4, 1.0),
])
def test_t_distribution_matches_the_printed_table(t, df, p):
    assert spread.t_two_sided_p(t, df) == pytest.approx(p, abs=2e-4)
    assert spread.t_two_sided_p(-t, df) == spread.t_two_sided_p(t, df)


def test_paired_t_by_hand():
    # differences 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 3.464 on 2 degrees of freedom
    stats = spread.paired_t([1.0, 2.0, 3.0])
    assert stats["mean"] == 2.0 and stats["sd"] == 1.0 and stats["t"] == pytest.approx(math.sqrt(12))
    assert stats["p"] == pytest.approx(1 - math.sqrt(12) / math.sqrt(2 + 12))  # df 2: P(|T|<t) = t/sqrt(2+t^2)
    assert spread.paired_t([0.5, 0.5, 0.5])["p"] == 0.0 and spread.paired_t([0.0, 0.0, 0.0])["p"] == 1.0


# --- the lab: seeds in one lockstep pass ------------------------------------------------------
def _spec(seeds: int) -> TrainSpec:
    run = RunConfig("a", Schedule("cosine", peak_lr=3e-3, warmup=2, total=8))
    return TrainSpec(model=TINY, runs=(run, RunConfig("b", run.schedule, beta2=0.99)), steps=8, batch_size=4,
                     eval_every=4, eval_batch_size=8, seeds=seeds)


def test_seed_zero_is_the_one_seed_run_and_other_seeds_differ():
    one, three = train(_spec(1), device="cpu"), train(_spec(3), device="cpu")
    assert [r["seed"] for r in three["runs"]] == [s for s in seed_values(1337, 3) for _ in range(2)]
    assert [r["label"] for r in three["runs"]] == ["a", "b"] * 3
    for k in range(2):  # seed-major: the first two runs are the one-seed result, to the bit
        assert three["runs"][k]["loss"] == one["runs"][k]["loss"]
        assert three["runs"][k]["val_loss"] == one["runs"][k]["val_loss"]
    assert three["runs"][2]["loss"][0] != three["runs"][0]["loss"][0]  # other weights, other batches


def test_each_seed_starts_from_its_own_weights_and_reads_its_own_batches():
    trainer = LockstepTrainer(_spec(3), device="cpu")
    wte = trainer.model.wte.detach()
    assert torch.equal(wte[0], wte[1]) and not torch.equal(wte[0], wte[2]) and torch.equal(wte[2], wte[3])
    corpus = load_corpus()
    x, _ = SeededBatches(lambda seed: BatchStream(corpus.train, 4, 16, seed), trainer.run_seeds).next()
    alone = [BatchStream(corpus.train, 4, 16, s).next()[0] for s in seed_values(1337, 3)]
    for r, seed_index in enumerate([0, 0, 1, 1, 2, 2]):
        assert torch.equal(x[r], alone[seed_index])


def test_a_spec_of_several_seeds_refuses_batches_it_would_share():
    with pytest.raises(ValueError, match="own batches"):
        LockstepTrainer(_spec(3), device="cpu", batches=BatchStream(load_corpus().train, 4, 16, 0))


def test_a_widget_s_own_batches_come_per_seed_from_a_factory():
    """Batches a widget chooses (a slice of the text) as a factory seed -> stream: seed 0 reads
    exactly the stream a one-seed trainer is given, the other seeds their own."""
    tokens = load_corpus().train[:5000]
    make = lambda seed: BatchStream(tokens, 4, 16, seed)  # noqa: E731
    one = train(_spec(1), device="cpu", batches=make(1337))
    three = train(_spec(3), device="cpu", batches=make)
    assert [three["runs"][k]["loss"] for k in range(2)] == [r["loss"] for r in one["runs"]]
    assert three["runs"][2]["loss"] != three["runs"][0]["loss"]


def test_per_curve_settings_repeat_for_every_seed():
    """Optimizer blocks, Muon flags and recovery policies are given for one seed's curves."""
    from widgets.lab.optim import SGD, AdamW
    from widgets.lab.seeds import per_seed, per_seed_blocks
    from widgets.lab.optim import per_run_blocks

    assert per_seed([False, True], 6) == [False, True] * 3 and per_seed("ab", 2) == ["a", "b"]
    with pytest.raises(ValueError, match="do not divide"):
        per_seed([1, 2], 5)
    blocks = [(1, lambda groups, runs: SGD(groups, runs, lr=0.05)),
              (1, lambda groups, runs: AdamW(groups, runs, lr=3e-3))]
    assert len(per_seed_blocks(blocks, 6)) == 6
    one = train(_spec(1), device="cpu", optimizer=per_run_blocks(blocks))
    three = train(_spec(3), device="cpu", optimizer=per_run_blocks(blocks))
    assert [three["runs"][k]["loss"] for k in range(2)] == [r["loss"] for r in one["runs"]]
    assert three["runs"][4]["loss"] != three["runs"][0]["loss"]


# --- the warmup widget at seeds=3 -------------------------------------------------------------
def test_warmup_at_three_seeds_has_every_seeds_run_a_band_and_a_paired_test():
    values, data = widget_run("warmup", {"seeds": 3})
    runs = data["runs"]
    assert len(runs) == 6 and data["seeds"] == list(seed_values(1337, 3))
    assert sorted((r["label"], r["seed"]) for r in runs) == sorted(
        (label, s) for label in ("warmup 40", "no warmup") for s in data["seeds"])
    band = data["bands"][1]
    assert band["curve"] == "no warmup" and len(band["mean"]) == 150
    assert all(lo <= mid <= hi for lo, mid, hi in zip(band["min"], band["mean"], band["max"]))
    (comparison,) = data["comparison"]
    finals = {(r["label"], r["seed"]): r["val_loss"][-1] for r in runs}
    expected = [finals["no warmup", s] - finals["warmup 40", s] for s in data["seeds"]]
    assert comparison["differences"] == pytest.approx(expected)
    assert comparison["test"] == "paired t-test" and 0 <= comparison["p"] <= 1
    assert ("within noise" in comparison["text"]) == comparison["within_noise"]
    figure = all_widgets()["warmup"].figure(values, data)
    bands = [t for t in figure["data"] if t.get("fill") == "tonexty"]
    assert len(bands) == 2 and all(len(t["y"]) == 150 for t in bands)


def test_a_comparison_within_noise_says_so():
    runs = [{"label": label, "seed": s, "val_loss": [v], "diverged_at": None}
            for s, pair in zip((1, 2, 3), ((2.0, 2.05), (2.0, 1.97), (2.0, 2.01))) for label, v in zip("ab", pair)]
    (entry,) = spread.compare({"runs": runs})
    assert entry["within_noise"] and "within noise" in entry["text"] and entry["p"] > 0.05


def test_seeds_is_a_parameter_like_any_other(client):
    schema = client.get("/openapi.json").json()["components"]["schemas"]["WarmupParams"]
    assert schema["properties"]["seeds"]["enum"] == [1, 3, 5]
    response = client.get("/api/widgets/warmup", params={"seeds": 2})
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["query", "seeds"] and detail["allowed"] == "one of 1, 3, 5" and "2" in detail["msg"]
    body = client.get("/api/widgets/warmup", params={"seeds": 3, "steps": 20, "warmup": 5}).json()
    assert body["params"]["seeds"] == 3
    assert [(r["label"], r["seed"]) for r in body["data"]["runs"]][:2] == [("warmup 5", 1337), ("no warmup", 1337)]
    assert len(body["data"]["runs"]) == 6 and body["data"]["comparison"][0]["test"] == "paired t-test"
    one = client.get("/api/widgets/warmup", params={"steps": 20, "warmup": 5}).json()
    assert one["params"]["seeds"] == 1 and len(one["data"]["runs"]) == 2  # another setting, another key


def test_a_stream_at_three_seeds_keeps_its_traces_and_only_grows_them():
    """The streaming rule of widgets/kit.py with bands: same traces in the same order from the
    first report to the final figure, each trace's points only added, every delta rebuilding."""
    import json

    from app.serving.worker import figure_delta

    widget = all_widgets()["warmup"]
    values = widget.canonicalize({"seeds": 3, "steps": 20, "warmup": 5})
    sent = [None]

    def draw(data: dict) -> None:
        figure = json.loads(json.dumps(widget.figure(values, data)))
        if sent[-1] is not None:
            before = sent[-1]["data"]
            assert [t["name"] for t in figure["data"]] == [t["name"] for t in before]
            for old, new in zip(before, figure["data"]):
                assert new["x"][:len(old["x"])] == old["x"] and new["y"][:len(old["y"])] == old["y"], new["name"]
            delta = figure_delta.diff(sent[-1], figure)
            assert delta is None or figure_delta.apply(sent[-1], delta) == figure
        sent.append(figure)

    draw(widget.compute(values, lambda partial, done, total: draw(partial)))
    assert len(sent) > 4
