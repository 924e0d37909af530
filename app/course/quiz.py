"""Quick-check questions: parsing the ```quiz directive and grading answers on the server.

The directive's YAML body:

    id: warmup-why            # unique within the chapter: [a-z0-9-]
    question: Why warm up?    # inline Markdown, math allowed
    kind: transfer            # recall (a fact the chapter states), apply (the chapter's method on
                              # new numbers) or transfer (the idea in a situation the chapter never shows)
    hint: Think about ...     # inline Markdown, shown folded before the learner answers: the nudge
    recipe: Compute ...       # the second tier, on a second ask: how to work it out (never the answer)
    multiple: false           # true: checkboxes, any number of right options
    options:                  # at least two
      - text: ...             # inline Markdown
        correct: true
        feedback: ...         # why this option is right or wrong (required for every option)

A single-answer question has exactly one correct option; a multiple-answer question
has at least one. Grading is all-or-nothing: the answer is correct when the chosen set
equals the set of correct options.

Options are identified by their authored index (0 = the first in the file) everywhere:
in the form's values, the API, grading and the saved answers. Each learner sees them in
an order of their own (`display_order`: a permutation seeded by the learner, the chapter
and the question), so a reload shows the same order, two learners see different ones, and
a saved answer survives any reordering because it never records a displayed position.

A "predict, then run" question adds a `predict` mapping: the learner picks a prediction,
and the feedback then shows the named widget really run at those parameters:

    predict:
      widget: warmup                     # a registered widget name
      params: {peak_lr: 0.006}           # its parameters (omitted ones take their defaults)
      check: "run['no warmup'].val_loss[-1] > run['warmup 40'].val_loss[-1] + 0.5"

`check` (a string, or a list of strings that must all hold) states what the correct
option claims, as an expression over the widget's result data (see app/course/expr.py).
`python -m app check` and the tests run the widget and fail when a check is false,
so a predict question cannot lie about the real run.
"""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from typing import Any, Iterable

from markupsafe import Markup

from app.course.expr import ExprError, parse as parse_expr
from app.course.markdown import render_inline
from app.course.variants import Variants, parse_variants

ID_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
INDEX_RE = re.compile(r"[0-9]{1,4}")
KINDS = ("recall", "apply", "transfer")  # predict questions are their own kind (the `predict` key)
QUIZ_KEYS = {"id", "question", "kind", "hint", "recipe", "multiple", "options", "predict"}


class QuizFormatError(ValueError):
    """A ```quiz block that does not follow the format above."""


@dataclass(frozen=True, eq=False)
class Predict:
    widget: str
    params: dict
    checks: tuple[str, ...]
    variants: Variants | None = None  # the question at other settings (app/course/variants.py)


class AnswerError(ValueError):
    """An answer that cannot be graded (empty, out of range, several for a single-answer question)."""


@dataclass(frozen=True)
class Option:
    index: int
    text: str
    correct: bool
    feedback: str
    text_html: Markup
    feedback_html: Markup


@dataclass(frozen=True)
class Quiz:
    id: str
    question: str
    question_html: Markup
    multiple: bool
    options: tuple[Option, ...]
    predict: Predict | None = None
    hint: str = ""
    hint_html: Markup = Markup("")
    kind: str | None = None  # "recall", "apply", "transfer", or None when the author did not say
    recipe: str = ""  # the hint's second tier: how to work the question out
    recipe_html: Markup = Markup("")

    @property
    def correct_indices(self) -> list[int]:
        return [o.index for o in self.options if o.correct]

    @property
    def skill(self) -> str | None:
        """What the question asks of the learner: predict, transfer, apply or recall."""
        return "predict" if self.predict is not None else self.kind

    @property
    def hint_tiers(self) -> tuple[Markup, ...]:
        """The hints a learner may ask for, in order: the nudge, then the recipe."""
        return tuple(h for h in (self.hint_html, self.recipe_html) if h)

    @property
    def max_attempts(self) -> int:
        """A prediction is locked once committed; any other question gets one more try."""
        return 1 if self.predict is not None else 2

    def ordered(self, order: list[int] | None) -> tuple[Option, ...]:
        """The options in a display order (authored indices); None keeps the authored order."""
        if not isinstance(order, (list, tuple)):  # None, or a template's undefined
            return self.options
        return tuple(self.options[i] for i in order)

    def public(self, order: list[int] | None = None) -> dict:
        """The question without its answers (for the chapter JSON), options in display order."""
        # hints are not in it: a learner asks for them (POST /api/quiz/.../hint), and that is recorded
        body = {"id": self.id, "question": self.question, "multiple": self.multiple,
                "hints": len(self.hint_tiers), "attempts_allowed": self.max_attempts,
                "options": [{"index": o.index, "text": o.text} for o in self.ordered(order)]}
        if self.predict is not None:
            body["predict"] = {"widget": self.predict.widget, "params": dict(self.predict.params)}
        return body


