"""Predict variants (app/course/variants.py): their format, the content check on real runs,
and /review asking a variant only when its run is cached, graded on that run, the run shown
after the answer."""
from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta, timezone

import pytest

from shared_course import shared_course
from shared_runs import recorded
from app.course.quiz import QuizFormatError, parse_quiz
from app.course.variants import answer_at
from app.course.expr import names_for
from app.tools.check.variants import setting_problems, variant_problems
from widgets.registry import all_widgets

CHAPTER = shared_course().get("sgd-to-adamw")
QUIZ = CHAPTER.quizzes["predict-rotated-race"]
WIDGET = all_widgets()["optimizer-race"]
T0 = datetime.now(timezone.utc)


def run_names(setting: dict) -> dict:
    values = WIDGET.canonicalize({**QUIZ.predict.params, **setting})
    return names_for(recorded().run(WIDGET, values)[0], values)


# --- the format and the content check ---------------------------------------------------------------

def test_the_rotated_race_has_four_or_more_variants_each_with_one_answer_on_its_run():
    variants = QUIZ.predict.variants
    assert len(variants.settings) >= 4
    answers = {s["angle"]: answer_at(variants, run_names(s)) for s in variants.settings}
    assert None not in answers.values()
    assert len(set(answers.values())) >= 2, "the key moves with the setting: not one answer to learn"
    assert answer_at(variants, run_names({})) == QUIZ.correct_indices[0]
    assert "rotated by 60 degrees" in variants.question_html({"angle": 60.0})


def raw_quiz(**variants_changes) -> dict:
    variants = {"question": "At {angle} degrees, which is closer?", "settings": [{"angle": 0.0}],
                "options": [{"when": "1 < 2", "feedback": "a"}, {"when": "1 > 2", "feedback": "b"}]}
    variants.update(variants_changes)
    return {"id": "q", "question": "Which?", "hint": "h", "recipe": "r",
            "predict": {"widget": "optimizer-race", "params": {}, "check": "1 < 2", "variants": variants},
            "options": [{"text": "A", "correct": True, "feedback": "fa"}, {"text": "B", "feedback": "fb"}]}


@pytest.mark.parametrize("change, says", [
    ({"options": [{"when": "1 < 2", "feedback": "a"}]}, "one entry per option"),
    ({"options": [{"when": "import os", "feedback": "a"}, {"when": "1 > 2", "feedback": "b"}]}, "when"),
    ({"settings": []}, "settings"),
    ({"question": ""}, "question"),
    ({"extra": 1}, "must be a mapping"),
    ({"options": [{"when": "1 < 2", "feedback": "a", "text": " "}, {"when": "1 > 2", "feedback": "b"}]}, "text"),
    ({"options": [{"when": "1 < 2", "feedback": "a", "txt": "A"}, {"when": "1 > 2", "feedback": "b"}]}, "text"),
])
def test_a_malformed_variants_block_is_a_format_error(change, says):
    with pytest.raises(QuizFormatError, match=says):
        parse_quiz(raw_quiz(**change))
    parsed = parse_quiz(raw_quiz())
    assert parsed.predict.variants.settings == ({"angle": 0.0},)


def test_the_check_refuses_settings_off_the_grid_and_variants_without_one_answer():
    bad = dataclasses.replace(QUIZ.predict.variants, settings=({"angle": 7.0}, {"nope": 1}, {"angle": 400.0}))
    quiz = dataclasses.replace(QUIZ, predict=dataclasses.replace(QUIZ.predict, variants=bad))
    problems = setting_problems(WIDGET, quiz, "ch02")
    assert len(problems) == 3
    assert "not on the slider's grid" in problems[0] and "no parameters ['nope']" in problems[1]

    options = QUIZ.predict.variants.options
    both = (options[0], dataclasses.replace(options[1], when="run['SGD'].distance[-1] > -1"), options[2])
    overlapping = dataclasses.replace(QUIZ.predict.variants, options=both, settings=({"angle": 60.0},))
    quiz = dataclasses.replace(QUIZ, predict=dataclasses.replace(QUIZ.predict, variants=overlapping))
    found = variant_problems(WIDGET, quiz, "ch02", recorded())
    assert found and all("2 options hold" in p for p in found)
    assert variant_problems(WIDGET, QUIZ, "ch02", recorded()) == [], "the course's own variants pass"


# --- on /review ------------------------------------------------------------------------------------

@pytest.fixture
def clock(app):
    class Moved:
        days = 0.0

        def __call__(self):
            return T0 + timedelta(days=self.days)
    app.state.clock = moved = Moved()
    return moved


def cache_run(client, setting: dict) -> None:
    """The widget's JSON twin computes the run and files it in the app's result cache."""
    response = client.get(f"/api/widgets/{WIDGET.name}", params={**QUIZ.predict.params, **setting})
    assert response.status_code == 200, response.text


def test_review_asks_the_authored_question_until_a_variant_is_cached(client, clock):
    client.post(f"/api/quiz/{CHAPTER.slug}/{QUIZ.id}", json={"selected": QUIZ.correct_indices})
    clock.days = 400
    item = client.get("/api/review").json()["session"][0]
    assert item["question_id"] == QUIZ.id and item["variant"] == 0 and item["question"] == QUIZ.question
    assert 'name="variant"' not in client.get("/review").text


