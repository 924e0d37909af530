"""A class's poll as the pages show it: the question with lettered options, and the votes
counted per round (a bar chart and the same numbers in a table).

In a poll every learner sees the options in the authored order, lettered A, B, C...: the class
talks about "B" between the two votes, so everyone's B must be the same option (a chapter
shows each learner an order of their own; a poll cannot).
"""
from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from markupsafe import Markup

from app.course.content import Chapter, Course
from app.course.quiz import Quiz
from app.learning.polls import ClassPresence, Poll, RoundTally
from app.web.learner import learner_id, store_for

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def letter(index: int) -> str:
    return LETTERS[index] if index < len(LETTERS) else str(index + 1)


@dataclass(frozen=True)
class BarRow:
    """One bar of a distribution: an option (or a level) and how many chose it."""
    label: str  # short: "A", "sure"
    text: Markup  # what the label stands for (the option's text)
    count: int
    total: int
    correct: bool | None  # whether the option is right (None: not an option)

    @property
    def percent(self) -> int:
        return round(100 * self.count / self.total) if self.total else 0


@dataclass(frozen=True)
class Distribution:
    title: str
    total: int
    rows: list[BarRow]
    note: str = ""  # e.g. "6 of 9 right"


def find_question(course: Course, chapter_slug: str, qid: str) -> tuple[Chapter, Quiz] | None:
    """The chapter and question a poll (or a stored answer) names; None if it left the course."""
    chapter = course.get(chapter_slug)
    quiz = chapter.quizzes.get(qid) if chapter else None
    return (chapter, quiz) if quiz else None


def option_rows(quiz: Quiz, counts, total: int, show_correct: bool = True) -> list[BarRow]:
    """One row per option, authored order: how many of `total` chose it (counts: index -> n).
    Without show_correct no row says which option is right (the class has not been told)."""
    return [BarRow(letter(o.index), o.text_html, int(counts.get(o.index, 0)), total,
                   o.correct if show_correct else None) for o in quiz.options]


def round_distribution(quiz: Quiz, round_: int, tally: RoundTally | None, show_correct: bool) -> Distribution:
    tally = tally or RoundTally()
    title = "First vote" if round_ == 1 else "Second vote"
    if not tally.votes:
        note = "no votes yet"
    elif show_correct:
        note = f"{tally.votes} vote{'s' if tally.votes != 1 else ''}, {tally.correct} right"
    else:
        note = f"{tally.votes} vote{'s' if tally.votes != 1 else ''}"
    return Distribution(title, tally.votes, option_rows(quiz, tally.options, tally.votes, show_correct), note)


def poll_distributions(quiz: Quiz, poll: Poll, tallies: dict[int, RoundTally],
                       show_correct: bool) -> list[Distribution]:
    """The rounds so far, first vote then second, side by side on the pages."""
    return [round_distribution(quiz, r, tallies.get(r), show_correct) for r in range(1, poll.round + 1)]


def poll_state(poll: Poll) -> str:
    """The poll in a few words, for the teacher and for the class."""
    if poll.revealed:
        return "the answer is revealed"
    vote = "second vote" if poll.round == 2 else "first vote"
    return f"{vote}: open" if poll.accepting else f"{vote}: closed"


def presence_json(presence: ClassPresence, loaded: Course) -> dict:
    """One class of the learner as the banner shows it: its open poll, if any, in a few words."""
    poll = presence.poll
    body = {"id": presence.info.id, "name": presence.info.name, "alias": presence.alias,
            "url": f"/classes/{presence.info.id}", "poll": None}
    found = find_question(loaded, poll.chapter, poll.question) if poll else None
    if poll and found:
        body["poll"] = {"id": poll.id, "round": poll.round, "accepting": poll.accepting, "revealed": poll.revealed,
                        "votes_shown": poll.votes_shown, "voted": poll.round in presence.voted_rounds,
                        "version": poll.version_text,
                        "question": found[1].question_html.striptags()[:160]}
    body["notice"] = notice(body)
    return body


def notice(body: dict) -> dict | None:
    """What the banner says about one class ({"text", "link", "href"}), or None: nothing to do."""
    poll = body["poll"]
    if poll is None:
        return None
    href = body["url"] + "#poll"
    if poll["accepting"] and not poll["voted"]:
        again = "votes again on" if poll["round"] == 2 else "asks"
        return {"text": f"{body['name']}: your teacher {again} \u201c{poll['question']}\u201d", "link": "Answer it",
                "href": href}
    if poll["revealed"]:
        return {"text": f"{body['name']}: the answer is revealed.", "link": "See it", "href": href}
    if poll["votes_shown"]:
        return {"text": f"{body['name']}: your teacher is showing the class's votes.", "link": "See them",
                "href": href}
    return None


def class_banner(request: Request, loaded: Course) -> list[dict]:
    """The banner's classes for this learner (none for a new visitor or a learner in no class)."""
    learner, is_new = learner_id(request)
    return [] if is_new else [presence_json(p, loaded) for p in store_for(request).presence(learner)]
