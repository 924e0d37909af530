"""Precompute: which settings, in which order, with the values the browser really sends;
the command (count, CPU time, resumable, interruptible); the server's idle fill."""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest

import services
from app.serving.cache import open_cache
from shared_course import shared_course
from app.serving.precompute.moves import VARIANT, _slider, form_values, moves
from widgets.base import Param, Widget
from widgets.registry import all_widgets


@pytest.fixture(scope="module")
def near() -> list:
    return list(moves(shared_course(), all_widgets(), radius=2))


def test_every_default_placement_and_predict_run_comes_first(near):
    bases = [(m.widget, m.values) for m in near if m.distance == 0]
    assert all(m.distance == 0 for m in near[:len(bases)]), "distance 0 before any move"
    for name, widget in all_widgets().items():
        assert (name, widget.canonicalize({})) in bases
    course = shared_course()
    for chapter in course.chapters:
        for use in chapter.widgets:
            assert (use.name, all_widgets()[use.name].canonicalize(use.overrides)) in bases
        for quiz in chapter.quizzes.values():
            if quiz.predict:
                assert (quiz.predict.widget, all_widgets()[quiz.predict.widget].canonicalize(quiz.predict.params)) in bases


def test_nearest_first_main_controls_before_advanced_each_setting_once(near):
    order = [(m.distance, all_widgets()[m.widget].param(m.control).advanced if m.control else False) for m in near]
    assert order == sorted(order)
    keys = [(m.widget, tuple(sorted(m.values.items()))) for m in near]
    assert len(keys) == len(set(keys))


def test_seeds_3_is_precomputed_at_every_placement_of_a_widget_with_seeds(near):
    """A learner's first move on the seeds control is to 3: one position on its 1, 3, 5 grid,
    a main control, so it comes at distance 1 from every placement (defaults, directives,
    predict runs), before any advanced control. A predict variant is graded on its own run in
    review, where no slider moves: no moves are planned around it."""
    planned = {(m.widget, tuple(sorted(m.values.items()))): m for m in near}
    bases = [m for m in near if m.distance == 0 and "seeds" in m.values and VARIANT not in m.origin]
    assert {m.widget for m in bases} >= {"warmup", "clip-trace", "schedule-families", "lr-sweep", "muon",
                                        "optimizer-race-gpt"}
    for base in bases:
        widget = all_widgets()[base.widget]
        at_three = widget.canonicalize({**form_values(widget, base.values), "seeds": 3})
        move = planned.get((base.widget, tuple(sorted(at_three.items()))))
        assert move is not None, f"{base.origin}: {base.widget} at seeds=3 is not precomputed"
        assert move.distance <= 1 and not widget.param("seeds").advanced, (base.origin, move)


def test_one_control_moves_from_the_defaults():
    warmup = all_widgets()["warmup"]
    defaults = warmup.canonicalize({})
    found = [m for m in moves(shared_course(), all_widgets(), radius=1, only={"warmup"}) if m.origin == "defaults" and m.distance == 1]
    for move in found:
        changed = [k for k in defaults if move.values[k] != defaults[k]]
        assert changed == [move.control]
    by_control = {}
    for move in found:
        by_control.setdefault(move.control, []).append(move.values[move.control])
    assert sorted(by_control["warmup"]) == [35, 45]  # step 5 on either side of 40
    assert by_control["clip"] == [True] and by_control["layout"] == ["post-ln"]
    # a log slider moves 0.05 in log10 space and sends 10^x to three digits, as the browser does
    low, step, _ = _slider(warmup.param("peak_lr"))
    here = round((math.log10(0.006) - float(low)) / float(step))
    expected = sorted(float(f"{10 ** (float(low) + float(step) * i):.3g}") for i in (here - 1, here + 1))
    assert sorted(by_control["peak_lr"]) == expected


