"""A predict question on /review, asked at another setting of its widget (a variant,
app/course/variants.py), only when that setting's run is in the result cache: the answer is
graded on the cached run at once (never a training), and the run is shown after the answer.

Which variant: the variants in an order seeded by learner, question and review number (the
same on a reload), the first whose run is cached and has exactly one option holding. None
cached: the question as authored.
"""
from __future__ import annotations

import dataclasses
import hashlib
import random
from dataclasses import dataclass

from fastapi import Request
from markupsafe import Markup

from app.course.expr import names_for
from app.course.quiz import Quiz
from app.course.variants import answer_at
from app.web.views import widget as widget_view


@dataclass(frozen=True)
class AskedVariant:
    number: int  # 1.. the variant's place in `settings`
    values: dict  # the widget's canonical parameters at this setting
    answer: int  # the authored index of the option that holds on the run
    quiz: Quiz  # the question at this setting: its text, each option's correctness and feedback


def asked_variant(request: Request, quiz: Quiz, number: int) -> AskedVariant | None:
    """Variant `number` of a predict question, graded from its cached run (None: no such
    variant, its run is not cached, or no single option holds on it)."""
    predict = quiz.predict
    variants = predict.variants if predict is not None else None
    widget = request.app.state.widgets.get(predict.widget) if predict is not None else None
    if variants is None or widget is None or not 1 <= number <= len(variants.settings):
        return None
    try:
        values = widget.canonicalize({**predict.params, **variants.settings[number - 1]})
    except Exception:  # a setting the content check refuses: not asked
        return None
    item = request.app.state.jobs.cached(widget, values)
    if item is None:
        return None
    answer = answer_at(variants, names_for(item["data"], values))
    if answer is None:
        return None
    options = tuple(dataclasses.replace(o, correct=o.index == answer, feedback=v.feedback,
                                        feedback_html=v.feedback_html, text=v.text or o.text,
                                        text_html=v.text_html if v.text else o.text_html)
                    for o, v in zip(quiz.options, variants.options))
    text = variants.question_html(values)
    at_setting = dataclasses.replace(quiz, question=str(text), question_html=text, options=options)
    return AskedVariant(number, values, answer, at_setting)


def pick_variant(request: Request, quiz: Quiz, learner: str, chapter: str, reviews: int) -> AskedVariant | None:
    """The variant to ask at this review (None: ask the question as authored)."""
    if quiz.predict is None or quiz.predict.variants is None:
        return None
    numbers = list(range(1, len(quiz.predict.variants.settings) + 1))
    seed = hashlib.sha256(f"variant\x1f{learner}\x1f{chapter}\x1f{quiz.id}\x1f{reviews}".encode()).digest()
    random.Random(int.from_bytes(seed[:8], "big")).shuffle(numbers)
    return next((found for n in numbers if (found := asked_variant(request, quiz, n)) is not None), None)


def run_after_answer(request: Request, quiz: Quiz, values: dict | None) -> Markup | None:
    """The predict run (at the variant's setting, or as authored) to show under the feedback,
    when it is cached: a review never starts a training."""
    predict = quiz.predict
    widget = request.app.state.widgets.get(predict.widget) if predict is not None else None
    if widget is None:
        return None
    if values is None:
        try:
            values = widget.canonicalize(predict.params)
        except Exception:
            return None
    if request.app.state.jobs.cached(widget, values) is None:
        return None
    return widget_view.render_widget(request, widget.name, values, f"review-run-{quiz.id}")
