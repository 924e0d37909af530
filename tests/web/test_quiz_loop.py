"""The loop with integrity, through the server: scored on the first answer, the chosen option's
feedback and one more try, "show me", hints in two tiers that are recorded, a prediction locked
once committed; the JSON twins say so (first_correct, hint_used, attempts), and the plain forms
and htmx show the same."""
from __future__ import annotations

import dataclasses
import re
import textwrap

import pytest
from fastapi.testclient import TestClient

from app.course.content import load_course
from app.learning.quiz_record import QuestionRecord
from app.settings import Settings

COURSE = load_course(Settings().content_dir)
CHAPTER = "learning-rate"
QUIZZES = COURSE.get(CHAPTER).quizzes
PREDICT = next(q for q in QUIZZES.values() if q.predict is not None)
PLAIN = next(q for q in QUIZZES.values() if q.predict is None and not q.multiple)


def wrong(quiz) -> list[int]:
    return [next(o.index for o in quiz.options if not o.correct)]


def post(client, qid: str, selected: list[int], chapter: str = CHAPTER, **extra):
    return client.post(f"/api/quiz/{chapter}/{qid}", json={"selected": selected, **extra})


def test_a_wrong_first_answer_shows_only_its_own_feedback_and_scores_zero_when_then_right(client):
    first = post(client, PLAIN.id, wrong(PLAIN)).json()
    assert first["correct"] is False and first["attempt"] == 1 and first["attempts_left"] == 1
    assert [o["index"] for o in first["options"]] == wrong(PLAIN), "only the chosen option is explained"
    assert "correct_options" not in first and not first["finished"]

    second = post(client, PLAIN.id, PLAIN.correct_indices).json()
    assert second["correct"] is True and second["attempt"] == 2 and second["finished"]
    assert second["first_correct"] is False and second["attempts"] == 2
    assert len(second["options"]) == len(PLAIN.options) and second["correct_options"] == PLAIN.correct_indices
    progress = client.get("/api/progress").json()[CHAPTER]
    assert progress["first_correct"] == 0 and progress["answered"] == 1
    assert progress["quizzes"][PLAIN.id]["history"][0]["selected"] == wrong(PLAIN)

    third = post(client, PLAIN.id, wrong(PLAIN))
    assert third.status_code == 409 and "finished" in third.json()["detail"]
    assert client.get(f"/api/quiz/{CHAPTER}/{PLAIN.id}").json()["attempts"] == 2


def test_a_committed_prediction_cannot_be_changed(client):
    body = post(client, PREDICT.id, wrong(PREDICT)).json()
    assert body["finished"] and body["attempts_left"] == 0
    assert body["run"]["widget"] == PREDICT.predict.widget, "the real run to compare with"
    again = post(client, PREDICT.id, PREDICT.correct_indices)
    assert again.status_code == 409 and "locked" in again.json()["detail"]
    state = client.get(f"/api/quiz/{CHAPTER}/{PREDICT.id}").json()
    assert [h["selected"] for h in state["history"]] == [wrong(PREDICT)]
    form = client.post(f"/quiz/{CHAPTER}/{PREDICT.id}", data={"choice": str(PREDICT.correct_indices[0])},
                       follow_redirects=False)
    assert form.status_code == 303, "the form shows the locked question; nothing is stored"
    assert client.get(f"/api/quiz/{CHAPTER}/{PREDICT.id}").json()["history"] == state["history"]


def test_show_me_after_a_wrong_answer_reveals_every_option_and_finishes(client):
    early = client.post(f"/api/quiz/{CHAPTER}/{PLAIN.id}/reveal")
    assert early.status_code == 409 and "answer it first" in early.json()["detail"]
    post(client, PLAIN.id, wrong(PLAIN))
    shown = client.post(f"/api/quiz/{CHAPTER}/{PLAIN.id}/reveal").json()
    assert shown["revealed"] and shown["finished"] and len(shown["options"]) == len(PLAIN.options)
    assert post(client, PLAIN.id, PLAIN.correct_indices).status_code == 409


