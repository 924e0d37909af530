"""Variants of a predict question: the same question asked at other settings of its widget,
graded on the real run at each setting (practice that does not run out).

A predict question may add, under `predict:`,

    variants:
      question: "... rotated by {angle} degrees ..."   # the question at a setting; {name} is
                                                       # replaced by that parameter's value
      settings:                                        # each merged over `params`; values on
        - {angle: 0.0}                                 # the widget's slider grid
        - {angle: 60.0}
      options:                                         # one per option, in authored order
        - when: "run['SGD'].distance[-1] < run['Adam'].distance[-1] - 0.05"
          feedback: Why this is the outcome when it is, true at any setting.
          text: Plain SGD ends closer   # optional: the option as asked at a variant, where
        - ...                           # the authored wording names the authored setting

An option is the answer at a setting when its `when` holds on that setting's run (the
language of `check:`, app/course/expr.py). `python -m app check` runs every setting and fails
unless exactly one option's condition holds, so the conditions must leave a gap between them
wide enough for run-to-run and machine-to-machine noise (a margin), and the authored `params`
must make the authored correct option the one that holds. `precompute` computes every setting;
/review asks a variant only when its run is cached, so grading never trains.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from markupsafe import Markup

from app.course.expr import ExprError, evaluate, parse as parse_expr
from app.course.markdown import render_inline

VARIANT_KEYS = {"question", "settings", "options"}
OPTION_KEYS = {"when", "feedback", "text"}  # `text` is optional
PLACEHOLDER_RE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


@dataclass(frozen=True)
class VariantOption:
    when: str
    feedback: str
    feedback_html: Markup
    text: str = ""  # the option's wording at a variant ("": the authored wording)
    text_html: Markup = Markup("")


@dataclass(frozen=True)
class Variants:
    question: str  # with {name} placeholders
    settings: tuple[dict, ...]
    options: tuple[VariantOption, ...]

    def question_html(self, values: Mapping[str, Any]) -> Markup:
        """The question at a setting: each {name} replaced by the parameter's value."""
        text = PLACEHOLDER_RE.sub(lambda m: _shown(values.get(m.group(1), m.group(0))), self.question)
        return Markup(render_inline(text))


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_variants(raw: Any, fail, qid: str, n_options: int, multiple: bool) -> Variants:
    """The `variants:` mapping of a predict question (`fail` makes the format error)."""
    if multiple:
        raise fail(f"quiz {qid}: variants need a single-answer question (exactly one option holds at each setting)")
    if not isinstance(raw, dict) or set(raw) - VARIANT_KEYS:
        raise fail(f"quiz {qid}: variants must be a mapping of {', '.join(sorted(VARIANT_KEYS))}")
    question = raw.get("question")
    if not isinstance(question, str) or not question.strip():
        raise fail(f"quiz {qid}: variants need `question:`, the question at a setting ({{name}} for a parameter)")
    settings = raw.get("settings")
    if (not isinstance(settings, list) or not settings
            or not all(isinstance(s, dict) and s for s in settings)):
        raise fail(f"quiz {qid}: variants need `settings:`, a list of parameter mappings (each merged over params)")
    options = raw.get("options")
    if not isinstance(options, list) or len(options) != n_options:
        raise fail(f"quiz {qid}: variants need `options:` with one entry per option ({n_options}), in order")
    parsed = []
    for i, entry in enumerate(options):
        if not isinstance(entry, dict) or not {"when", "feedback"} <= set(entry) <= OPTION_KEYS:
            raise fail(f"quiz {qid}: variants option {i} must be a mapping of `when`, `feedback` and "
                       f"optionally `text`")
        when, feedback, text = entry["when"], entry["feedback"], entry.get("text", "")
        if not isinstance(when, str) or not isinstance(feedback, str) or not feedback.strip():
            raise fail(f"quiz {qid}: variants option {i}: `when` is an expression and `feedback` text")
        if not isinstance(text, str) or ("text" in entry and not text.strip()):
            raise fail(f"quiz {qid}: variants option {i}: `text` is the option's wording at a variant")
        try:
            parse_expr(when)
        except ExprError as exc:
            raise fail(f"quiz {qid}: variants option {i} when: {exc}") from None
        parsed.append(VariantOption(when.strip(), feedback.strip(), Markup(render_inline(feedback.strip())),
                                    text.strip(), Markup(render_inline(text.strip())) if text.strip() else Markup("")))
    return Variants(question.strip(), tuple({str(k): v for k, v in s.items()} for s in settings), tuple(parsed))


def holding(variants: Variants, names: Mapping[str, Any]) -> list[int]:
    """The options whose condition holds on a run (names from app.course.expr.names_for).
    ExprError when a condition cannot be evaluated on it; a condition that is not true or
    false counts as an ExprError too."""
    out = []
    for index, option in enumerate(variants.options):
        value = evaluate(option.when, names)
        if not isinstance(value, bool):
            raise ExprError(f"the condition {option.when!r} must be true or false, it gives {value!r}")
        if value:
            out.append(index)
    return out


def answer_at(variants: Variants, names: Mapping[str, Any]) -> int | None:
    """The one option that holds on this run, or None (none or several: not a fair question)."""
    try:
        found = holding(variants, names)
    except ExprError:
        return None
    return found[0] if len(found) == 1 else None
