"""Quick-check questions: parsing, grading, the JSON API and the HTML form POST."""
from __future__ import annotations

import re

import pytest

from shared_course import shared_course
from app.course.quiz import AnswerError, QuizFormatError, grade, parse_quiz

CHAPTER = "learning-rate"


def real_quiz(qid: str):
    return shared_course().get(CHAPTER).quizzes[qid]


SINGLE = {"id": "s", "question": "Pick $x$", "options": [
    {"text": "A", "correct": True, "feedback": "A is right."},
    {"text": "B", "correct": False, "feedback": "B is wrong."},
    {"text": "C", "correct": False, "feedback": "C is wrong."}]}
MULTI = {"id": "m", "question": "Pick all", "multiple": True, "options": [
    {"text": "A", "correct": True, "feedback": "A is right."},
    {"text": "B", "correct": True, "feedback": "B is right."},
    {"text": "C", "correct": False, "feedback": "C is wrong."}]}


# --- unit ---------------------------------------------------------------------------------
def test_parse_renders_inline_markdown_and_math():
    quiz = parse_quiz(SINGLE)
    assert "<math" in quiz.question_html
    assert quiz.correct_indices == [0] and not quiz.multiple


@pytest.mark.parametrize("change, message", [
    ({"id": "Bad Id"}, "lowercase"),
    ({"question": ""}, "question is missing"),
    ({"options": SINGLE["options"][:1]}, "at least two options"),
    ({"multiple": "yes"}, "true or false"),
    ({"extra": 1}, "unknown quiz keys"),
    ({"options": [{"text": "A", "correct": True, "feedback": "x"}, {"text": "B", "correct": True, "feedback": "y"}]},
     "exactly one correct"),
    ({"multiple": True, "options": [{"text": "A", "feedback": "x"}, {"text": "B", "feedback": "y"}]},
     "at least one correct"),
    ({"options": [{"text": "A", "correct": True, "feedback": "x"}, {"text": "B", "correct": False}]},
     "every option needs its own feedback"),
])
def test_parse_rejects_malformed_quizzes(change, message):
    with pytest.raises(QuizFormatError, match=message):
        parse_quiz({**SINGLE, **change})


def test_grade_single_right_and_wrong():
    quiz = parse_quiz(SINGLE)
    right = grade(quiz, [0])
    assert right.correct and [o.ok for o in right.options] == [True, True, True]
    wrong = grade(quiz, ["1"])
    assert not wrong.correct
    assert [(o.selected, o.correct, o.ok) for o in wrong.options] == [
        (False, True, False), (True, False, False), (False, False, True)]
    assert wrong.options[0].verdict == "You left this out, but it is right."
    assert wrong.options[1].verdict == "You chose this, but it is wrong."
    assert wrong.options[2].verdict == "You left this out, and rightly so."


def test_grade_multiple_is_all_or_nothing():
    quiz = parse_quiz(MULTI)
    assert grade(quiz, [1, 0]).correct
    assert not grade(quiz, [0]).correct
    assert not grade(quiz, [0, 1, 2]).correct
    assert grade(quiz, [1, 0]).selected == (0, 1)


@pytest.mark.parametrize("selected, message", [
    ([], "at least one"),
    ([3], "does not exist"),
    ([-1], "does not exist"),
    (["x"], "not an option index"),
    ([True], "not an option index"),
    ([0.5], "not an option index"),
    ([0, 1], "single answer"),
    ([0, 0], "chosen twice"),
    ({"a": 1}, "list of option indices"),
])
def test_grade_rejects_bad_answers(selected, message):
    with pytest.raises(AnswerError, match=message):
        grade(parse_quiz(SINGLE), selected)


# --- JSON API -----------------------------------------------------------------------------
def test_api_correct_single_answer(client):
    quiz = real_quiz("lr-meaning")
    response = client.post(f"/api/quiz/{CHAPTER}/lr-meaning", json={"selected": quiz.correct_indices})
    assert response.status_code == 200
    body = response.json()
    assert body["correct"] is True
    assert [o["index"] for o in body["options"]] == list(range(len(quiz.options)))
    assert all(set(o) >= {"index", "selected", "correct", "feedback"} for o in body["options"])
    assert all(o["feedback"] for o in body["options"])


def test_api_incorrect_single_answer_explains_the_chosen_option_then_every_option(client):
    quiz = real_quiz("lr-meaning")
    wrong = next(o.index for o in quiz.options if not o.correct)
    body = client.post(f"/api/quiz/{CHAPTER}/lr-meaning", json={"selected": [wrong]}).json()
    assert body["correct"] is False
    [chosen] = body["options"]  # the first wrong answer gives nothing else away
    assert chosen["index"] == wrong and chosen["selected"] is True and chosen["correct"] is False
    assert chosen["feedback"] == quiz.options[wrong].feedback
    other = next(o.index for o in quiz.options if not o.correct and o.index != wrong)
    body = client.post(f"/api/quiz/{CHAPTER}/lr-meaning", json={"selected": [other]}).json()
    right = body["options"][quiz.correct_indices[0]]
    assert right["selected"] is False and right["correct"] is True and body["finished"]


