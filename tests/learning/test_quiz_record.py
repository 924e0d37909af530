"""Every answer kept, the first one scored: the quiz_attempts and quiz_help tables, hints in
tiers, "show me", a prediction locked once committed, the migration from version 3 with its
rows, and reset, export and delete over the new tables."""
from __future__ import annotations

import sqlite3
import threading

import pytest

from app.learning.progress import MIGRATIONS, ProgressDB, ProgressStore
from app.learning.quiz_record import QuestionClosed

LEARNER = "learner-0123456789abcdef"
OTHER = "other-learner-0123456789"


@pytest.fixture
def store(tmp_path):
    progress = ProgressStore(tmp_path / "progress.sqlite3")
    yield progress
    progress.close()


def test_a_wrong_then_right_answer_is_two_attempts_and_scores_zero(store):
    first = store.record_quiz_attempt(LEARNER, "ch", "q", [2], False, max_attempts=2)
    second = store.record_quiz_attempt(LEARNER, "ch", "q", [0], True, max_attempts=2, confidence="sure")
    assert (first.number, second.number) == (1, 2)
    record = store.quiz_records(LEARNER)["ch"]["q"]
    assert [(a.selected, a.correct) for a in record.attempts] == [((2,), False), ((0,), True)]
    assert record.first_correct is False and record.finished(2)
    assert record.attempts[1].confidence == "sure" and record.attempts[0].confidence is None
    summary = store.summary(LEARNER)["ch"]
    assert (summary.answered, summary.first_correct, summary.hint_used) == (1, 0, 0)
    assert store.answers(LEARNER, "ch") == {"q": ([0], True)}, "the latest answer, where the page needs it"


def test_a_finished_question_takes_no_more_answers(store):
    store.record_quiz_attempt(LEARNER, "ch", "right", [0], True, 2)
    with pytest.raises(QuestionClosed, match="answered correctly"):
        store.record_quiz_attempt(LEARNER, "ch", "right", [1], False, 2)
    store.record_quiz_attempt(LEARNER, "ch", "twice", [1], False, 2)
    store.record_quiz_attempt(LEARNER, "ch", "twice", [2], False, 2)
    with pytest.raises(QuestionClosed, match="at most 2 answers"):
        store.record_quiz_attempt(LEARNER, "ch", "twice", [0], True, 2)
    assert len(store.quiz_records(LEARNER)["ch"]["twice"].attempts) == 2


def test_a_prediction_is_locked_once_committed(store):
    store.record_quiz_attempt(LEARNER, "ch", "predict", [1], False, max_attempts=1)
    with pytest.raises(QuestionClosed, match="locked"):
        store.record_quiz_attempt(LEARNER, "ch", "predict", [0], True, max_attempts=1)
    record = store.quiz_records(LEARNER)["ch"]["predict"]
    assert [a.selected for a in record.attempts] == [(1,)] and record.finished(1)


def test_hints_come_one_tier_per_ask_and_each_answer_records_the_tier_it_had(store):
    assert store.ask_hint(LEARNER, "ch", "q", tiers=2, max_attempts=2) == 1
    store.record_quiz_attempt(LEARNER, "ch", "q", [1], False, 2)
    assert store.ask_hint(LEARNER, "ch", "q", tiers=2, max_attempts=2) == 2
    assert store.ask_hint(LEARNER, "ch", "q", tiers=2, max_attempts=2) == 2, "no third tier"
    store.record_quiz_attempt(LEARNER, "ch", "q", [0], True, 2)
    record = store.quiz_records(LEARNER)["ch"]["q"]
    assert [a.hint_tier for a in record.attempts] == [1, 2] and record.hint_tier == 2
    assert record.hint_used, "the scored answer was given with the nudge open"
    assert store.summary(LEARNER)["ch"].hint_used == 1
    assert store.ask_hint(LEARNER, "ch", "q", tiers=2, max_attempts=2) == 2, "a finished question changes nothing"
    with pytest.raises(QuestionClosed, match="no hint"):
        store.ask_hint(LEARNER, "ch", "plain", tiers=0, max_attempts=2)


