"""Spaced review's record (app/learning/review.py): the schedule stored is the fsrs package's
own, replayed from fixed review logs; ratings from answers; cards not due are refused; the
tables are part of the schema and of a reset; calibration and its Brier score."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from fsrs import Card, Rating, ReviewLog, Scheduler, State

from app.learning.calibration import STATED, calibration
from app.learning.clock import Clock
from app.learning.progress import MIGRATIONS, SCHEMA_VERSION, ProgressStore
from app.learning.review import QUIZ, CardNotDue, card_id, rating_for

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
# fixed review logs: (days after the card fell due, rating), the first at T0; some reviews on
# the day, some well after (late); every rating, lapses and relearning
LOGS = {
    "steady": [(0, Rating.Good), (0, Rating.Good), (0, Rating.Easy), (4.5, Rating.Good), (0, Rating.Good)],
    "lapses": [(0, Rating.Again), (0, Rating.Again), (0, Rating.Good), (2, Rating.Hard), (0.5, Rating.Again),
               (0, Rating.Good), (3, Rating.Easy)],
    "hinted": [(0, Rating.Hard), (0, Rating.Hard), (0.5, Rating.Good), (0, Rating.Again), (1, Rating.Good)],
    "late": [(0, Rating.Easy), (10, Rating.Good), (60.5, Rating.Again), (1.25, Rating.Good)],
}


@pytest.fixture
def store(tmp_path):
    progress = ProgressStore(tmp_path / "progress.sqlite3")
    yield progress
    progress.close()


def replay(store: ProgressStore, learner: str, item: str, log: list[tuple[float, Rating]]) -> list[datetime]:
    """The log through the store, each review `late` days after the stored card fell due; the
    review times."""
    times = []
    for n, (late, rating) in enumerate(log):
        at = (T0 if n == 0 else store.card(learner, QUIZ, "ch", item).due) + timedelta(days=late)
        if n == 0:
            store.first_review(learner, QUIZ, "ch", item, rating, at, source="chapter", correct=rating != Rating.Again)
        else:
            store.review(learner, QUIZ, "ch", item, rating, at, source="review", correct=rating != Rating.Again)
        times.append(at)
    return times


@pytest.mark.parametrize("name", sorted(LOGS))
def test_the_stored_schedule_is_the_fsrs_packages_own(store, name):
    """The package's scheduler, configured as the course says (no learning steps, no fuzz),
    stepped through the same log, ends with the same card, after every review."""
    own = Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)
    card = Card(card_id=1, due=T0)
    log = LOGS[name]
    for n in range(1, len(log) + 1):
        late, rating = log[n - 1]
        card, _ = own.review_card(card, rating, card.due + timedelta(days=late))
        replay(store, f"learner-{name}-{n}", name, log[:n])
        stored = store.card(f"learner-{name}-{n}", QUIZ, "ch", name)
        assert stored.reviews == n and stored.state == int(card.state) and stored.step == card.step
        assert stored.stability == pytest.approx(card.stability, rel=1e-12)
        assert stored.difficulty == pytest.approx(card.difficulty, rel=1e-12)
        assert stored.due == card.due and stored.last_review == card.last_review
        # the interval it set, in whole days as FSRS gives them
        assert (stored.due - stored.last_review) == (card.due - card.last_review)
        assert (stored.due - stored.last_review).days >= 1


@pytest.mark.parametrize("name", sorted(LOGS))
def test_the_package_rescheduling_our_log_gives_the_stored_card(store, name):
    """The other way round: the package's reschedule_card, given our stored review log,
    rebuilds the card we stored."""
    replay(store, "learner", name, LOGS[name])
    logs = [ReviewLog(card_id=card_id(QUIZ, "ch", name), rating=Rating(r.rating), review_datetime=r.reviewed_at,
                      review_duration=None) for r in store.review_log("learner", QUIZ, "ch", name)]
    assert [r.rating for r in logs] == [rating for _, rating in LOGS[name]]
    own = Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)
    rebuilt = own.reschedule_card(Card(card_id=card_id(QUIZ, "ch", name), due=T0), logs)
    stored = store.card("learner", QUIZ, "ch", name)
    assert rebuilt.due == stored.due and rebuilt.state == State(stored.state)
    assert rebuilt.stability == pytest.approx(stored.stability, rel=1e-12)


def test_a_wrong_answer_comes_back_sooner_than_a_right_one(store):
    for item, rating in (("again", Rating.Again), ("hard", Rating.Hard), ("good", Rating.Good),
                         ("easy", Rating.Easy)):
        store.first_review("me", QUIZ, "ch", item, rating, T0, source="chapter", correct=rating != Rating.Again)
    due = {c.item: c.due for c in store.cards("me")}
    assert due["again"] <= due["hard"] < due["good"] < due["easy"], due
    assert due["again"] - T0 == timedelta(days=1), "no learning steps: a miss comes back the next day"


def test_ratings_come_from_the_answer():
    assert rating_for(False) == rating_for(False, 2, "sure") == Rating.Again
    assert rating_for(True, 1) == rating_for(True, 2, "sure") == Rating.Hard
    assert rating_for(True) == rating_for(True, 0, "think") == rating_for(True, 0, "guess") == Rating.Good
    assert rating_for(True, 0, "sure") == Rating.Easy


def test_a_card_is_made_once_and_reviewed_only_when_due(store):
    first = store.first_review("me", QUIZ, "ch", "q", Rating.Good, T0, source="chapter", correct=True)
    assert first is not None and first.reviews == 1
    assert store.first_review("me", QUIZ, "ch", "q", Rating.Again, T0, source="chapter", correct=False) is None
    assert store.card("me", QUIZ, "ch", "q") == first, "a second first answer changes nothing"
    with pytest.raises(CardNotDue, match="not due until"):
        store.review("me", QUIZ, "ch", "q", Rating.Good, first.due - timedelta(seconds=1), source="review",
                     correct=True)
    with pytest.raises(CardNotDue, match="answer it in its chapter first"):
        store.review("me", QUIZ, "ch", "other", Rating.Good, T0, source="review", correct=True)
    assert [c.item for c in store.due_cards("me", first.due)] == ["q"]
    assert store.due_cards("me", first.due - timedelta(seconds=1)) == []
    assert store.due_cards("someone-else", first.due) == []
    later = store.review("me", QUIZ, "ch", "q", Rating.Good, first.due, source="review", correct=True,
                         confidence="sure", selected=[2], shown_order=[2, 0, 1])
    assert later.reviews == 2 and later.due > first.due
    logged = store.review_log("me", QUIZ, "ch", "q")
    assert [(r.source, r.rating, r.confidence, r.selected, r.shown_order) for r in logged] == [
        ("chapter", int(Rating.Good), None, None, None), ("review", int(Rating.Good), "sure", (2,), (2, 0, 1))]


def test_retrievability_falls_with_time_and_is_fsrs(store):
    card = store.first_review("me", QUIZ, "ch", "q", Rating.Good, T0, source="chapter", correct=True)
    values = [card.retrievability(T0 + timedelta(days=d)) for d in (0, 1, 5, 30)]
    assert values[0] == 1.0 and values == sorted(values, reverse=True) and values[-1] < 0.7
    own = Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)
    assert values[2] == own.get_card_retrievability(card.fsrs_card(), T0 + timedelta(days=5))


def test_the_review_tables_are_a_migration_and_part_of_a_reset(store):
    with sqlite3.connect(store.db.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    assert {"review_cards", "review_log"} <= set(store.learner_tables())
    store.first_review("me", QUIZ, "ch", "q", Rating.Good, T0, source="chapter", correct=True)
    store.first_review("you", QUIZ, "ch", "q", Rating.Good, T0, source="chapter", correct=True)
    store.reset("me")
    assert store.cards("me") == [] and store.review_log("me") == []
    assert len(store.cards("you")) == 1 and len(store.review_log("you")) == 1


def test_the_test_clock_reads_its_offset_from_a_file(tmp_path):
    path = tmp_path / "clock"
    clock = Clock(path)
    assert abs((clock() - datetime.now(timezone.utc)).total_seconds()) < 5  # no file: the real time
    path.write_text(str(3 * 86400))
    assert timedelta(days=3) - timedelta(seconds=5) < clock() - datetime.now(timezone.utc) <= timedelta(days=3)
    path.write_text("not a number")
    assert abs((clock() - datetime.now(timezone.utc)).total_seconds()) < 5
    assert Clock(None).offset_s() == 0.0


def test_calibration_counts_each_level_and_scores_brier():
    answers = [("sure", True)] * 8 + [("sure", False)] * 2 + [("think", True)] * 3 + [("think", False)] * 3 \
        + [("guess", False)] * 4 + [(None, True)] * 5
    result = calibration(answers)
    by = {level.confidence: level for level in result.levels}
    assert (by["sure"].answers, by["sure"].correct, by["sure"].share) == (10, 8, 0.8)
    assert (by["think"].answers, by["think"].share) == (6, 0.5)
    assert (by["guess"].answers, by["guess"].share) == (4, 0.0)
    assert result.answers == 20, "answers without a confidence are left out"
    expected = (8 * (STATED["sure"] - 1) ** 2 + 2 * STATED["sure"] ** 2 + 3 * (STATED["think"] - 1) ** 2
                + 3 * STATED["think"] ** 2 + 4 * STATED["guess"] ** 2) / 20
    assert result.brier == pytest.approx(expected)
    assert calibration([]).brier is None and calibration([("sure", True)]).brier == pytest.approx(0.01)
