"""A class in real browsers (issue 24): a teacher and three learners, each in a browser context
of their own. The operator creates the class; the learners join by its link and wander off
into a chapter; the teacher opens a question; the banner brings every learner to it; the
teacher's live view counts their votes within 2 s; the class sees its votes, votes again, and
the answer is revealed beside both distributions; the CSV export has the counts."""
from __future__ import annotations

import csv
import io
import re
import time
from urllib.parse import urlsplit

from playwright.sync_api import expect

from app.course.content import load_course
from app.settings import Settings
from conftest import TEACHER_TOKEN

CHAPTER, QUESTION = "learning-rate", "lr-meaning"
QUIZ = load_course(Settings().content_dir).get(CHAPTER).quizzes[QUESTION]
RIGHT = QUIZ.correct_indices[0]
WRONG = next(o.index for o in QUIZ.options if not o.correct)
LETTER = "ABCDEFGH"


def create_class(teacher) -> tuple[str, str]:
    teacher.goto("/teach")
    teacher.fill("#operator-token", TEACHER_TOKEN)
    teacher.get_by_role("button", name="Sign in").click()
    teacher.fill("#class-name", "Browser class")
    teacher.get_by_role("button", name="Create the class").click()
    return teacher.input_value("#join-link"), teacher.input_value("#teacher-link")


def vote(learner, choice: int) -> None:
    learner.locator(f"input[name=choice][value='{choice}']").check()
    learner.get_by_role("button", name="Send my vote").click()
    expect(learner.locator(".class-status")).to_contain_text("Your vote")


def table_counts(scope) -> dict[str, int]:
    """option letter -> count, from a distribution's data table (what a screen reader reads)."""
    counts = {}
    for row in scope.locator("tbody tr").all():
        label = row.locator("th").inner_text().split()[0]
        counts[label] = int(row.locator("td").first.inner_text())
    return counts


def answer_from_the_banner(learner, class_url: str, choice: int) -> None:
    link = learner.locator("#class-banner a", has_text="Answer it")
    expect(link).to_be_visible(timeout=8000)  # the banner asks every 2 s
    link.click()
    learner.wait_for_url(re.compile(re.escape(class_url) + r"#poll$"))
    vote(learner, choice)


def test_a_teacher_runs_peer_instruction_with_three_learners(new_page):
    teacher = new_page()
    join_url, teacher_url = create_class(teacher)
    token = teacher_url.split("token=")[1]
    teacher.goto(teacher_url)
    class_path = urlsplit(teacher_url).path  # /teach/{class id}
    assert urlsplit(teacher.url).path == class_path and "token" not in teacher.url, "exchanged, then a clean URL"
    assert token not in teacher.content()
    class_id = class_path.rsplit("/", 1)[1]
    class_url = f"/classes/{class_id}"

    learners = [new_page() for _ in range(3)]
    for number, learner in enumerate(learners):
        learner.goto(join_url)
        if number == 0:
            learner.fill("#nickname", "Ada")
        learner.get_by_role("button", name="Join the class").click()
        expect(learner.locator("h1")).to_have_text("Browser class")
        learner.goto(("/", "/glossary", "/search?q=warmup")[number])  # each is somewhere else in the course
    expect(teacher.locator("#class-members")).to_contain_text("3 in the class", timeout=5000)
    assert token not in teacher.content()

    teacher.select_option("#poll-question", f"{CHAPTER}/{QUESTION}")
    teacher.get_by_role("button", name="Open it").click()
    for learner, choice in zip(learners, (WRONG, WRONG, RIGHT)):
        answer_from_the_banner(learner, class_url, choice)
    last_vote = time.monotonic()
    tally = teacher.locator("#poll-round-1")
    expect(tally).to_contain_text("3 votes, 1 right", timeout=2000)
    assert time.monotonic() - last_vote < 2.0, "the teacher's view showed the 3 votes within 2 s"
    assert table_counts(tally) == {LETTER[o.index]: (2 if o.index == WRONG else int(o.index == RIGHT))
                                   for o in QUIZ.options}

    teacher.get_by_role("button", name="Show the class its votes").click()
    expect(teacher.get_by_role("button", name="Hide the votes from the class")).to_be_visible()
    for learner in learners:  # the class page follows the poll by itself
        expect(learner.locator("#learner-round-1")).to_contain_text("3 votes", timeout=8000)
        expect(learner.locator("#learner-round-1")).not_to_contain_text("right")
    teacher.get_by_role("button", name="Open the second vote").click()
    expect(teacher.locator(".class-poll-panel .class-state")).to_contain_text("second vote: open")
    for learner in learners:
        expect(learner.locator("button", has_text="Send my vote")).to_be_visible(timeout=8000)
        vote(learner, RIGHT)
    expect(teacher.locator("#poll-round-2")).to_contain_text("3 votes, 3 right", timeout=2000)
    teacher.get_by_role("button", name="Reveal the answer").click()
    expect(teacher.locator(".class-poll-panel .class-state")).to_contain_text("the answer is revealed")
    side_by_side = teacher.locator("#poll-tally .class-dist")
    expect(side_by_side).to_have_count(2)
    # the live view's first update (all its parts, right after the page loads) replaces the
    # tally: measured after it, both boxes in one script (no update can land between them)
    teacher.wait_for_selector("[data-live-url][data-updated-at]", state="attached")
    first, second = teacher.evaluate(
        "() => [...document.querySelectorAll('#poll-tally .class-dist')].map(e => {"
        " const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width}; })")
    assert abs(first["y"] - second["y"]) < 2 and second["x"] > first["x"] + first["width"] - 1, "side by side"
    for learner in learners:
        expect(learner.locator("#poll")).to_contain_text("the answer is revealed", timeout=8000)
        expect(learner.locator("#learner-round-2")).to_contain_text("(right)")
        expect(learner.locator(".quiz-feedback.is-correct")).to_have_count(len(QUIZ.correct_indices))

    export = teacher.request.get(f"{class_path}/export.csv")
    assert export.ok and "text/csv" in export.headers["content-type"]
    rows = [r for r in csv.DictReader(io.StringIO(export.text())) if r["source"] == "poll"]
    counts = {(r["round"], r["option"]): int(r["count"]) for r in rows}
    assert counts[("1", LETTER[WRONG])] == 2 and counts[("1", LETTER[RIGHT])] == 1
    assert counts[("2", LETTER[RIGHT])] == 3 and {r["answered"] for r in rows} == {"3"}
    for learner in learners:
        assert learner.context.cookies()[0]["value"] not in export.text(), "no learner id in the export"
    assert "Ada" not in export.text(), "no alias in the export"