def test_a_linear_slider_off_its_grid_is_snapped_as_the_browser_snaps_it():
    widget = Widget(name="fake", params=(Param("n", "n", "int", 40, min=1, max=91, step=10),
                                         Param("x", "x", "float", 0.3, min=0.0, max=1.0, step=0.1)))
    assert form_values(widget, {"n": 40, "x": 0.3}) == {"n": 41, "x": 0.3}


def run_precompute(tmp_path, *args, wait=True):
    env = dict(os.environ, COURSE_SCHEDULER="inprocess", COURSE_CACHE_URL=f"sqlite:///{tmp_path / 'r.sqlite3'}",
               COURSE_DEVICE="cpu", PYTHONPATH=str(services.ROOT))
    command = [sys.executable, "-m", "app", "precompute", *args]
    if not wait:
        return subprocess.Popen(command, cwd=services.ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, cwd=services.ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_the_command_prints_the_count_and_cpu_time_and_resumes(tmp_path):
    first = run_precompute(tmp_path, "--widget", "lr-schedule", "--radius", "1")
    assert first.returncode == 0, first.stdout + first.stderr
    planned = int(first.stdout.split(" settings to precompute")[0])
    assert planned > 10
    assert f"{planned} settings planned, 0 already cached, {planned} computed, 0 failed" in first.stdout
    assert "CPU time of the computed runs:" in first.stdout
    assert "ETA" in first.stderr, "a progress bar with an ETA"
    again = run_precompute(tmp_path, "--widget", "lr-schedule", "--radius", "1")
    assert f"{planned} already cached, 0 computed" in again.stdout


def test_an_interrupted_precompute_keeps_what_it_did(tmp_path):
    cache_url = f"sqlite:///{tmp_path / 'r.sqlite3'}"
    # warmup: each setting trains for seconds, so the interrupt lands mid-way (clip-norm's 20
    # settings could all finish before the signal arrived)
    process = run_precompute(tmp_path, "--widget", "warmup", "--radius", "1", "--concurrency", "1", wait=False)
    deadline = time.monotonic() + 300
    while open_cache(cache_url, 10**9).stats()["entries"] < 2:
        assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
        time.sleep(0.1)
    # one Ctrl-C: the event loop takes it and cancels the run wherever the main thread is
    # (app/serving/precompute/cli.py: cancel_on_ctrl_c; a default KeyboardInterrupt was once
    # swallowed under load and the precompute ran on to the end)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=240)
    assert "precompute interrupted (run it again to resume)" in output, output[-3000:]
    kept = open_cache(cache_url, 10**9).stats()["entries"]
    assert kept >= 2
    resumed = run_precompute(tmp_path, "--widget", "warmup", "--radius", "1", "--limit", str(kept))
    assert f"{kept} already cached" in resumed.stdout


def test_the_server_fills_the_cache_when_idle_and_not_while_learners_ask(settings):
    from fastapi.testclient import TestClient

    from app.main import create_app

    app = create_app(replace(settings, warm_cache=True))
    with TestClient(app) as client:
        deadline = time.monotonic() + 300
        while app.state.cache.stats()["entries"] < 2:
            assert time.monotonic() < deadline, "nothing was filled"
            time.sleep(0.2)
        first = list(all_widgets().values())[:4]  # defaults come first, in name order
        assert any(app.state.jobs.is_cached(w, w.canonicalize({})) for w in first)
        engine = app.state.engine
        engine.last_learner_submit = time.monotonic()  # a learner asks: filling pauses
        while client.get("/api/engine").json()["engine"]["background"]:
            assert time.monotonic() < deadline, "the runs being filled never ended"
            time.sleep(0.05)
        engine.last_learner_submit = asked = time.monotonic()
        while time.monotonic() < asked + 2.0:  # IDLE_S is 3 s
            assert client.get("/api/engine").json()["engine"]["background"] == 0, "filled while a learner was active"
            time.sleep(0.05)
        filled = app.state.cache.stats()["entries"]
        while app.state.cache.stats()["entries"] == filled:  # and it goes on once idle again
            assert time.monotonic() < deadline, "filling never resumed"
            time.sleep(0.2)