def test_a_confidence_is_stored_and_a_bad_one_is_a_422_naming_it(client):
    assert post(client, PLAIN.id, wrong(PLAIN), confidence="sure").json()["history"][0]["confidence"] == "sure"
    bad = post(client, PLAIN.id, PLAIN.correct_indices, confidence="certain")
    assert bad.status_code == 422 and "confidence" in str(bad.json()["detail"])
    form = client.post(f"/quiz/{CHAPTER}/{PLAIN.id}", data={"choice": "0", "confidence": "certain"})
    assert form.status_code == 422 and form.json()["detail"][0]["loc"][-1] == "confidence"


def test_the_chapter_json_gives_no_hint_text_only_how_many_to_ask_for(client):
    body = client.get(f"/api/chapters/{CHAPTER}").json()
    quiz = next(q for q in body["quizzes"] if q["id"] == PLAIN.id)
    assert quiz["hints"] == len(PLAIN.hint_tiers) and "hint" not in quiz and "recipe" not in quiz
    assert quiz["attempts_allowed"] == 2
    assert PLAIN.hint not in body["html"], "the page holds the hint back until it is asked for"


# --- a small course with a two-tier hint ------------------------------------------------------

QUIZ_WITH_RECIPE = textwrap.dedent("""
    ```quiz
    id: halve
    question: What is half of 10?
    kind: apply
    hint: Halving is dividing by two.
    recipe: Divide 10 by 2.
    options:
      - text: "5"
        correct: true
        feedback: 10 / 2 = 5.
      - text: "20"
        feedback: That doubles it.
      - text: "2"
        feedback: That divides by five.
    ```
    """)


@pytest.fixture
def hint_client(settings, tmp_path):
    chapters = tmp_path / "content" / "chapters"
    chapters.mkdir(parents=True)
    (chapters / "01-one.md").write_text(textwrap.dedent("""\
        ---
        title: One
        slug: one
        order: 1
        minutes: 5
        objectives: [Halve]
        glossary: {half: one of two equal parts}
        ---
        ## Halves

        Text.
        """) + QUIZ_WITH_RECIPE)
    from app.main import create_app

    with TestClient(create_app(dataclasses.replace(settings, content_dir=tmp_path / "content"))) as client:
        yield client


def test_hints_come_in_two_tiers_and_a_hinted_first_answer_is_recorded_as_such(hint_client):
    client = hint_client
    page = client.get("/chapters/one").text
    assert "Halving is dividing" not in page and "Stuck? Show a hint" in page
    one = client.post("/api/quiz/one/halve/hint").json()
    assert [h["text"] for h in one["hints"]] == ["Halving is dividing by two."] and one["hint_tier"] == 1
    two = client.post("/api/quiz/one/halve/hint").json()
    assert [h["label"] for h in two["hints"]] == ["Hint", "How to work it out"] and two["hint_tier"] == 2
    assert client.post("/api/quiz/one/halve/hint").json()["hint_tier"] == 2, "two tiers, no more"
    answered = post(client, "halve", [0], chapter="one").json()
    assert answered["first_correct"] is True and answered["hint_used"] is True
    assert answered["history"][0]["hint_tier"] == 2
    progress = client.get("/api/progress").json()["one"]
    assert (progress["first_correct"], progress["hint_used"]) == (1, 1)
    page = client.get("/chapters/one").text
    assert "Right on the first answer, with a hint." in page and "(1 with a hint)" in page


def test_without_javascript_the_forms_walk_the_whole_loop(hint_client):
    client = hint_client
    hinted = client.post("/quiz/one/halve/hint", follow_redirects=False)
    assert hinted.status_code == 303 and hinted.headers["location"] == "/chapters/one#quiz-halve"
    page = client.get("/chapters/one").text
    assert "Halving is dividing by two." in page and "Still stuck? Show how to work it out" in page
    assert 'formaction="/quiz/one/halve/hint" formnovalidate' in page, "the hint needs no chosen option"

    assert client.post("/quiz/one/halve", data={"choice": "1"}, follow_redirects=False).status_code == 303
    page = client.get("/chapters/one").text
    block = re.search(r'<div class="quiz quiz-retry" id="quiz-halve">.*?</form>', page, re.S).group(0)
    assert "That doubles it." in block and "10 / 2 = 5." not in block, "only the chosen option's feedback"
    assert "Try once more" in block and 'formaction="/quiz/one/halve/reveal"' in block

    client.post("/quiz/one/halve/reveal")
    page = client.get("/chapters/one").text
    block = re.search(r'<div class="quiz quiz-done" id="quiz-halve">.*?</form>', page, re.S).group(0)
    assert "<fieldset disabled>" in block and "10 / 2 = 5." in block and "That divides by five." in block
    assert "Here is the answer." in block and "Try once more" not in block
    assert re.search(r"0 of 1</strong> questions right on the\s+first answer", page)


