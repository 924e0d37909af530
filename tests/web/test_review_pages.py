"""Spaced review through the web layer: confidence on every answer (forms and JSON), cards
made by first answers and exercise runs, /review and its JSON twin with a moved clock,
interleaving, reshuffled options, and export and delete of the review tables."""
from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from shared_course import shared_course
from app.learning.progress import ProgressStore
from app.learning.review import EXERCISE, QUIZ
from app.web.learner import COOKIE_NAME
from app.web.views.review import SESSION_SIZE, interleave, review_order, schedule_exercise_run

COURSE = shared_course()
CH1 = COURSE.chapters[0]
CH3 = COURSE.get("learning-rate")
T0 = datetime.now(timezone.utc)


def plain(chapter):
    """The chapter's questions that are not predictions."""
    return [q for q in chapter.quizzes.values() if q.predict is None]


def wrong_index(quiz) -> int:
    return next(o.index for o in quiz.options if not o.correct)


@pytest.fixture
def clock(app):
    """The app's review clock, set by the test: clock.days = 30 moves it 30 days on."""
    class Moved:
        days = 0.0

        def __call__(self):
            return T0 + timedelta(days=self.days)
    moved = Moved()
    app.state.clock = moved
    return moved


def answer(client, chapter, quiz, right=True, confidence=None):
    body = {"selected": quiz.correct_indices if right else [wrong_index(quiz)]}
    if confidence:
        body["confidence"] = confidence
    response = client.post(f"/api/quiz/{chapter.slug}/{quiz.id}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


# --- confidence ----------------------------------------------------------------------------------

def test_a_form_answer_stores_its_confidence_and_the_form_asks_for_it(client, clock):
    quiz = plain(CH1)[0]
    page = client.get(CH1.url).text
    block = page[page.index(f'id="quiz-{quiz.id}"'):]
    block = block[:block.index("</form>")]
    assert 'name="confidence" value="sure"' in block and 'value="think"' in block and 'value="guess"' in block
    assert "How sure are you?" in block
    response = client.post(f"/quiz/{CH1.slug}/{quiz.id}", data={"choice": str(quiz.correct_indices[0]),
                                                                 "confidence": "guess"}, follow_redirects=False)
    assert response.status_code == 303
    record = client.get(f"/api/quiz/{CH1.slug}/{quiz.id}").json()
    assert record["history"][0]["confidence"] == "guess" and record["finished"]
    page = client.get(CH1.url).text
    block = page[page.index(f'id="quiz-{quiz.id}"'):]
    assert 'name="confidence"' not in block[:block.index("</form>")], "a finished question asks nothing more"


def test_a_confidence_outside_the_three_is_a_422_naming_field_value_and_allowed(client):
    quiz = plain(CH1)[0]
    twin = client.post(f"/api/quiz/{CH1.slug}/{quiz.id}", json={"selected": [0], "confidence": "certain"})
    assert twin.status_code == 422
    problem = twin.json()["detail"][0]
    assert problem["loc"][-1] == "confidence" and problem["input"] == "certain"
    assert all(word in problem["allowed"] for word in ("sure", "think", "guess"))
    form = client.post(f"/quiz/{CH1.slug}/{quiz.id}", data={"choice": "0", "confidence": "certain"},
                       headers={"accept": "text/html"})
    assert form.status_code == 422 and "confidence" in form.text and "certain" in form.text
    assert "sure | think | guess" in form.text
    assert client.get(f"/api/quiz/{CH1.slug}/{quiz.id}").json()["attempts"] == 0, "nothing recorded"


# --- cards and the queue -------------------------------------------------------------------------

def test_first_answers_make_cards_that_come_due_and_leave_the_queue(client, clock):
    a, b = plain(CH1)[:2]
    c = plain(CH3)[0]
    answer(client, CH1, a, right=True, confidence="sure")
    answer(client, CH1, b, right=False)
    answer(client, CH1, b, right=True)  # the second try does not change the card
    answer(client, CH3, c, right=True)
    assert client.get("/api/review").json()["due"] == 0
    assert "Nothing is due now" in client.get("/review").text

    clock.days = 400
    due = client.get("/api/review").json()
    assert due["due"] == 3 and len(due["session"]) == 3
    chapters = [q["chapter"] for q in due["session"]]
    assert chapters[0] != chapters[1], "interleaved across chapters"
    for q in due["session"]:
        assert "correct" not in str(q["options"]) and q["answer_url"].startswith("/api/review/")
    assert 'action="/review/' in client.get("/review").text

    for q in due["session"]:
        quiz = COURSE.get(q["chapter"]).quizzes[q["question_id"]]
        shown = [o["index"] for o in q["options"]]
        assert sorted(shown) == list(range(len(quiz.options)))
        graded = client.post(q["answer_url"], json={"selected": quiz.correct_indices, "confidence": "think"})
        assert graded.status_code == 200 and graded.json()["correct"] and graded.json()["rating"] == "Good"
        assert len(graded.json()["options"]) == len(quiz.options), "every option's explanation"
        assert graded.json()["section_url"].startswith(f"/chapters/{q['chapter']}#")
        again = client.post(q["answer_url"], json={"selected": quiz.correct_indices})
        assert again.status_code == 409 and "not due" in again.json()["detail"]
    assert client.get("/api/review").json()["due"] == 0


def test_a_plain_form_review_shows_feedback_then_the_next_question(client, clock):
    quizzes = plain(CH1)[:2]
    for quiz in quizzes:
        answer(client, CH1, quiz)
    clock.days = 400
    page = client.get("/review").text
    current = re.search(r'action="/review/([a-z0-9-]+)/([a-z0-9-]+)"', page).groups()
    assert current[0] == CH1.slug and 'name="done" value="0"' in page and 'name="confidence"' in page
    quiz = CH1.quizzes[current[1]]
    posted = client.post(f"/review/{CH1.slug}/{quiz.id}", data={"choice": str(wrong_index(quiz)), "done": "0"},
                         follow_redirects=False)
    assert posted.status_code == 303 and posted.headers["location"] == f"/review?done=1&last={CH1.slug}/{quiz.id}"
    feedback = client.get(posted.headers["location"]).text
    assert "Not quite." in feedback and "It comes back tomorrow" in feedback and "Next question" in feedback
    assert feedback.count("quiz-option-why") == len(quiz.options)
    nxt = client.get("/review?done=1").text
    other = re.search(r'action="/review/([a-z0-9-]+)/([a-z0-9-]+)"', nxt).group(2)
    assert other != quiz.id and 'name="done" value="1"' in nxt
    # htmx: the panel comes back in place, with the feedback
    swapped = client.post(f"/review/{CH1.slug}/{other}", data={"choice": str(CH1.quizzes[other].correct_indices[0]),
                                                                "done": "1"}, headers={"HX-Request": "true"})
    assert swapped.status_code == 200 and swapped.text.lstrip().startswith('<div class="review-panel"')
    assert "Correct." in swapped.text and "Nothing more is due now" in swapped.text
    # the card was answered once: a second post of the same form shows what is due instead
    twice = client.post(f"/review/{CH1.slug}/{other}", data={"choice": "0", "done": "2"}, follow_redirects=False)
    assert twice.status_code == 303 and twice.headers["location"] == "/review?done=2"


def test_bad_review_answers_are_422_and_change_nothing(client, clock):
    quiz = plain(CH1)[0]
    answer(client, CH1, quiz)
    clock.days = 400
    url = f"/api/review/{CH1.slug}/{quiz.id}"
    assert client.post(url, json={"selected": [99]}).status_code == 422
    assert client.post(url, json={"selected": [0], "confidence": "maybe"}).status_code == 422
    form = client.post(f"/review/{CH1.slug}/{quiz.id}", data={"choice": "0", "done": "many"},
                       headers={"accept": "text/html"})
    assert form.status_code == 422 and "done" in form.text
    assert client.get("/api/review").json()["due"] == 1
    assert client.post(f"/api/review/{CH1.slug}/nope", json={"selected": [0]}).status_code == 404


def test_a_session_is_ten_questions():
    """interleave() keeps every card and alternates chapters while it can."""
    from app.learning.review import ReviewCard

    def card(chapter, item, day):
        return ReviewCard(QUIZ, chapter, item, 2, None, 1.0, 5.0, T0 + timedelta(days=day), T0, 1, 0)
    cards = [card("a", f"a{i}", i) for i in range(8)] + [card("b", f"b{i}", 10 + i) for i in range(3)]
    mixed = interleave(cards)
    assert sorted(c.item for c in mixed) == sorted(c.item for c in cards)
    assert [c.chapter for c in mixed[:6]] == ["a", "b", "a", "b", "a", "b"]
    assert SESSION_SIZE == 10


def test_options_are_reshuffled_for_each_review_and_stable_on_a_reload():
    quiz = max(COURSE.get(CH1.slug).quizzes.values(), key=lambda q: len(q.options))
    orders = [review_order(quiz, "learner-x", CH1.slug, n) for n in range(1, 9)]
    assert all(sorted(o) == list(range(len(quiz.options))) for o in orders)
    assert len({tuple(o) for o in orders}) > 1
    assert review_order(quiz, "learner-x", CH1.slug, 3) == orders[2]


def test_an_exercise_becomes_a_card_reviewed_by_its_next_run_when_due(app, settings):
    exercise = next(iter(app.state.course.exercises().values()))
    store = ProgressStore(settings.database_path)
    schedule_exercise_run(store, "me", exercise, False, 0, T0)
    card = store.card("me", EXERCISE, exercise.chapter, exercise.id)
    assert card is not None and card.due - T0 == timedelta(days=1), "a failed first run: Again"
    schedule_exercise_run(store, "me", exercise, True, 0, T0 + timedelta(hours=1))
    assert store.card("me", EXERCISE, exercise.chapter, exercise.id) == card, "not due: not a review"
    schedule_exercise_run(store, "me", exercise, True, 0, card.due)
    assert store.card("me", EXERCISE, exercise.chapter, exercise.id).reviews == 2
    schedule_exercise_run(store, "you", exercise, True, 1, T0)
    assert [r.rating for r in store.review_log("you")] == [2], "passed with a hint open: Hard"
    store.close()


# --- export and delete ---------------------------------------------------------------------------

def test_export_and_delete_cover_the_review_tables(client, clock, settings):
    quiz = plain(CH1)[0]
    answer(client, CH1, quiz, confidence="sure")
    clock.days = 400
    assert client.post(f"/api/review/{CH1.slug}/{quiz.id}", json={"selected": quiz.correct_indices}).status_code == 200
    learner = client.cookies[COOKIE_NAME]
    tables = client.get("/api/progress/export").json()["tables"]
    assert [(r["item"], r["learner"], r["reviews"]) for r in tables["review_cards"]] == [(quiz.id, learner, 2)]
    assert [(r["source"], r["confidence"]) for r in tables["review_log"]] == [("chapter", "sure"), ("review", None)]
    assert client.post("/progress/delete", data={"confirm": "yes"}, follow_redirects=False).status_code == 303
    with sqlite3.connect(settings.database_path) as conn:
        for table in ("review_cards", "review_log"):
            assert conn.execute(f"SELECT count(*) FROM {table} WHERE learner = ?", (learner,)).fetchone()[0] == 0


def test_a_new_visitor_has_nothing_to_review(client):
    assert "Nothing to review yet" in client.get("/review").text
    body = client.get("/api/review").json()
    assert body["due"] == 0 and body["session"] == [] and body["next_due"] is None


# --- your learning, the landing page, a chapter ---------------------------------------------------

def test_learning_shows_recall_mastery_calibration_and_wrong_predictions(client, clock):
    predict = next(q for q in CH1.quizzes.values() if q.predict is not None)
    a, b = plain(CH1)[:2]
    answer(client, CH1, predict, right=False, confidence="sure")
    answer(client, CH1, a, right=True, confidence="sure")
    answer(client, CH1, b, right=True)  # no confidence: not in the calibration
    clock.days = 3
    body = client.get("/api/learning").json()
    ch1 = next(c for c in body["chapters"] if c["chapter"] == CH1.slug)
    assert ch1["cards"] == 3 and ch1["questions"] == len(CH1.quizzes)
    assert 0 < ch1["retrievability"] < 1 and 0 < ch1["mastery"] < 3 / len(CH1.quizzes)
    assert predict.id in ch1["due"] and body["due"] >= 1
    others = [c for c in body["chapters"] if c["chapter"] != CH1.slug]
    assert all(c["cards"] == 0 and c["mastery"] == 0 and c["level"] == "not started" for c in others)
    levels = {level["confidence"]: level for level in body["calibration"]["levels"]}
    assert (levels["sure"]["answers"], levels["sure"]["correct"]) == (2, 1) and levels["think"]["answers"] == 0
    assert body["calibration"]["brier"] == pytest.approx((0.9 ** 2 + 0.1 ** 2) / 2)
    assert [w["question_id"] for w in body["wrong_predictions"]] == [predict.id]

    page = client.get("/learning").text
    assert 'id="calibration-chart"' in page and 'class="figure-json"' in page
    assert f'{(0.9 ** 2 + 0.1 ** 2) / 2:.3f}' in page and "Predictions you got wrong" in page
    home = client.get("/").text
    assert re.search(r'href="/review">Review: \d+ due now', home) and "mastery-badge" in home
    chapter = client.get(CH1.url).text
    assert "Due for review here" in chapter and f'href="#quiz-{predict.id}"' in chapter


def test_a_new_visitor_sees_an_empty_learning_page(client):
    page = client.get("/learning")
    assert page.status_code == 200 and "Nothing yet" in page.text and "figure-json" not in page.text
    assert client.get("/api/learning").json()["calibration"]["brier"] is None
    assert "mastery-badge" not in client.get("/").text


def test_a_graded_exercise_run_makes_its_card_and_comes_due_on_review(client, clock):
    from app.course.exercises import load_exercises
    from app.settings import Settings

    exercise = load_exercises(Settings().content_dir)["spike-detector"]
    graded = client.post(f"/api/exercises/{exercise.id}", json={"code": exercise.solution})
    assert graded.status_code == 200 and graded.json()["passed"], graded.text
    card = client.get("/api/learning").json()
    assert card["cards"] == 1 and card["due"] == 0
    clock.days = 400
    due = client.get("/api/review").json()
    assert [e["id"] for e in due["exercises"]] == [exercise.id] and due["session"] == []
    assert f'href="/chapters/{exercise.chapter}#exercise-{exercise.id}"' in client.get("/review").text