def test_show_me_needs_an_answer_first_and_then_finishes_the_question(store):
    with pytest.raises(QuestionClosed, match="answer it first"):
        store.reveal(LEARNER, "ch", "q", 2)
    store.record_quiz_attempt(LEARNER, "ch", "q", [1], False, 2)
    store.reveal(LEARNER, "ch", "q", 2)
    record = store.quiz_records(LEARNER)["ch"]["q"]
    assert record.revealed and record.finished(2) and record.as_dict(2)["attempts_left"] == 0
    with pytest.raises(QuestionClosed, match="shown"):
        store.record_quiz_attempt(LEARNER, "ch", "q", [0], True, 2)


def test_a_confidence_outside_the_three_is_refused(store):
    with pytest.raises(ValueError, match="sure, think, guess"):
        store.record_quiz_attempt(LEARNER, "ch", "q", [0], True, 2, confidence="certain")
    with pytest.raises(sqlite3.IntegrityError):  # the column itself says so too
        with store._write() as conn:
            conn.execute("INSERT INTO quiz_attempts VALUES (?, 'ch', 'q', 1, '[0]', 1, 0, 'maybe', 0)", (LEARNER,))


def test_two_answers_sent_at_once_are_never_both_the_first(tmp_path):
    db = ProgressDB(tmp_path / "p.sqlite3")
    db.migrate()
    outcomes, start = [], threading.Barrier(4)

    def answer(choice: int):
        store = ProgressStore(db)
        start.wait()
        try:
            outcomes.append(store.record_quiz_attempt(LEARNER, "ch", "q", [choice], False, 2).number)
        except QuestionClosed:
            outcomes.append("closed")
        finally:
            store.close()

    threads = [threading.Thread(target=answer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes, key=str) == [1, 2, "closed", "closed"]


def test_learners_records_are_their_own(store):
    store.record_quiz_attempt(LEARNER, "ch", "q", [0], True, 2)
    store.ask_hint(OTHER, "ch", "q", 2, 2)
    assert store.quiz_records(OTHER)["ch"]["q"].attempts == []
    assert store.quiz_records(LEARNER)["ch"]["q"].hint_tier == 0


def test_version_3_migrates_its_answers_into_first_attempts(tmp_path):
    path = tmp_path / "v3.sqlite3"
    with sqlite3.connect(path) as conn:
        for statements in MIGRATIONS[:3]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 3")
        conn.execute("INSERT INTO answers VALUES (?, 'ch', 'q', '[2, 0]', 0, 12.5)", (LEARNER,))
        conn.execute("INSERT INTO visits VALUES (?, 'ch', 1, 2)", (LEARNER,))
    assert ProgressDB(path).migrate() == 3
    with sqlite3.connect(path) as conn:
        tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        rows = conn.execute("SELECT learner, chapter, question, attempt, selected, correct, hint_tier, confidence, "
                            "answered_at FROM quiz_attempts").fetchall()
    assert "answers" not in tables and {"quiz_attempts", "quiz_help", "visits"} <= tables
    assert rows == [(LEARNER, "ch", "q", 1, "[2, 0]", 0, 0, None, 12.5)]
    store = ProgressStore(path)
    assert store.summary(LEARNER)["ch"].answered == 1 and store.summary(LEARNER)["ch"].visited
    store.close()


def test_reset_export_and_delete_cover_the_quiz_tables(store):
    for learner in (LEARNER, OTHER):
        store.record_quiz_attempt(learner, "ch", "q", [1], False, 2, confidence="guess")
        store.ask_hint(learner, "ch", "q", 2, 2)
    exported = store.export(LEARNER)
    assert [(r["attempt"], r["selected"], r["confidence"]) for r in exported["quiz_attempts"]] == [(1, "[1]", "guess")]
    assert [(r["hint_tier"], r["revealed"]) for r in exported["quiz_help"]] == [(1, 0)]
    store.reset(LEARNER)
    assert store.quiz_records(LEARNER) == {}
    store.record_quiz_attempt(LEARNER, "ch", "q", [0], True, 2)
    assert store.delete_learner(LEARNER) == 1
    assert all(not rows for rows in store.export(LEARNER).values())
    assert store.quiz_records(OTHER)["ch"]["q"].hint_tier == 1, "the other learner's record is kept"
