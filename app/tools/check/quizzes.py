"""Rules for questions that test understanding, not the learner's eye for patterns.

Per chapter (`question_findings`):
- every question has a hint (the nudge) and a recipe (the second tier: how to work it out),
  and every question that is not a predict question says its kind (recall, apply or
  transfer), so the course can count how many ask for transfer;
- a hint names what to think about, never which way: a predict question whose hint gives an
  option away fails, any other question's is a warning (app/tools/check/hint_cues.py);
- a predict question comes before everything that answers it: no directive of its widget
  and no claim about that widget may appear earlier in the chapter (a claim belongs to the
  widget directive nearest to it);
- a warning when the correct option is the longest by far (a cue a learner can exploit).

Across the course (`course_findings`):
- at least 40% of all questions are kind: transfer (a situation the chapter never shows);
- no question is asked twice, in the same words or nearly, in two chapters;
- a warning when most single-answer keys sit at the same authored position.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from fractions import Fraction

from app.tools.check.hint_cues import hint_cue
from app.course.content import Chapter

CLAIM_RE = re.compile(r"<!-- CLAIM:[a-z0-9-]+:([a-z0-9-]+) -->")
MIN_TRANSFER_SHARE = Fraction(2, 5)
LONGEST_RATIO = 1.5  # the correct option is this many times longer than every other one
LONGEST_MARGIN = 20  # ... and this many characters longer (short options vary a lot)
KEY_POSITION_EXCESS = 1.5  # warn when one position holds this many times its fair share of keys
DUPLICATE_RATIO = 0.75  # similarity of two questions (their text, and their text with the key)


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    leading_predict_hints: int = 0  # predict questions whose hint gives an option away


def question_line(text: str, quiz_id: str) -> int:
    """The line of the question's `id:` key (exact id, so q1 does not match q10)."""
    m = re.search(rf"^id:\s*{re.escape(quiz_id)}\s*$", text, re.M)
    return text.count("\n", 0, m.start()) + 1 if m else 1


def claim_lines(text: str) -> list[tuple[str, int]]:
    """(claim id, line) for every CLAIM block in the chapter file."""
    return [(m.group(1), text.count("\n", 0, m.start()) + 1) for m in CLAIM_RE.finditer(text)]


def question_findings(chapter: Chapter, text: str) -> Findings:
    found = Findings()
    name = chapter.path.name
    for quiz in chapter.quizzes.values():
        line = question_line(text, quiz.id)
        where = f"{name} line {line}: question {quiz.id}"
        if not quiz.hint:
            found.problems.append(f"{where} has no hint; add `hint: <a nudge that narrows the thinking "
                                  f"without giving the answer away>`")
        elif not quiz.recipe:
            found.problems.append(f"{where} has a hint but no recipe; add `recipe: <the second tier: how to "
                                  f"work the question out, step by step, without stating the answer>`")
        if quiz.predict is None and quiz.kind is None:
            found.problems.append(f"{where} does not say its kind; add `kind: recall` (a fact the chapter "
                                  f"states), `kind: apply` (the chapter's method on new numbers) or "
                                  f"`kind: transfer` (the idea in a situation the chapter does not show)")
        leading = hint_cue(quiz)
        if leading and quiz.predict is not None:
            found.leading_predict_hints += 1
            found.problems.append(f"{where}: its hint names an option: {leading}. A predict hint says what to "
                                  f"think about, never which way")
        elif leading:
            found.warnings.append(f"{where}: its hint may give the answer away: {leading} (warning)")
        if quiz.predict is not None:
            found.problems += _spoilers(chapter, text, quiz, line, where)
        cue = _longest_cue(quiz)
        if cue:
            found.warnings.append(f"{where}: {cue}")
    return found


