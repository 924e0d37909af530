"""Curve diagnosis: every case's real run shows its cause's signature; guesses are graded on the server."""
from __future__ import annotations

import dataclasses
import json

import pytest

from widgets.diagnosis import (CASE_CAUSE, CASES, CAUSE_NAME, CONFIGS, NO_GUESS, SHOWN, case_hooks, case_setup,
                               signals)
from widgets.lab.schedules import Schedule
from widgets.lab.trainer import LockstepTrainer
from widgets.registry import get_widget
from shared_runs import widget_data

WIDGET = get_widget("diagnosis")
CASE_OF = {cause: case for case, cause in CASE_CAUSE.items()}


def data_for(cause: str, guess: str = NO_GUESS) -> dict:
    """The widget's result for a case and a guess: the case's run (trained once per session,
    tests/shared_runs.py), graded as the web process grades it (Widget.view)."""
    values = WIDGET.canonicalize({"case": CASE_OF[cause], "guess": guess})
    return WIDGET.view(values, widget_data(WIDGET.name, {"case": CASE_OF[cause]}))


def sig(cause: str) -> dict:
    return signals(data_for(cause)["runs"][0])


def test_cases_cover_every_cause_once_in_a_shuffled_order():
    assert sorted(CASE_CAUSE.values()) == sorted(CAUSE_NAME)
    assert list(CASE_CAUSE.values()) != sorted(CASE_CAUSE.values())
    assert set(CASES) == set(CASE_CAUSE)


def _shape(x):
    """The structure of a JSON value: keys and list lengths, not the numbers."""
    if isinstance(x, dict):
        return {k: _shape(v) for k, v in x.items()}
    if isinstance(x, list):
        return [len(x), *(_shape(v) for v in x if isinstance(v, (dict, list)))]
    return type(x).__name__


def test_nothing_the_learner_receives_before_guessing_gives_the_answer_away():
    """Data (the JSON twin), tables, figure and code of every unguessed case: no schedule, no clipping
    flags, no cause or guess named, and the same structure for every case: only the curves differ."""
    shapes = []
    for case in CASES:
        values = WIDGET.canonicalize({"case": case})
        data = WIDGET.compute(values)
        tables, fig = WIDGET.tables(values, data), WIDGET.figure(values, data)
        assert all(set(run) == set(SHOWN) for run in data["runs"]), "a run carries more than the chart shows"
        columns = {c for t in tables for c in t["columns"]}
        assert not columns & {"learning rate", "clipped"}, columns
        text = json.dumps([data, tables, fig]) + WIDGET.code(values)
        for cause in set(CASE_CAUSE.values()):
            assert cause not in text, (case, cause)
        for named in CAUSE_NAME.values():
            assert named not in text.lower(), (case, named)
        for word in ("warmup", "learning rate", "slice", "corrupt"):
            assert word not in text.lower(), (case, word)
        shapes.append(_shape({"data": {k: v for k, v in data.items() if k != "case"}, "tables": tables}))
    assert all(shape == shapes[0] for shape in shapes)  # the same keys and lengths for every case


def test_default_caption_case_1_stalls_then_recovers_and_ends_behind_healthy():
    values = WIDGET.canonicalize({})
    assert values == {"case": "1", "guess": NO_GUESS}
    data = WIDGET.compute(values)
    assert data["verdict"] is None and data["explanation"] is None
    s, healthy = signals(data["runs"][0]), sig("healthy")
    assert s["early_loss"] < healthy["early_loss"] - 0.2  # drops fast
    assert 3.2 <= s["plateau_loss"] <= 3.5  # stalls on a plateau near 3.3 (steps 20-49)
    assert s["final_train"] < s["plateau_loss"] - 0.25  # recovers
    assert s["final_val"] >= healthy["final_val"] + 0.2  # ends at least 0.2 above the healthy case
    assert "which knob" in WIDGET.figure(values, data)["layout"]["title"]["text"]


def test_lr_too_high_plateaus_high():
    s, healthy = sig("lr_high"), sig("healthy")
    assert s["plateau_loss"] > 3.2 and s["second_half_drop"] < 0.1  # no progress in the second half
    assert s["final_val"] >= healthy["final_val"] + 0.5


def test_lr_too_low_barely_moves():
    s = sig("lr_low")
    assert s["train_drop"] < 0.4 and s["final_val"] > 3.8
    assert sig("healthy")["train_drop"] > 1.4


def test_overfitting_val_rises_while_train_falls():
    s = sig("overfit")
    assert s["best_val_step"] <= 50 and s["val_rise_from_best"] >= 0.3
    assert s["final_train"] < 2.0 and s["gap"] > 1.5


def test_healthy_run_falls_smoothly_and_val_tracks_train():
    s = sig("healthy")
    assert s["final_val"] < 2.7 and abs(s["gap"]) < 0.2 and s["val_rise_from_best"] < 0.02
    assert s["largest_val_jump"] <= 0  # validation never goes up
    assert s["peak_grad_norm"] < 5 * s["median_grad_norm"]


def test_no_clipping_spikes_and_sets_validation_back():
    s = sig("no_clip")
    assert 60 <= s["peak_grad_norm_step"] < 64 and s["peak_grad_norm"] > 10 * s["median_grad_norm"]
    assert s["largest_val_jump"] >= 0.15 and s["largest_val_jump_step"] == 70