@dataclass(frozen=True)
class OptionResult:
    index: int
    selected: bool
    correct: bool  # whether the option itself is a right answer
    feedback: str
    feedback_html: Markup
    text_html: Markup

    @property
    def verdict(self) -> str:
        """How the learner treated this option, in words."""
        if self.selected and self.correct:
            return "You chose this, and it is right."
        if self.selected:
            return "You chose this, but it is wrong."
        if self.correct:
            return "You left this out, but it is right."
        return "You left this out, and rightly so."

    @property
    def ok(self) -> bool:
        return self.selected == self.correct

    def as_dict(self) -> dict:
        return {"index": self.index, "selected": self.selected, "correct": self.correct,
                "feedback": self.feedback}


@dataclass(frozen=True)
class Grade:
    quiz: Quiz
    selected: tuple[int, ...]
    correct: bool
    options: tuple[OptionResult, ...]

    def ordered(self, order: list[int] | None) -> tuple[OptionResult, ...]:
        """The per-option results in a display order (authored indices)."""
        if not isinstance(order, (list, tuple)):
            return self.options
        return tuple(self.options[i] for i in order)

    def as_dict(self) -> dict:
        body = {"correct": self.correct, "selected": list(self.selected),
                "options": [o.as_dict() for o in self.options]}
        if self.quiz.predict is not None:  # the web layer adds the run's address (json_url)
            body["run"] = {"widget": self.quiz.predict.widget, "params": dict(self.quiz.predict.params)}
        return body


def parse_quiz(data: Any, where: str = "") -> Quiz:
    prefix = f"{where}: " if where else ""

    def fail(message: str) -> QuizFormatError:
        return QuizFormatError(prefix + message)

    if not isinstance(data, dict):
        raise fail("a quiz block must be a YAML mapping with id, question and options")
    unknown = set(data) - QUIZ_KEYS
    if unknown:
        raise fail(f"unknown quiz keys: {sorted(unknown)}; allowed: {', '.join(sorted(QUIZ_KEYS))}")
    qid = data.get("id")
    if not isinstance(qid, str) or not ID_RE.fullmatch(qid):
        raise fail(f"quiz id {qid!r} must be lowercase letters, digits and dashes")
    question = data.get("question")
    if not isinstance(question, str) or not question.strip():
        raise fail(f"quiz {qid}: the question is missing")
    multiple = data.get("multiple", False)
    if not isinstance(multiple, bool):
        raise fail(f"quiz {qid}: multiple must be true or false")
    hint = data.get("hint", "")
    if not isinstance(hint, str):
        raise fail(f"quiz {qid}: the hint must be text (inline Markdown), got {hint!r}")
    recipe = data.get("recipe", "")
    if not isinstance(recipe, str) or ("recipe" in data and not recipe.strip()):
        raise fail(f"quiz {qid}: the recipe must be non-empty text (inline Markdown), got {recipe!r}")
    kind = data.get("kind")
    if kind is not None and kind not in KINDS:
        raise fail(f"quiz {qid}: kind {kind!r} must be one of {', '.join(KINDS)} "
                   f"(a predict question needs none: its `predict` key says what it is)")
    raw_options = data.get("options")
    if not isinstance(raw_options, list) or len(raw_options) < 2:
        raise fail(f"quiz {qid}: at least two options are needed")
    options = []
    for i, raw in enumerate(raw_options):
        if not isinstance(raw, dict) or set(raw) - {"text", "correct", "feedback"}:
            raise fail(f"quiz {qid}, option {i}: expected a mapping of text, correct, feedback")
        text, correct, feedback = raw.get("text"), raw.get("correct", False), raw.get("feedback")
        if not isinstance(text, (str, int, float)) or not str(text).strip():
            raise fail(f"quiz {qid}, option {i}: the text is missing")
        if not isinstance(correct, bool):
            raise fail(f"quiz {qid}, option {i}: correct must be true or false")
        if not isinstance(feedback, str) or not feedback.strip():
            raise fail(f"quiz {qid}, option {i}: every option needs its own feedback "
                       f"(add `feedback: <why this option is right or wrong>`)")
        options.append(Option(i, str(text), correct, feedback.strip(),
                              Markup(render_inline(str(text))), Markup(render_inline(feedback.strip()))))
    n_correct = sum(o.correct for o in options)
    if multiple and n_correct < 1:
        raise fail(f"quiz {qid}: a multiple-answer question needs at least one correct option "
                   f"(mark it `correct: true`)")
    if not multiple and n_correct != 1:
        raise fail(f"quiz {qid}: a single-answer question needs exactly one correct option, has {n_correct} "
                   f"(mark exactly one `correct: true`, or set `multiple: true`)")
    predict = _parse_predict(data["predict"], fail, qid) if "predict" in data else None
    if predict is not None and "variants" in data["predict"]:
        predict = Predict(predict.widget, predict.params, predict.checks,
                          parse_variants(data["predict"]["variants"], fail, qid, len(options), multiple))
    return Quiz(qid, question.strip(), Markup(render_inline(question.strip())), multiple, tuple(options),
                predict, hint.strip(), _inline(hint), kind, recipe.strip(), _inline(recipe))


