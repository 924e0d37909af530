"""Predict-then-run questions: the safe check language, parsing, the feedback that shows
the real run, and the truth of every predict question in every chapter on the real run."""
from __future__ import annotations

import ast
import re

import pytest

from shared_course import shared_course
from app.course.expr import ExprError, evaluate, explain, names_for, parse
from app.course.quiz import QuizFormatError, parse_quiz
from shared_runs import recorded

DATA = {"steps": 3, "runs": [{"label": "warmup 40", "val_loss": [3.0, 2.5], "diverged_at": None},
                             {"label": "no warmup", "val_loss": [3.0, 3.1], "diverged_at": None}]}
NAMES = names_for(DATA, {"peak_lr": 0.006})


# --- the check language ------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("runs[1].val_loss[-1] > runs[0].val_loss[-1] + 0.5", True),
    ("runs[1]['val_loss'][-1] - runs[0].val_loss[-1] > 0.7", False),
    ("run['no warmup'].val_loss[-1] >= 3.1 and run['warmup 40'].diverged_at == None", True),
    ("2 < steps <= 3", True),
    ("max(runs[0].val_loss) == 3.0 and min(runs[1].val_loss[:1]) == 3.0", True),
    ("mean(runs[0].val_loss) == 2.75 and len(runs) == 2 and abs(-2) ** 2 == 4", True),
    ("params.peak_lr * 1000 == 6 or False", True),
    ("not runs[0].diverged_at", True),
])
def test_checks_evaluate_over_the_result(text, expected):
    assert evaluate(text, NAMES) is expected


@pytest.mark.parametrize("text, message", [
    ("__import__('os').system('true')", "only these functions"),
    ("__import__", "not allowed"),
    ("runs.__class__", "not allowed"),
    ("open('x')", "only these functions"),
    ("max(runs[0].val_loss, key=abs)", "keyword"),
    ("[x for x in runs]", "not allowed"),
    ("lambda: 1", "not allowed"),
    ("runs[0] if True else 1", "not allowed"),
    ("(steps := 3)", "not allowed"),
    ("", "empty"),
    ("runs[", "not a valid expression"),
    ("10 ** 1000", "exponents"),
    ("x" * 600, "at most"),
])
def test_anything_else_is_refused(text, message):
    with pytest.raises(ExprError, match=message):
        evaluate(text, NAMES)


@pytest.mark.parametrize("text, message", [
    ("nothing > 1", "unknown name 'nothing'"),
    ("runs[5].val_loss", "out of range"),
    ("runs[0].loss", "no key 'loss'"),
    ("runs[0].label + 1 > 0", "arithmetic needs numbers"),
    ("steps / 0 > 1", "division by zero"),
    ("steps.x", "cannot look up"),
])
def test_evaluation_errors_say_what_is_wrong(text, message):
    with pytest.raises(ExprError, match=message):
        evaluate(text, NAMES)


def test_explain_shows_both_sides():
    text = explain("runs[1].val_loss[-1] > runs[0].val_loss[-1] + 0.7", NAMES)
    assert "3.1 > 3.2" in text


def test_parse_vets_the_tree_before_anything_is_evaluated():
    tree = parse("runs[1].val_loss[-1] > runs[0].val_loss[-1] + 0.5")
    assert isinstance(tree, ast.Expression) and isinstance(tree.body, ast.Compare)
    assert evaluate(tree, NAMES) is True  # the vetted tree is what evaluate runs
    for text in ("__import__('os').system('true')", "runs.__class__", "lambda: 1", "[x for x in runs]",
                 "open('x')"):
        with pytest.raises(ExprError):
            parse(text)  # refused by parsing alone: no names given, nothing evaluated


# --- parsing the question ------------------------------------------------------------------
PREDICT = {"id": "p", "question": "What happens?", "predict": {"widget": "warmup", "params": {"steps": 50},
                                                                "check": "runs[1].val_loss[-1] > 0"},
           "options": [{"text": "A", "correct": True, "feedback": "a"},
                       {"text": "B", "correct": False, "feedback": "b"}]}


def test_predict_question_parses():
    quiz = parse_quiz(PREDICT)
    assert quiz.predict.widget == "warmup" and quiz.predict.params == {"steps": 50}
    assert quiz.predict.checks == ("runs[1].val_loss[-1] > 0",)
    assert quiz.public()["predict"] == {"widget": "warmup", "params": {"steps": 50}}