def test_clipping_at_1_would_have_softened_the_same_bad_batches():
    spec, hooks = case_setup(CASE_OF["no_clip"])
    clipped = dataclasses.replace(spec, runs=(dataclasses.replace(spec.runs[0], clip=1.0),))
    run = LockstepTrainer(clipped, device="cpu", **hooks).run()["runs"][0]
    assert signals(run)["largest_val_jump"] <= sig("no_clip")["largest_val_jump"] - 0.1


def test_the_same_peak_lr_with_warmup_trains_well():
    spec, hooks = case_setup(CASE_OF["no_warmup"])
    assert hooks == case_hooks("no_warmup") == {} and CONFIGS["no_warmup"].schedule.warmup == 0
    s = spec.runs[0].schedule
    warm = dataclasses.replace(spec, runs=(dataclasses.replace(
        spec.runs[0], schedule=Schedule(s.family, s.peak_lr, 30, s.total, s.min_lr)),))
    run = LockstepTrainer(warm, device="cpu").run()["runs"][0]
    assert signals(run)["final_val"] <= sig("no_warmup")["final_val"] - 0.2


@pytest.mark.parametrize("cause", sorted(CAUSE_NAME))
def test_right_guess_is_correct_and_explained_with_the_runs_numbers(cause):
    guess = cause  # a guess's value is the cause it names
    data = data_for(cause, guess)
    assert data["verdict"] == "correct" and data["explanation"].startswith("Correct")
    s = signals(data["runs"][0])
    assert f"{s['final_val']:.2f}" in data["explanation"] or f"{s['final_train']:.2f}" in data["explanation"] \
        or f"{s['peak_grad_norm']:.1f}" in data["explanation"]
    values = WIDGET.canonicalize({"case": CASE_OF[cause], "guess": guess})
    assert "Correct" in WIDGET.figure(values, data)["layout"]["title"]["text"]
    assert WIDGET.tables(values, data)[0]["rows"][0][1] == "correct"
    assert "print(spec)" in WIDGET.code(values)


def test_wrong_guess_is_not_quite_and_does_not_name_the_answer():
    data = data_for("overfit", "lr_low")
    assert data["verdict"] == "not quite"
    assert "overfit" not in data["explanation"].lower() and "memorise" not in data["explanation"]
    assert "Not quite" in data["explanation"] and "Correct" not in data["explanation"]
    values = WIDGET.canonicalize({"case": CASE_OF["overfit"], "guess": "lr_low"})
    assert "Not quite" in WIDGET.figure(values, data)["layout"]["title"]["text"]
    assert "print(spec)" not in WIDGET.code(values)


def test_the_guess_is_a_view_of_one_run_graded_at_render_time():
    """The guess is not part of the run: the run's key ignores it, compute trains the same run for
    every guess, and Widget.present turns one finished item into any guess's view."""
    case = "2"
    plain = WIDGET.canonicalize({"case": case})
    guessed = WIDGET.canonicalize({"case": case, "guess": "overfit"})
    assert WIDGET.param("guess").view and not WIDGET.param("case").view
    assert WIDGET.compute_values(plain) == WIDGET.compute_values(guessed) == {"case": case}
    reports = []
    final = WIDGET.compute(plain, lambda partial, done, total: reports.append((partial, done, total)))
    assert reports and reports[0][1] == 1 and reports[-1][1] <= reports[-1][2]
    assert set(reports[0][0]) == set(final)
    assert reports[0][0]["verdict"] is None
    WIDGET.figure(plain, reports[0][0])  # partial data draws
    # trained again with a guess: the same run, graded (no process-wide cache answers it)
    graded = WIDGET.compute(guessed)
    assert graded["runs"] == final["runs"] and graded["verdict"] == "not quite"
    # the web process's path: the item computed for one guess, presented for another
    item = {"widget": WIDGET.name, "params": plain, "data": final, "figure": WIDGET.figure(plain, final)}
    shown = WIDGET.present(guessed, item)
    assert shown["params"] == guessed and shown["data"] == graded
    assert shown["figure"] == WIDGET.figure(guessed, graded)
    assert WIDGET.present(plain, WIDGET.present(guessed, item))["data"] == final  # and back again


def test_old_guess_spellings_in_saved_links_still_parse():
    """Links saved before the guess's values became cause names carried the labels."""
    for value, label in CAUSE_NAME.items():
        assert WIDGET.canonicalize({"guess": label})["guess"] == value
    assert WIDGET.canonicalize({"guess": "no guess yet"})["guess"] == NO_GUESS


def test_every_guess_shares_the_cases_one_cached_run_through_the_app(client):
    """Through the JSON twin: the first request trains case 2; a guess at it is served from the
    cache (no second run), graded in the web process, and named in the answer's parameters."""
    first = client.get("/api/widgets/diagnosis", params={"case": "2"}).json()
    assert first["provenance"]["cached"] is False and first["data"]["verdict"] is None
    submitted = client.app.state.engine.counts["submitted"]
    for guess, verdict in (("healthy", "correct"), ("overfit", "not quite"),
                           ("nothing wrong (healthy run)", "correct")):  # an old link's spelling
        body = client.get("/api/widgets/diagnosis", params={"case": "2", "guess": guess}).json()
        assert body["provenance"]["cached"] is True and body["data"]["verdict"] == verdict
        assert body["params"]["guess"] == ("healthy" if verdict == "correct" else guess)
        assert body["data"]["runs"] == first["data"]["runs"]
        assert ("Correct" if verdict == "correct" else "Not quite") in body["figure"]["layout"]["title"]["text"]
    assert client.app.state.engine.counts["submitted"] == submitted  # no run was started for a guess