def test_api_multiple_answer(client):
    quiz = real_quiz("warmup-why")
    assert quiz.multiple
    url = f"/api/quiz/{CHAPTER}/warmup-why"
    assert client.post(url, json={"selected": quiz.correct_indices}).json()["correct"] is True
    client.cookies.clear()  # a new learner
    partial = client.post(url, json={"selected": quiz.correct_indices[:1]}).json()
    assert partial["correct"] is False
    assert [o["selected"] for o in partial["options"]] == [True]  # only what was chosen
    everything = client.post(url, json={"selected": list(range(len(quiz.options)))}).json()
    assert everything["correct"] is False and sum(o["selected"] for o in everything["options"]) == len(quiz.options)


@pytest.mark.parametrize("url, payload, status, message", [
    (f"/api/quiz/{CHAPTER}/lr-meaning", {"selected": [99]}, 422, "does not exist"),
    (f"/api/quiz/{CHAPTER}/lr-meaning", {"selected": []}, 422, "at least 1 item"),
    (f"/api/quiz/{CHAPTER}/lr-meaning", {"selected": [0, 1]}, 422, "single answer"),
    (f"/api/quiz/{CHAPTER}/lr-meaning", {"selected": ["zero"]}, 422, "valid integer"),
    (f"/api/quiz/{CHAPTER}/lr-meaning", {}, 422, "selected"),
    (f"/api/quiz/{CHAPTER}/no-such-question", {"selected": [0]}, 404, "no question"),
    ("/api/quiz/no-such-chapter/lr-meaning", {"selected": [0]}, 404, "no chapter"),
])
def test_api_bad_input(client, url, payload, status, message):
    response = client.post(url, json=payload)
    assert response.status_code == status
    assert message in str(response.json()["detail"])


def test_chapter_json_lists_questions_without_answers(client):
    body = client.get(f"/api/chapters/{CHAPTER}").json()
    assert len(body["quizzes"]) >= 4
    for quiz in body["quizzes"]:
        for option in quiz["options"]:
            assert set(option) == {"index", "text"}


# --- HTML form ----------------------------------------------------------------------------
def test_chapter_page_renders_quiz_forms(client):
    html = client.get(f"/chapters/{CHAPTER}").text
    form = re.search(r'<div class="quiz quiz-open" id="quiz-warmup-why">.*?</form>', html, re.S).group(0)
    assert f'hx-post="/quiz/{CHAPTER}/warmup-why"' in form
    assert f'action="/quiz/{CHAPTER}/warmup-why"' in form and 'method="post"' in form
    assert 'hx-target="#quiz-warmup-why" hx-swap="outerHTML"' in form and 'id="quiz-warmup-why-feedback"' in form
    assert form.count('type="checkbox"') == len(real_quiz("warmup-why").options)
    single = re.search(r'<div class="quiz quiz-open" id="quiz-lr-meaning">.*?</form>', html, re.S).group(0)
    assert single.count('type="radio" name="choice"') == len(real_quiz("lr-meaning").options)
    assert single.count('type="radio" name="confidence"') == 3  # sure, think so, guessing (issue 23)
    assert "type=\"checkbox\"" not in single


def test_htmx_post_returns_feedback_for_every_option(client):
    quiz = real_quiz("warmup-why")
    response = client.post(f"/quiz/{CHAPTER}/warmup-why", headers={"HX-Request": "true"},
                           data={"choice": [str(i) for i in quiz.correct_indices]})
    assert response.status_code == 200
    html = response.text
    assert '<div class="quiz-feedback is-correct"' in html
    assert html.count('class="quiz-option-why"') == len(quiz.options)
    for option in quiz.options:
        assert str(option.feedback_html) in html
    assert 'class="quiz-score"' in html
    assert 'hx-swap-oob="true"' in html and f'id="progress-{CHAPTER}"' in html
    assert "<html" not in html  # a fragment, not a page


def test_htmx_post_wrong_answer_and_empty_answer(client):
    url = f"/quiz/{CHAPTER}/lr-meaning"
    wrong = next(o.index for o in real_quiz("lr-meaning").options if not o.correct)
    html = client.post(url, headers={"HX-Request": "true"}, data={"choice": str(wrong)}).text
    assert '<div class="quiz-feedback is-wrong"' in html
    assert "You chose this, but it is wrong." in html
    assert "You left this out" not in html, "the first wrong answer gives no other option away"
    assert "Try once more" in html and "Show me the answer" in html
    empty = client.post(url, headers={"HX-Request": "true"}, data={})
    assert empty.status_code == 422 and "at least one" in empty.text


def test_plain_form_post_redirects_back_and_shows_the_saved_answer(client):
    quiz = real_quiz("lr-meaning")
    url = f"/quiz/{CHAPTER}/lr-meaning"
    response = client.post(url, data={"choice": str(quiz.correct_indices[0])}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/chapters/{CHAPTER}#quiz-lr-meaning"
    page = client.get(response.headers["location"].split("#")[0]).text
    block = re.search(r'<div class="quiz quiz-done" id="quiz-lr-meaning">.*?</form>', page, re.S).group(0)
    assert f'value="{quiz.correct_indices[0]}" required checked' in block
    assert '<div class="quiz-feedback is-correct"' in block
    bad = client.post(url, data={"choice": "42"}, follow_redirects=False)
    assert bad.status_code == 422 and "does not exist" in bad.json()["detail"][0]["msg"]


def test_plain_form_post_to_unknown_question_is_404(client):
    assert client.post(f"/quiz/{CHAPTER}/nope", data={"choice": "0"}).status_code == 404
    assert client.post("/quiz/nope/lr-meaning", data={"choice": "0"}).status_code == 404
