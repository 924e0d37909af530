"""Seeds on the widgets whose curves train in trainers of their own, side by side (overfitting,
precision, batch-noise, scaling-demo, sanity) or in their own loop (grad-accumulation): every
seed's run in data.runs, seed-major, with its seed; seed 0's runs are the one-seed result to the
bit; the chart draws bands and the page states the paired test. Each widget's five-seed run is
the one the five-seed claim tests read (tests/shared_runs.py): nothing trains twice."""
from __future__ import annotations

import pytest

from shared_runs import widget_run
from widgets.lab.seeds import seed_major, seed_values
from widgets.registry import all_widgets

WIDGETS = ("overfitting", "precision", "batch-noise", "scaling-demo", "sanity", "grad-accumulation")
# Dropout masks come from the trainer's one generator, drawn for the whole stack of runs, so a
# dropout curve's seed 0 in a stack of five sees other masks than its one-seed run (same weights,
# same batches): the overfitting lab's regularised curve.
WITH_DROPOUT = {("overfitting", 1)}
PER_STEP = ("loss", "grad_norm", "val_loss", "train_eval_loss", "lost_updates", "val_tokens")


def test_seed_major_orders_per_curve_runs_as_one_trainer_would():
    a = [{"label": "a", "seed": s} for s in (1, 2, 3)]
    b = [{"label": "b", "seed": s} for s in (1, 2, 3)]
    assert [(r["label"], r["seed"]) for r in seed_major([a, b])] == [
        ("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3)]
    assert seed_major([a[:1], b[:1]]) == [a[0], b[0]]
    with pytest.raises(ValueError, match="same seeds"):
        seed_major([a, b[:2]])


@pytest.mark.parametrize("name", WIDGETS)
def test_five_seeds_list_every_run_band_and_paired_test_and_seed_zero_is_the_one_seed_run(name):
    widget = all_widgets()[name]
    assert widget.param("seeds").values == (1, 3, 5)
    _, one = widget_run(name)
    values, five = widget_run(name, {"seeds": 5})
    curves = len(one["runs"])
    assert five["seeds"] == list(seed_values(widget.seed, 5)) and len(five["runs"]) == 5 * curves
    assert [(r["label"], r["seed"]) for r in five["runs"]] == [
        (r["label"], s) for s in five["seeds"] for r in one["runs"]]
    for c, (alone, first) in enumerate(zip(one["runs"], five["runs"][:curves])):  # seed 0 = the one-seed run
        if (name, c) in WITH_DROPOUT:
            assert first["loss"][0] == pytest.approx(alone["loss"][0], abs=0.05)  # same weights, other masks
            continue
        for key in PER_STEP:
            if key in alone:
                assert first[key] == alone[key], (name, alone["label"], key)
    assert len(five["bands"]) == curves and len(five["comparison"]) == curves - 1
    for entry in five["comparison"]:
        assert entry["test"] == "paired t-test" and len(entry["differences"]) == 5
        assert ("within noise" in entry["text"]) == entry["within_noise"]
    figure = widget.figure(values, five)
    assert sum("(max over seeds)" in str(t.get("name")) for t in figure["data"]) >= curves
    findings = widget.findings(values, five)
    assert all(entry["text"] in findings for entry in five["comparison"])
    assert any(", seed 2337" in table["caption"] for table in widget.tables(values, five))