def test_review_draws_a_cached_variant_grades_it_on_its_run_and_shows_the_run(client, clock):
    client.post(f"/api/quiz/{CHAPTER.slug}/{QUIZ.id}", json={"selected": QUIZ.correct_indices})
    for setting in QUIZ.predict.variants.settings:
        cache_run(client, setting)
    cache_run(client, {})
    clock.days = 400
    item = client.get("/api/review").json()["session"][0]
    assert item["variant"] >= 1
    setting = QUIZ.predict.variants.settings[item["variant"] - 1]
    assert item["params"]["angle"] == setting["angle"]
    assert f"rotated by {setting['angle']:g} degrees" in item["question"]
    key = answer_at(QUIZ.predict.variants, run_names(setting))

    page = client.get("/review").text
    variant = re.search(r'name="variant" value="(\d+)"', page).group(1)
    assert int(variant) == item["variant"], "the page and its JSON twin ask the same variant"
    wrong = next(i for i in range(len(QUIZ.options)) if i != key)
    posted = client.post(f"/review/{CHAPTER.slug}/{QUIZ.id}", data={"choice": str(wrong), "variant": variant,
                                                                     "done": "0"}, follow_redirects=False)
    assert posted.status_code == 303
    feedback = client.get(posted.headers["location"]).text
    assert "Not quite." in feedback and "The real run at this setting" in feedback
    assert 'class="figure-json"' in feedback, "the cached run, drawn at once"
    assert QUIZ.predict.variants.options[key].feedback[:40] in feedback

    clock.days = 800  # due again: now answer right through the JSON twin
    item = client.get("/api/review").json()["session"][0]
    setting = QUIZ.predict.variants.settings[item["variant"] - 1] if item["variant"] else {}
    key = answer_at(QUIZ.predict.variants, run_names(setting))
    graded = client.post(item["answer_url"], json={"selected": [key], "variant": item["variant"]}).json()
    assert graded["correct"] and graded["correct_options"] == [key] and graded["variant"] == item["variant"]


def test_a_variant_option_with_its_own_text_is_asked_in_that_wording(client, clock):
    """reader-predict's authored options name the authored config's knobs; its variants give
    each option a wording of its own (`text:`), which /review shows instead."""
    chapter = shared_course().get("scale-and-configs")
    quiz = chapter.quizzes["reader-predict"]
    variants = quiz.predict.variants
    assert parse_quiz(raw_quiz(options=[{"when": "1 < 2", "feedback": "a", "text": "Plain *A*"},
                                        {"when": "1 > 2", "feedback": "b"}])).predict.variants.options[0].text_html \
        == "Plain <em>A</em>"
    client.post(f"/api/quiz/{chapter.slug}/{quiz.id}", json={"selected": quiz.correct_indices})
    for setting in variants.settings:
        response = client.get("/api/widgets/config-reader", params={**quiz.predict.params, **setting})
        assert response.status_code == 200, response.text
    clock.days = 400
    item = client.get("/api/review").json()["session"][0]
    assert item["question_id"] == quiz.id and item["variant"] >= 1
    assert sorted(o["text"] for o in item["options"]) == sorted(o.text for o in variants.options)
    page = client.get("/review").text
    assert variants.options[0].text in page and quiz.options[0].text not in page


def test_a_variant_whose_run_is_not_cached_is_not_graded(client, clock):
    client.post(f"/api/quiz/{CHAPTER.slug}/{QUIZ.id}", json={"selected": QUIZ.correct_indices})
    clock.days = 400
    refused = client.post(f"/api/review/{CHAPTER.slug}/{QUIZ.id}", json={"selected": [0], "variant": 3})
    assert refused.status_code == 409 and "cached" in refused.json()["detail"]
    assert client.post(f"/api/review/{CHAPTER.slug}/{QUIZ.id}", json={"selected": [0], "variant": 100}).status_code == 422
    assert client.get("/api/review").json()["due"] == 1, "nothing recorded"


def test_precompute_places_every_variant():
    from app.serving.precompute.moves import placements

    placed = {origin: params for origin, name, params in placements(shared_course(), all_widgets())
              if name == WIDGET.name}
    for n, setting in enumerate(QUIZ.predict.variants.settings, 1):
        assert placed[f"{CHAPTER.slug}#predict-{QUIZ.id}-variant-{n}"] == {**QUIZ.predict.params, **setting}


def test_precompute_runs_each_variant_but_plans_no_moves_around_it():
    """Review grades a variant on its own cached run; no learner moves a slider from it, so its
    one-control moves are not planned (they more than doubled a radius-1 precompute)."""
    from app.serving.precompute.moves import moves

    planned = list(moves(shared_course(), all_widgets(), radius=1))
    variant_bases = [m for m in planned if "-variant-" in m.origin]
    assert variant_bases and all(m.distance == 0 for m in variant_bases)
    settings = {(m.widget, tuple(sorted(m.values.items()))) for m in planned}
    for setting in QUIZ.predict.variants.settings:
        values = WIDGET.canonicalize({**QUIZ.predict.params, **setting})
        assert (WIDGET.name, tuple(sorted(values.items()))) in settings