def _inline(text: str) -> Markup:
    return Markup(render_inline(text.strip())) if text.strip() else Markup("")


def _parse_predict(raw: Any, fail, qid: str) -> Predict:
    if not isinstance(raw, dict) or set(raw) - {"widget", "params", "check", "variants"}:
        raise fail(f"quiz {qid}: predict must be a mapping of widget, params, check and (optionally) variants")
    widget = raw.get("widget")
    if not isinstance(widget, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", widget):
        raise fail(f"quiz {qid}: predict needs `widget: <widget name>`, got {widget!r}")
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise fail(f"quiz {qid}: predict params must be a mapping of parameter names to values")
    checks = raw.get("check")
    if isinstance(checks, str):
        checks = [checks]
    if not isinstance(checks, list) or not checks or not all(isinstance(c, str) for c in checks):
        raise fail(f"quiz {qid}: predict needs `check: \"<expression that the correct option claims>\"` "
                   f"(a string or a list of strings), so the question can be tested against the real run")
    for check in checks:
        try:
            parse_expr(check)
        except ExprError as exc:
            raise fail(f"quiz {qid}: predict check: {exc}") from None
    return Predict(widget, {str(k): v for k, v in params.items()}, tuple(c.strip() for c in checks))


def display_order(quiz: Quiz, learner: str, chapter: str) -> list[int]:
    """The order in which this learner sees this question's options (authored indices).

    A permutation seeded by (learner, chapter, question): the same on every reload, different
    between learners, and independent of the order of other questions. Options keep their
    authored index, so grading and saved answers never depend on it."""
    seed = hashlib.sha256(f"{learner}\x1f{chapter}\x1f{quiz.id}".encode()).digest()
    order = list(range(len(quiz.options)))
    random.Random(int.from_bytes(seed[:8], "big")).shuffle(order)
    return order


def normalize_selection(quiz: Quiz, selected: Any) -> tuple[int, ...]:
    """Check a learner's answer; raise AnswerError saying what is wrong with it."""
    if isinstance(selected, (str, int)) and not isinstance(selected, bool):
        selected = [selected]
    if not isinstance(selected, (list, tuple)):
        raise AnswerError("selected must be a list of option indices")
    if not selected:
        raise AnswerError("choose at least one option")
    indices = []
    for value in selected:
        # an index is an int, an integral float (JSON 1.0) or ASCII digits (a form field):
        # int() alone would take "1_0", " 1 ", Arabic-Indic digits, and overflow on inf
        if isinstance(value, bool) or (isinstance(value, str) and not INDEX_RE.fullmatch(value)):
            raise AnswerError(f"{_clip(repr(value))} is not an option index")
        try:
            index = int(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: inf, -inf, 1e400 in JSON
            raise AnswerError(f"{_clip(repr(value))} is not an option index") from None
        if isinstance(value, float) and value != index:
            raise AnswerError(f"{value!r} is not an option index")
        if not 0 <= index < len(quiz.options):
            raise AnswerError(f"option {_clip(str(index))} does not exist: question {quiz.id!r} has options "
                              f"0 to {len(quiz.options) - 1}")
        if index in indices:
            raise AnswerError(f"option {index} is chosen twice")
        indices.append(index)
    if not quiz.multiple and len(indices) > 1:
        raise AnswerError(f"question {quiz.id!r} takes a single answer, got {len(indices)}")
    return tuple(sorted(indices))


def _clip(text: str, limit: int = 64) -> str:
    """A rejected answer as it is echoed back: never more than `limit` characters."""
    return text if len(text) <= limit else text[:limit] + "..."


def grade(quiz: Quiz, selected: Iterable[Any]) -> Grade:
    chosen = normalize_selection(quiz, selected)
    results = tuple(OptionResult(o.index, o.index in chosen, o.correct, o.feedback,
                                 o.feedback_html, o.text_html) for o in quiz.options)
    return Grade(quiz, chosen, all(r.ok for r in results), results)
