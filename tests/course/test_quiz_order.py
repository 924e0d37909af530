"""Each learner sees each question's options in an order of their own, stable on reload;
grading, the API and saved answers use the authored index, so the order never matters."""
from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from shared_course import shared_course
from app.course.quiz import display_order

COURSE = shared_course()
QUESTIONS = [(c.slug, q) for c in COURSE.chapters for q in c.quizzes.values()]
CHAPTER = COURSE.chapters[0]
LEARNER_A, LEARNER_B = "a" * 24, "b" * 24


def shown_order(html: str, qid: str) -> list[int]:
    """The authored indices of a question's options, in the order the page shows them."""
    block = html[html.index(f'id="quiz-{qid}"'):]
    block = block[:block.index("</fieldset>")]
    return [int(v) for v in re.findall(r'name="choice" value="(\d+)"', block)]


def test_the_order_is_a_permutation_and_the_same_every_time():
    for slug, quiz in QUESTIONS:
        order = display_order(quiz, LEARNER_A, slug)
        assert sorted(order) == list(range(len(quiz.options)))
        assert display_order(quiz, LEARNER_A, slug) == order


def test_two_learners_see_different_orders():
    differ = sum(display_order(q, LEARNER_A, s) != display_order(q, LEARNER_B, s) for s, q in QUESTIONS)
    assert differ >= 0.7 * len(QUESTIONS), f"only {differ} of {len(QUESTIONS)} questions are ordered differently"


def test_the_right_answer_is_not_where_a_pattern_would_put_it():
    """For any one learner the key is spread over the positions, not first (or last) every time."""
    for learner in (LEARNER_A, LEARNER_B, "c" * 24):
        first = sum(display_order(q, learner, s)[0] in q.correct_indices for s, q in QUESTIONS)
        last = sum(display_order(q, learner, s)[-1] in q.correct_indices for s, q in QUESTIONS)
        assert first < 0.55 * len(QUESTIONS) and last < 0.55 * len(QUESTIONS), (learner, first, last)


def _client(app, learner: str) -> TestClient:
    client = TestClient(app)
    client.cookies.set("learner", learner)
    return client


def test_pages_show_each_learner_their_order_and_keep_it_on_reload(app):
    with _client(app, LEARNER_A) as a, _client(app, LEARNER_B) as b:
        page_a, page_b, again_a = a.get(CHAPTER.url).text, b.get(CHAPTER.url).text, a.get(CHAPTER.url).text
        for quiz in CHAPTER.quizzes.values():
            assert shown_order(page_a, quiz.id) == display_order(quiz, LEARNER_A, CHAPTER.slug)
            assert shown_order(again_a, quiz.id) == shown_order(page_a, quiz.id)
            assert shown_order(page_b, quiz.id) == display_order(quiz, LEARNER_B, CHAPTER.slug)
        assert any(shown_order(page_a, q) != shown_order(page_b, q) for q in CHAPTER.quizzes)


def test_the_json_twin_lists_options_in_the_learners_order_with_authored_indices(app):
    with _client(app, LEARNER_A) as a:
        quizzes = a.get(f"/api/chapters/{CHAPTER.slug}").json()["quizzes"]
    for body in quizzes:
        quiz = CHAPTER.quizzes[body["id"]]
        assert [o["index"] for o in body["options"]] == display_order(quiz, LEARNER_A, CHAPTER.slug)
        assert all(o["text"] == quiz.options[o["index"]].text for o in body["options"])
        assert body["hints"] == len(quiz.hint_tiers) and all(set(o) == {"index", "text"} for o in body["options"])


def test_a_saved_answer_is_kept_by_authored_index_whatever_the_order(app):
    """Answer without JavaScript (form POST, 303); the reloaded page checks the same option,
    for this learner and, reading the same store, in any other order."""
    quiz = next(q for q in CHAPTER.quizzes.values() if not q.multiple and not q.predict)
    right = quiz.correct_indices[0]
    with _client(app, LEARNER_A) as a:
        answered = a.post(f"/quiz/{CHAPTER.slug}/{quiz.id}", data={"choice": str(right)}, follow_redirects=False)
        assert answered.status_code == 303
        html = a.get(CHAPTER.url).text
    block = html[html.index(f'id="quiz-{quiz.id}"'):]
    block = block[:block.index('class="quiz-feedback-area"')]
    checked = re.findall(r'value="(\d+)"[^>]*checked', block)
    assert checked == [str(right)]
    assert 'class="quiz-feedback is-correct"' in html[html.index(f'id="quiz-{quiz.id}"'):]
    # the feedback lists the options in the same order as the form
    feedback = html[html.index(f'id="quiz-{quiz.id}-feedback"'):]
    feedback = feedback[:feedback.index("quiz-score")]
    shown = [quiz.options[i].feedback_html for i in display_order(quiz, LEARNER_A, CHAPTER.slug)]
    positions = [feedback.index(str(f)) for f in shown]
    assert positions == sorted(positions)


@pytest.mark.parametrize("slug,quiz", QUESTIONS[:6], ids=[q.id for _, q in QUESTIONS[:6]])
def test_the_api_grades_by_authored_index(client, slug, quiz):
    graded = client.post(f"/api/quiz/{slug}/{quiz.id}", json={"selected": quiz.correct_indices}).json()
    assert graded["correct"] is True
    assert [o["index"] for o in graded["options"]] == list(range(len(quiz.options)))