def _spoilers(chapter: Chapter, text: str, quiz, line: int, where: str) -> list[str]:
    """Everything that answers a predict question and comes before it."""
    widget = quiz.predict.widget
    uses = chapter.widgets
    problems = [f"{where} predicts widget {widget}, but the chapter shows that widget earlier "
                f"(line {use.line}); put the question before the widget, so the learner predicts "
                f"before the run answers"
                for use in uses if use.name == widget and use.line < line]
    for claim_id, claim_line in claim_lines(text):
        if claim_line >= line or not uses:
            continue
        nearest = min(uses, key=lambda use: abs(use.line - claim_line))
        if nearest.name == widget:
            problems.append(f"{where} predicts widget {widget}, but claim {claim_id} about that widget "
                            f"comes earlier (line {claim_line}); move the claim after the question "
                            f"(an \"After you run it\" note below the widget)")
    return problems


def _longest_cue(quiz) -> str | None:
    right = [len(o.text) for o in quiz.options if o.correct]
    wrong = [len(o.text) for o in quiz.options if not o.correct]
    if not wrong or min(right) < LONGEST_RATIO * max(wrong) or min(right) - max(wrong) < LONGEST_MARGIN:
        return None
    return (f"the correct option is the longest by far ({min(right)} characters against at most "
            f"{max(wrong)}); shorten it or give the others the same detail (warning)")


def course_findings(chapters: list[Chapter]) -> tuple[Findings, dict]:
    """The course-wide rules, and the counts behind them (for the summary line)."""
    found = Findings()
    quizzes = [(c, q) for c in chapters for q in c.quizzes.values()]
    counts = {skill: sum(q.skill == skill for _, q in quizzes)
              for skill in ("transfer", "apply", "predict", "recall")}
    counts["total"] = len(quizzes)
    if quizzes and Fraction(counts["transfer"], counts["total"]) < MIN_TRANSFER_SHARE:
        found.problems.append(f"only {counts['transfer']} of {counts['total']} questions are kind: transfer; "
                              f"at least {MIN_TRANSFER_SHARE.numerator * 100 // MIN_TRANSFER_SHARE.denominator}% "
                              f"must use an idea in a situation the chapter does not show (a Llama-style "
                              f"config, a sharded checkpoint, an MoE, a fine-tune, another GPU count)")
    found.problems += _duplicates(quizzes)
    cue = _key_position_cue([q for _, q in quizzes])
    if cue:
        found.warnings.append(cue)
    return found, counts


def _key_position_cue(quizzes) -> str | None:
    """Learners see shuffled options, but the files are what reviewers and the no-shuffle
    paths read: keys piled on one authored position are a pattern to avoid. A position's
    fair share is what random placement would give it (1/n for a question of n options)."""
    single = [q for q in quizzes if not q.multiple]
    if len(single) < 8:
        return None
    keys = [q.correct_indices[0] for q in single]
    for position in sorted(set(keys)):
        fair = sum(1 / len(q.options) for q in single if len(q.options) > position)
        if keys.count(position) > KEY_POSITION_EXCESS * fair:
            return (f"{keys.count(position)} of {len(keys)} single-answer questions have their key at "
                    f"option {position + 1} (random placement would give about {fair:.0f}); vary where "
                    f"the correct option sits (warning)")
    return None


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", re.sub(r"\$[^$]*\$", " ", text.lower()))


def _similarity(a: list[str], b: list[str]) -> float:
    return SequenceMatcher(None, a, b, autojunk=False).ratio() if a and b else 0.0


def _duplicates(quizzes) -> list[str]:
    """Two questions are the same when their text is nearly the same, or when a reworded
    question has the same answer (the mean of the two similarities)."""
    problems = []
    words = [(c, q, _words(q.question), _words(" ".join(o.text for o in q.options if o.correct)))
             for c, q in quizzes]
    for i, (c1, q1, w1, k1) in enumerate(words):
        for c2, q2, w2, k2 in words[i + 1:]:
            if c1.slug == c2.slug:
                continue
            asked = _similarity(w1, w2)
            if max(asked, (asked + _similarity(k1, k2)) / 2) >= DUPLICATE_RATIO:
                problems.append(f"{c2.path.name}: question {q2.id} asks what {c1.path.name} question "
                                f"{q1.id} already asks; drop one, or make the later one use the idea in "
                                f"a new situation")
    return problems