def test_htmx_gets_the_question_and_the_sidebar_and_recap_scores(hint_client):
    client = hint_client
    client.get("/")
    response = client.post("/quiz/one/halve", data={"choice": "0"}, headers={"HX-Request": "true"})
    html = response.text
    assert html.lstrip().startswith('<div class="quiz quiz-done" id="quiz-halve">')
    assert 'data-quiz-focus' in html, "static/quiz.js moves the focus to the feedback"
    assert re.search(r'<span hx-swap-oob="true" class="progress-badge[^"]*"\s*id="progress-one">', html)
    assert re.search(r'<p class="recap-score" id="recap-score" hx-swap-oob="true">Your score: <strong>1 of 1', html)


def test_an_untouched_question_is_kept_and_never_shown_once_touched(app):
    """Untouched questions' HTML is kept (app/web/views/quiz.py, render_quiz): a learner who
    answered or asked for a hint sees their own state, another learner still the untouched
    question."""
    def question_html(client, qid):
        page = client.get(f"/chapters/{CHAPTER}").text
        return re.search(rf'<div class="quiz quiz-(\w+)" id="quiz-{qid}">', page).group(1), page

    with TestClient(app) as answered, TestClient(app) as hinted, TestClient(app) as fresh:
        for learner in (answered, hinted, fresh):
            assert question_html(learner, PLAIN.id)[0] == "open"
        assert app.state.kept_questions.entries, "untouched questions are kept"
        post(answered, PLAIN.id, wrong(PLAIN))
        hinted.post(f"/quiz/{CHAPTER}/{PLAIN.id}/hint", headers={"HX-Request": "true"})
        assert question_html(answered, PLAIN.id)[0] == "retry"
        phase, page = question_html(hinted, PLAIN.id)
        assert phase == "open" and "quiz-hint-box" in page.split(f'id="quiz-{PLAIN.id}"')[1].split('class="quiz quiz-')[0]
        assert question_html(fresh, PLAIN.id)[0] == "open"


def test_an_untouched_question_put_together_in_any_order_is_the_question_rendered_in_it(app):
    """render_quiz keeps an untouched question once and puts its options in each learner's order
    (UntouchedQuestion): every order of every question of the course is the same HTML as
    _quiz.html renders for it, single choice, several choices and predictions alike."""
    from itertools import permutations
    from types import SimpleNamespace

    from app.web.views.quiz import QuizState, UntouchedQuestion, quiz_context, render_quiz

    request = SimpleNamespace(app=app)
    template = app.state.templates.get_template("_quiz.html")
    kinds = set()
    for chapter in COURSE.chapters:
        score = {"first_correct": 0, "answered": 0, "hint_used": 0, "total": len(chapter.quizzes)}
        for quiz in chapter.quizzes.values():
            kinds.add("predict" if quiz.predict else "multiple" if quiz.multiple else "single")
            for order in permutations(range(len(quiz.options))):
                state = QuizState(quiz, QuestionRecord(), list(order))
                assert render_quiz(request, chapter, state, score) == template.render(
                    **quiz_context(request, chapter, state, score)), (chapter.slug, quiz.id, order)
            kept = app.state.kept_questions.entries[(chapter.slug, quiz.id)][1]
            assert isinstance(kept, UntouchedQuestion), "kept in pieces, not rendered per order"
    assert kinds == {"predict", "multiple", "single"}, kinds
