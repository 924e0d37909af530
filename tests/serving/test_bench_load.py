"""The class-load benchmark: its plan of moves and a short real load against a server."""
from __future__ import annotations

import random

import pytest

import services
from aio import run_async
from app.tools.bench import load as bench_load
from app.tools.bench import class_load, review_load
from app.__main__ import main
from app.settings import Settings
from shared_runs import QUICK_WIDGETS
from widgets.registry import all_widgets


def test_the_load_mode_is_reached_through_app_bench(capsys):
    with pytest.raises(SystemExit) as done:
        main(["bench", "--load", "--help"])
    assert done.value.code == 0 and "--learners" in capsys.readouterr().out


def test_near_moves_are_precomputed_ones_and_cold_moves_are_farther():
    plan = bench_load.make_plan(Settings().content_dir, radius=1)
    placement = next(p for p in plan.placements["learning-rate"] if p.widget == "warmup")
    widget = all_widgets()["warmup"]
    near = plan.near[f"learning-rate#{placement.instance}"]
    assert near and all(sum(v[k] != placement.base[k] for k in v) == 1 for v in near)
    rng = random.Random(0)
    for _ in range(20):
        cold = bench_load.far_move(widget, placement.base, 1, rng)
        assert cold is not None and cold not in near and cold != widget.canonicalize(placement.base)


def quick_plan() -> bench_load.Plan:
    """The bench's plan cut to rounds that take seconds on a busy machine: the placements of the
    quick widgets, and the questions without a run to follow. With every widget, a learner's
    move trained for 15-20 s on CI, and its second round, whose review the test waits for,
    never began within the load."""
    from shared_course import shared_course

    plan = bench_load.make_plan(Settings().content_dir, radius=1)
    predict = {(c.slug, q.id) for c in shared_course().chapters for q in c.quizzes.values() if q.predict}
    placements = {slug: [p for p in found if p.widget in QUICK_WIDGETS] for slug, found in plan.placements.items()}
    placements = {slug: found for slug, found in placements.items() if found}
    questions = {slug: [q for q in plan.questions.get(slug, []) if (slug, q) not in predict] for slug in placements}
    assert placements and all(questions.values()), (placements, questions)
    return bench_load.Plan(pages=plan.pages, placements=placements, questions=questions, near=plan.near)


def test_a_short_load_measures_pages_moves_answers_and_reviews(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(review_load, "CLOCK_S_PER_DAY", 0.2)  # a card falls due within a second
    clock_file = tmp_path / "review-clock"
    with services.Stack(tmp_path) as stack:
        base = stack.web(COURSE_SCHEDULER="inprocess", COURSE_CACHE_URL="memory://",
                         COURSE_CLOCK_FILE=str(clock_file))
        plan = quick_plan()
        # long enough for two rounds of a learner's loop on a busy machine: the cards of the
        # first round's answers are reviewed in the second
        results = run_async(lambda: bench_load.load(base, plan, learners=2, seconds=14, radius=1, pid=None,
                                                    clock_file=clock_file))
    assert results.pages and results.answers and (results.moves_near or results.moves_cold)
    assert results.queue, "the queue depth was sampled"
    assert results.review_pages and results.review_answers, "answered cards fell due and were reviewed"
    assert not [k for k in results.statuses if k.startswith("review")], results.statuses
    bench_load.report(2, 14, results)
    out = capsys.readouterr().out
    assert "pages" in out and "p95" in out and "errors:" in out and "review answers" in out


def test_a_short_load_with_a_class_measures_polls_and_the_teachers_view(tmp_path, capsys, monkeypatch):
    from app.settings import ROOT

    monkeypatch.setattr(class_load, "CLASS_ARRIVES_S", 1.0)  # the first poll early: votes within the load
    with services.Stack(tmp_path) as stack:
        database = tmp_path / "class.sqlite3"
        base = stack.web(COURSE_SCHEDULER="inprocess", COURSE_CACHE_URL="memory://", COURSE_DB=str(database))
        plan = bench_load.make_plan(Settings().content_dir, radius=1)
        class_id, token = class_load.create_class(database, ROOT)
        klass = class_load.ClassLoad(class_id, token, ["learning-rate/lr-meaning"])
        results = run_async(lambda: bench_load.load(base, plan, learners=3, seconds=14, radius=1, pid=None,
                                                    klass=klass))
    assert results.pages and klass.polls >= 1 and klass.banner and klass.votes, klass.errors
    latencies, unseen = klass.to_teacher()
    assert latencies and unseen == 0, "every vote reached the teacher's live view"
    assert max(latencies) < 10 and klass.updates >= 2
    class_load.report(klass, bench_load.quantile, bench_load.ms)
    assert "vote to teacher's view" in capsys.readouterr().out
