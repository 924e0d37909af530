"""A class's answers counted, for the teacher to keep: CSV and JSON (issue 24, item 4).

Counts only: no learner id, no alias, no time of any single answer. One CSV row per count:

    source          first_answers        members' first answers to a course question
                    first_confidence     the same answers by the confidence given with them
                    poll                 votes in one round of one of the class's polls
    poll            the poll's number in the class (1 = the first opened); empty otherwise
    round           1 or 2 for a poll's first or second vote; empty otherwise
    chapter, question   the question's chapter slug and id
    option          the option's letter (A = the first in the chapter file); empty for confidence rows
    option_is_right 1 or 0; empty for confidence rows
    confidence      sure, think, guess or unsaid; empty otherwise
    count           answers choosing the option (for a multiple-answer question an answer
                    counts for every option it chose), or answers given with the confidence
    right           of those confidence answers, how many were right; empty otherwise
    answered        how many answered the question (or voted in the round)
"""
from __future__ import annotations

import csv
import io
import time

from app.course.content import Course
from app.learning.classes import ClassInfo
from app.learning.progress import ProgressStore
from app.web.views.class_poll import find_question, letter

COLUMNS = ("source", "poll", "round", "chapter", "question", "option", "option_is_right", "confidence",
           "count", "right", "answered")


def poll_rows(loaded: Course, progress: ProgressStore, class_id: str) -> list[dict]:
    rows = []
    for number, poll in enumerate(progress.class_polls(class_id), start=1):
        found = find_question(loaded, poll.chapter, poll.question)
        if found is None:
            continue  # the question left the course: its letters would mean nothing
        quiz = found[1]
        for round_, tally in sorted(progress.tally(poll.id).items()):
            for option in quiz.options:
                rows.append({"source": "poll", "poll": number, "round": round_, "chapter": poll.chapter,
                             "question": poll.question, "option": letter(option.index),
                             "option_is_right": int(option.correct), "count": tally.options.get(option.index, 0),
                             "answered": tally.votes})
    return rows


def export_rows(loaded: Course, progress: ProgressStore, class_id: str) -> list[dict]:
    """Every count of the class, as CSV rows (dicts keyed by COLUMNS; missing keys are empty)."""
    return poll_rows(loaded, progress, class_id)


def export_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def export_json(info: ClassInfo, members: int, rows: list[dict]) -> dict:
    """The same counts, grouped: questions (first answers) and polls (by round)."""
    polls: dict[int, dict] = {}
    for row in rows:
        if row["source"] != "poll":
            continue
        poll = polls.setdefault(row["poll"], {"poll": row["poll"], "chapter": row["chapter"],
                                              "question": row["question"], "rounds": {}})
        round_ = poll["rounds"].setdefault(row["round"], {"round": row["round"], "answered": row["answered"],
                                                          "options": []})
        round_["options"].append({"option": row["option"], "right": bool(row["option_is_right"]),
                                  "count": row["count"]})
    return {"class": {"name": info.name, "members": members,
                      "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "polls": [{**p, "rounds": list(p["rounds"].values())} for p in polls.values()]}