@pytest.mark.parametrize("predict, message", [
    ({"widget": "warmup"}, "needs `check"),
    ({"widget": "warmup", "check": []}, "needs `check"),
    ({"widget": "Bad Name", "check": "1 < 2"}, "needs `widget"),
    ({"widget": "warmup", "params": [1], "check": "1 < 2"}, "params must be a mapping"),
    ({"widget": "warmup", "check": "__import__('os')"}, "predict check"),
    ({"widget": "warmup", "check": "1 < 2", "extra": 1}, "mapping of widget, params, check and"),
])
def test_bad_predict_blocks_are_refused(predict, message):
    with pytest.raises(QuizFormatError, match=message):
        parse_quiz({**PREDICT, "predict": predict})


# --- over HTTP ----------------------------------------------------------------------------
CHAPTER = "learning-rate"


def test_chapter_3_has_a_predict_question_on_the_warmup_widget():
    quiz = shared_course().get(CHAPTER).quizzes["warmup-predict"]
    assert quiz.predict.widget == "warmup" and quiz.predict.params == {}
    assert any("val_loss[-1] > runs[0].val_loss[-1] + 0.3" in c for c in quiz.predict.checks)


def test_predict_form_shows_the_badge_and_no_run_before_the_prediction(client):
    html = client.get(f"/chapters/{CHAPTER}").text
    block = re.search(r'<div class="quiz[^"]*" id="quiz-warmup-predict">(.*?)</form>', html, re.S)
    assert block and "Predict, then run" in block.group(1)
    area = re.search(r'<div class="predict-area" id="quiz-warmup-predict-run">(.*?)</div>', html, re.S)
    assert area and area.group(1).strip() == "", "the run appears only once the prediction is committed"


def warmup_predict():
    return shared_course().get(CHAPTER).quizzes["warmup-predict"]


def test_answering_a_predict_question_shows_the_real_run_beside_the_prediction(client):
    same = next(o for o in warmup_predict().options if o.text.startswith("About the same"))  # a wrong one
    assert not same.correct
    response = client.post(f"/quiz/{CHAPTER}/warmup-predict", headers={"HX-Request": "true"},
                           data={"choice": str(same.index)})
    assert response.status_code == 200
    html = response.text
    assert '<div class="quiz-feedback is-locked"' in html and "Prediction locked." in html
    run = re.search(r'<div class="predict-area" id="quiz-warmup-predict-run">(.*)', html, re.S)
    assert run, "the run comes with the question, outside its form"
    assert "You predicted" in run.group(1) and "About the same" in run.group(1)
    assert 'data-widget="warmup"' in run.group(1) and 'id="predict-warmup-predict"' in run.group(1)
    assert 'data-stream-url="/widgets/warmup/stream?' in run.group(1) or "figure-json" in run.group(1)
    # the explanation comes after the run, folded, never in the form beside the prediction
    assert html.index('class="predict-explanation"') > html.index('id="predict-warmup-predict"')
    assert "quiz-option-why" not in html[:html.index('id="quiz-warmup-predict-run"')]
    # the saved answer shows the run on the page too, outside the form (the widget has its own form)
    page = client.get(f"/chapters/{CHAPTER}").text
    quiz = re.search(r'<div class="quiz quiz-done" id="quiz-warmup-predict">(.*?)</form>(.*?)<div class="predict-run">',
                     page, re.S)
    assert quiz and 'id="predict-warmup-predict"' not in quiz.group(1)
    assert 'id="quiz-warmup-predict-run"' in quiz.group(2)


def test_predict_json_answer_names_the_run(client):
    body = client.post(f"/api/quiz/{CHAPTER}/warmup-predict",
                       json={"selected": warmup_predict().correct_indices}).json()
    assert body["correct"] is True
    assert body["run"] == {"widget": "warmup", "params": {}, "json_url": "/api/widgets/warmup"}


# --- every predict question tells the truth about the real run -------------------------------
def predict_questions():
    course = shared_course()
    return [(c, q) for c in course.chapters for q in c.quizzes.values() if q.predict is not None]


def assert_predictions_hold(chapter, quiz) -> None:
    """Test helper: run the question's widget at its parameters; every check must be True.

    A run recorded under the same run key by `python -m app check` or an earlier session
    (var/check-runs, tests/shared_runs.py) is reused instead of training again;
    COURSE_CHECK_FRESH=1 always trains."""
    from app.tools.check.predictions import prediction_problems
    from widgets.registry import all_widgets

    widget = all_widgets()[quiz.predict.widget]
    values = widget.canonicalize(quiz.predict.params)
    problems = prediction_problems(widget, values, [(chapter.path.name, quiz)], runs=recorded())
    assert problems == [], "the correct option is not true of the real run:\n" + "\n".join(problems)


@pytest.mark.parametrize("chapter, quiz", predict_questions(), ids=lambda x: getattr(x, "id", getattr(x, "slug", "")))
def test_every_predict_question_is_true_of_the_real_run(chapter, quiz):
    assert_predictions_hold(chapter, quiz)
