"""Predict questions answered before they are asked, in this chapter or in an earlier one.

A prediction only measures something if nothing the learner has already read or run answers
it. Inside a chapter, `quizzes.question_findings` makes the question come before its widget
and the widget's claims. Across chapters the same run can be shown twice: chapter 5 shows
the gradient-norm trace with its claims, and a chapter-8 question that predicts the same
widget at the same setting asks the learner to recall, not to predict. Here a predict
question is spoiled by an earlier chapter (a lower `order`) that

- shows a directive of the same widget at the same canonical parameters (the learner has
  already run exactly this setting), or
- makes a claim about that widget (a CLAIM block whose nearest widget directive is the same
  widget: the chapter has already told the learner what the widget's runs show).
"""
from __future__ import annotations

from app.tools.check.quizzes import claim_lines, question_line
from widgets.base import ParamError


def claimed_widgets(chapter, text: str) -> list[tuple[str, int, str]]:
    """(claim id, line, widget name) for every CLAIM block: a claim belongs to the widget
    directive nearest to it in the file."""
    uses = chapter.widgets
    if not uses:
        return []
    return [(claim_id, line, min(uses, key=lambda use: abs(use.line - line)).name)
            for claim_id, line in claim_lines(text)]


def _canonical(registry, name: str, params: dict):
    widget = registry.get(name)
    if widget is None:
        return None
    try:
        return widget.canonicalize(params)
    except ParamError:
        return None


def cross_chapter_spoilers(chapters, texts: dict, registry) -> dict[tuple[str, str], list[str]]:
    """{(chapter slug, question id): [why an earlier chapter answers it]} for every predict
    question that an earlier chapter spoils; `texts` maps a chapter slug to its file text."""
    found: dict[tuple[str, str], list[str]] = {}
    ordered = sorted(chapters, key=lambda c: c.order)
    for position, chapter in enumerate(ordered):
        earlier = ordered[:position]
        for quiz in chapter.quizzes.values():
            if quiz.predict is None:
                continue
            widget = quiz.predict.widget
            setting = _canonical(registry, widget, quiz.predict.params)
            reasons = []
            for other in earlier:
                for use in other.widgets:
                    if use.name == widget and setting is not None and \
                            _canonical(registry, use.name, use.overrides) == setting:
                        reasons.append(f"{other.path.name} line {use.line} already shows widget {widget} at "
                                       f"this setting")
                for claim_id, line, claimed in claimed_widgets(other, texts[other.slug]):
                    if claimed == widget:
                        reasons.append(f"{other.path.name} line {line} already states claim {claim_id} "
                                       f"about widget {widget}")
            if reasons:
                found[(chapter.slug, quiz.id)] = reasons
    return found


def spoiler_problems(chapters, texts: dict, registry) -> tuple[list[str], int]:
    """The problems to report, and how many predict questions an earlier chapter spoils."""
    found = cross_chapter_spoilers(chapters, texts, registry)
    by_slug = {c.slug: c for c in chapters}
    problems = []
    for (slug, quiz_id), reasons in found.items():
        chapter = by_slug[slug]
        line = question_line(texts[slug], quiz_id)
        problems.append(f"{chapter.path.name} line {line}: predict question {quiz_id} is answered by an earlier "
                        f"chapter: {'; '.join(reasons)}. Predict a widget or a setting that no earlier chapter "
                        f"shows or makes claims about, or make it an apply or transfer question")
    return problems, len(found)
