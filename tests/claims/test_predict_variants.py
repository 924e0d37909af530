"""Every variant of every predict question (app/course/variants.py) has exactly one option
holding on its real run, the authored one at the authored setting, with the margin its
conditions state. tests/claims/test_claims_on_other_kernels.py runs this again with ATen's
unvectorised kernels, so a variant whose key depends on the machine fails here first."""
from __future__ import annotations

import pytest

from shared_course import shared_course
from shared_runs import recorded
from app.tools.check.variants import setting_problems, variant_problems
from widgets.registry import all_widgets


def questions_with_variants():
    return [(chapter, quiz) for chapter in shared_course().chapters for quiz in chapter.quizzes.values()
            if quiz.predict is not None and quiz.predict.variants is not None]


def test_some_predict_questions_have_four_or_more_variants():
    assert [q.id for _, q in questions_with_variants() if len(q.predict.variants.settings) >= 4]


@pytest.mark.parametrize("chapter, quiz", questions_with_variants(),
                         ids=lambda x: getattr(x, "id", getattr(x, "slug", "")))
def test_every_variant_has_one_answer_on_its_real_run(chapter, quiz):
    widget = all_widgets()[quiz.predict.widget]
    problems = setting_problems(widget, quiz, chapter.path.name)
    problems += variant_problems(widget, quiz, chapter.path.name, recorded())
    assert problems == [], "\n".join(problems)
