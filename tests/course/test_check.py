"""`python -m app check`: one test per kind of problem, in temporary content directories."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.__main__ import main
from app.tools.check.course import check_content

ROOT = Path(__file__).resolve().parents[2]

GOOD = """---
title: Good chapter
slug: good
order: 1
minutes: 5
level: introductory
prerequisites:
  background: [Some Python.]
objectives:
  - Learn a thing
glossary:
  warmup: A ramp at the start.
---
## Start

Text with a [link to the glossary](/glossary#term-warmup), [a heading](#start) and
[a widget](/widgets/lr-schedule/demo).

```widget lr-schedule
peak_lr: 0.001
```

```quiz
id: q1
question: Pick one
kind: transfer
hint: Think first.
recipe: Work it out.
options:
  - {text: A, correct: true, feedback: Yes.}
  - {text: B, correct: false, feedback: No.}
```
"""


def content(tmp_path: Path, *texts: str) -> Path:
    chapters = tmp_path / "content" / "chapters"
    chapters.mkdir(parents=True)
    for i, text in enumerate(texts, start=1):
        (chapters / f"{i:02d}-c{i}.md").write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path / "content"


def run_check(capsys, content_dir: Path, *extra: str) -> tuple[int, str]:
    code = main(["check", "--content-dir", str(content_dir), "--no-cache", *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_good_content_passes_with_the_summary_line(tmp_path, capsys):
    code, out = run_check(capsys, content(tmp_path, GOOD))
    assert code == 0, out
    assert "content check: 1 chapters, 1 questions, 1 widgets: OK" in out


@pytest.mark.parametrize("change, expected", [
    # a widget directive naming an unknown widget
    (("```widget lr-schedule\npeak_lr: 0.001\n```", "```widget no-such-widget\n```"),
     ["02-c2.md line 19", "no widget named 'no-such-widget'", "register the widget"]),
    # a parameter out of bounds
    (("peak_lr: 0.001", "peak_lr: 99"), ["02-c2.md line 19", "peak_lr=99", "expected"]),
    # an unknown parameter
    (("peak_lr: 0.001", "peak_rate: 0.001"), ["has no parameters ['peak_rate']", "its parameters are"]),
    # a question without a correct option
    (("{text: A, correct: true, feedback: Yes.}", "{text: A, correct: false, feedback: Yes.}"),
     ["02-c2.md line 23", "exactly one correct option", "correct: true"]),
    # an option without feedback
    (("{text: B, correct: false, feedback: No.}", "{text: B, correct: false}"),
     ["02-c2.md line 23", "every option needs its own feedback", "feedback:"]),
    # broken internal links: chapter slug, anchor, glossary term, widget demo, unknown page
    (("[a heading](#start)", "[a heading](/chapters/nope)"), ["02-c2.md line 16", "broken link /chapters/nope", "no chapter"]),
    (("[a heading](#start)", "[a heading](/chapters/c2#nowhere)"), ["broken link /chapters/c2#nowhere", "no anchor"]),
    (("[a heading](#start)", "[a heading](#nowhere)"), ["broken link #nowhere"]),
    (("/glossary#term-warmup", "/glossary#term-nope"), ["line 16", "broken link /glossary#term-nope"]),
    (("/widgets/lr-schedule/demo", "/widgets/nope/demo"), ["broken link /widgets/nope/demo", "no widget named 'nope'"]),
    (("[a heading](#start)", '<a href="/nowhere">x</a>'), ["broken link /nowhere", "no such page"]),
    # a glossary term without a definition
    (("warmup: A ramp at the start.", "warmup:"), ["02-c2.md line 12", "'warmup' has no definition"]),
    # a front matter field missing
    (("minutes: 5\n", ""), ["02-c2.md line 1", "lacks ['minutes']"]),
    (("objectives:\n  - Learn a thing\n", ""), ["lacks ['objectives']"]),
])
def test_each_kind_of_problem_fails_with_file_line_and_fix(tmp_path, capsys, change, expected):
    old, new = change
    bad = GOOD.replace("slug: good", "slug: c2").replace("order: 1", "order: 2")
    assert old in bad
    bad = bad.replace(old, new, 1)
    code, out = run_check(capsys, content(tmp_path, GOOD.replace("slug: good", "slug: c1"), bad))
    assert code == 1, out
    for piece in expected:
        assert piece in out, f"{piece!r} not in:\n{out}"
    assert "AUTHORING.md" in out


def test_several_problems_are_all_reported(tmp_path, capsys):
    bad = GOOD.replace("```widget lr-schedule", "```widget nope").replace("#start", "#nowhere")
    code, out = run_check(capsys, content(tmp_path, bad))
    assert code == 1 and "2 problems" in out


PREDICT = GOOD.replace("""```widget lr-schedule""", """```quiz
id: p1
question: Predict the peak
hint: Look at the peak.
recipe: Read the schedule.
predict:
  widget: lr-schedule
  params: {peak_lr: 0.001}
  check: "{check}"
options:
  - {{text: A, correct: true, feedback: Yes.}}
  - {{text: B, correct: false, feedback: No.}}
```

```widget lr-schedule""")


@pytest.fixture
def quick_widget(monkeypatch):
    """lr-schedule's compute, counted, so the test knows the real run happened."""
    from widgets.registry import all_widgets

    widget = all_widgets()["lr-schedule"]
    calls = []
    original = type(widget).compute

    def compute(self, values, progress=None):
        calls.append(values)
        return original(self, values, progress)

    monkeypatch.setattr(type(widget), "compute", compute)
    return calls


def test_predict_check_runs_the_widget_and_fails_when_false(tmp_path, capsys, quick_widget):
    from widgets.registry import all_widgets

    w = all_widgets()["lr-schedule"]
    data_keys = sorted(w.compute(w.canonicalize({"peak_lr": 0.001})))
    quick_widget.clear()
    assert data_keys, "lr-schedule returns data"
    false_check = f"len({data_keys[0]}) < 0"
    text = PREDICT.replace("{check}", false_check).replace("{{", "{").replace("}}", "}")
    code, out = run_check(capsys, content(tmp_path, text))
    assert code == 1 and quick_widget, out
    assert "predict question p1: the check is FALSE on the real run of lr-schedule" in out
    assert "01-c1.md line 20: predict question p1" in out
    code, out = run_check(capsys, tmp_path / "content", "--fast")
    assert code == 0 and "predict checks skipped" in out


def test_predict_check_passes_when_true_and_names_an_unknown_widget(tmp_path, capsys, quick_widget):
    text = PREDICT.replace("{check}", "1 < 2").replace("{{", "{").replace("}}", "}")
    code, out = run_check(capsys, content(tmp_path, text))
    assert code == 0 and len(quick_widget) == 1, out
    assert "content check: 1 chapters, 2 questions, 1 widgets: OK" in out
    (tmp_path / "content" / "chapters" / "01-c1.md").write_text(text.replace("widget: lr-schedule", "widget: nope"))
    code, out = run_check(capsys, tmp_path / "content", "--fast")
    assert code == 1 and "predict question p1: no widget named 'nope'" in out


def test_recorded_runs_are_reused(tmp_path, quick_widget):
    text = PREDICT.replace("{check}", "1 < 2").replace("{{", "{").replace("}}", "}")
    content_dir = content(tmp_path, text)
    for _ in range(2):
        report = check_content(content_dir, cache_dir=tmp_path / "runs")
        assert report.problems == [] and report.predictions == 1
    assert len(quick_widget) == 1 and len(list((tmp_path / "runs").glob("lr-schedule-*.json"))) == 1


def test_bench_command_passes_its_options_to_the_benchmark(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["bench", "--help"])  # argparse inside app.tools.bench.speed prints its usage and exits 0
    assert exited.value.code == 0
    assert "--quick" in capsys.readouterr().out


def test_python_dash_m_app_runs(tmp_path):
    result = subprocess.run([sys.executable, "-m", "app", "check", "--fast", "--content-dir",
                             str(content(tmp_path, GOOD))], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "content check: 1 chapters, 1 questions, 1 widgets: OK" in result.stdout


# --- question rules (app/tools/check/quizzes.py) -------------------------------------------------
def quiz_block(qid: str, question: str, *, kind: str | None = "transfer", hint: str | None = "Think first.",
               right: str = "A", wrong: str = "B", predict: str = "", key_first: bool = False,
               recipe: str | None = "Work it out step by step.") -> str:
    lines = ["```quiz", f"id: {qid}", f"question: {json.dumps(question)}"]
    lines += [f"kind: {kind}"] if kind and not predict else []
    lines += [f"hint: {json.dumps(hint)}"] if hint else []
    lines += [f"recipe: {json.dumps(recipe)}"] if recipe else []
    lines += [predict] if predict else []
    options = [f"  - {{text: {json.dumps(wrong)}, feedback: No.}}",
               f"  - {{text: {json.dumps(right)}, correct: true, feedback: Yes.}}"]
    lines += ["options:", *(options[::-1] if key_first else options), "```", ""]
    return "\n".join(lines)


def chapter(n: int, body: str) -> str:
    head = GOOD.split("## Start")[0].replace("slug: good", f"slug: c{n}").replace("order: 1", f"order: {n}")
    return head + "## Start\n\n" + body


PREDICT_PEAK = ("predict:\n  widget: lr-schedule\n  params: {peak_lr: 0.001}\n"
                "  check: \"max(lr) > 0\"")
CLAIM = "<!-- CLAIM:c1:peak -->At the defaults the peak is reached at step 200.<!-- /CLAIM -->\n\n"
WIDGET = "```widget lr-schedule\n```\n\n"


def test_a_question_without_a_hint_fails(tmp_path, capsys):
    code, out = run_check(capsys, content(tmp_path, chapter(1, quiz_block("q1", "Pick one", hint=None))), "--fast")
    assert code == 1 and "01-c1.md line 17: question q1 has no hint" in out, out


def test_a_question_without_a_kind_fails_but_a_predict_question_needs_none(tmp_path, capsys):
    body = quiz_block("q1", "Pick one", kind=None) + quiz_block("p1", "Predict it", predict=PREDICT_PEAK) + WIDGET
    code, out = run_check(capsys, content(tmp_path, chapter(1, body)), "--fast")
    assert code == 1 and "question q1 does not say its kind" in out, out
    assert "question p1 does not say" not in out


@pytest.mark.parametrize("body, spoiler", [
    (WIDGET + quiz_block("p1", "Predict it", predict=PREDICT_PEAK), "shows that widget earlier (line 16)"),
    (CLAIM + quiz_block("p1", "Predict it", predict=PREDICT_PEAK) + WIDGET, "claim peak about that widget comes earlier"),
])
def test_a_predict_question_after_its_widget_or_claim_fails(tmp_path, capsys, body, spoiler):
    code, out = run_check(capsys, content(tmp_path, chapter(1, body)), "--fast")
    assert code == 1 and "question p1 predicts widget lr-schedule" in out and spoiler in out, out


def test_a_predict_question_before_its_widget_and_claim_passes(tmp_path, capsys):
    body = quiz_block("p1", "Predict it", predict=PREDICT_PEAK) + WIDGET + CLAIM + quiz_block("q1", "Pick one")
    code, out = run_check(capsys, content(tmp_path, chapter(1, body)), "--fast")
    assert code == 0, out


def test_a_claim_about_another_widget_does_not_spoil_a_prediction(tmp_path, capsys):
    other = "```widget warmup\n```\n\n" + CLAIM  # nearest widget: warmup, not lr-schedule
    body = (other + "Some prose.\n\n" * 6 + quiz_block("p1", "Predict it", predict=PREDICT_PEAK) + WIDGET
            + quiz_block("q1", "Pick one"))
    code, out = run_check(capsys, content(tmp_path, chapter(1, body)), "--fast")
    assert code == 0, out


def test_a_correct_option_longest_by_far_warns_but_passes(tmp_path, capsys):
    long = "The one option that carries every qualifying detail the others lack"
    code, out = run_check(capsys, content(tmp_path, chapter(1, quiz_block("q1", "Pick one", right=long))), "--fast")
    assert code == 0 and "warning: 01-c1.md line 17: question q1: the correct option is the longest by far" in out
    code, out = run_check(capsys, content(tmp_path / "b", chapter(1, quiz_block(
        "q1", "Pick one", right=long, wrong="Another option with about as many words as the right one has"))), "--fast")
    assert code == 0 and "longest by far" not in out


def test_the_transfer_share_is_reported_and_must_be_forty_percent(tmp_path, capsys):
    recall = "".join(quiz_block(f"r{i}", f"Recall fact number {i} about something", kind="recall") for i in range(2))
    body = recall + quiz_block("a1", "Use it here", kind="apply") + quiz_block("t1", "Use it elsewhere") \
        + quiz_block("t2", "Use it somewhere new")
    code, out = run_check(capsys, content(tmp_path, chapter(1, body)), "--fast")
    assert code == 0 and "questions: 2/5 transfer (40%), 1 apply, 0 predict, 2 recall" in out, out
    assert "questions testing transfer: 40% (at least 40%)" in out
    assert "predictions with a cross-chapter spoiler: 0 (must be 0)" in out
    assert "predict hints that name an option: 0 (must be 0)" in out
    fewer = recall + quiz_block("a1", "Use it here", kind="apply") + quiz_block("t1", "Use it elsewhere")
    code, out = run_check(capsys, content(tmp_path / "b", chapter(1, fewer)), "--fast")
    assert code == 1 and "only 1 of 4 questions are kind: transfer; at least 40%" in out, out


def test_a_hint_without_a_recipe_fails(tmp_path, capsys):
    code, out = run_check(capsys, content(tmp_path, chapter(1, quiz_block("q1", "Pick one", recipe=None))), "--fast")
    assert code == 1 and "01-c1.md line 17: question q1 has a hint but no recipe" in out, out


@pytest.mark.parametrize("recipe", ['""', "[1, 2]"])
def test_a_recipe_must_be_non_empty_text(tmp_path, capsys, recipe):
    block = quiz_block("q1", "Pick one").replace('recipe: "Work it out step by step."', f"recipe: {recipe}")
    code, out = run_check(capsys, content(tmp_path, chapter(1, block)), "--fast")
    assert code == 1 and "quiz q1: the recipe must be non-empty text" in out, out


def test_the_question_json_counts_the_hint_tiers_and_keeps_their_text_until_asked():
    from app.course.quiz import parse_quiz

    quiz = parse_quiz({"id": "q", "question": "Q?", "kind": "transfer", "hint": "Nudge.", "recipe": "Steps.",
                       "options": [{"text": "A", "correct": True, "feedback": "a"},
                                   {"text": "B", "feedback": "b"}]})
    # the texts come from POST /api/quiz/.../hint, which records that a hint was used
    assert quiz.public()["hints"] == 2 and "hint" not in quiz.public() and "recipe" not in quiz.public()
    assert quiz.skill == "transfer" and str(quiz.recipe_html) == "Steps."


# a predict question on lr-schedule whose hint leans one way, and one whose hint is neutral
LEANING = [("The peak goes higher", "The peak goes lower", "Ask why the peak goes higher."),
           ("Exactly 0.006 at step 40", "About 0.003 at step 20", "It reaches 0.006 somewhere."),
           ("The ramp ends at the warmup step", "The ramp never ends", "Look where the ramp ends at the warmup.")]


@pytest.mark.parametrize("right, wrong, hint", LEANING)
def test_a_predict_hint_that_names_an_option_fails(tmp_path, capsys, right, wrong, hint):
    body = quiz_block("p1", "Predict it", predict=PREDICT_PEAK, right=right, wrong=wrong, hint=hint) + WIDGET
    code, out = run_check(capsys, content(tmp_path, chapter(1, body)), "--fast")
    assert code == 1 and "question p1: its hint names an option" in out, out
    assert "predict hints that name an option" not in out  # the counts print only when the check passes


def test_a_neutral_predict_hint_passes_and_a_leading_recall_hint_only_warns(tmp_path, capsys):
    neutral = quiz_block("p1", "Predict it", predict=PREDICT_PEAK, right="The peak goes higher",
                         wrong="The peak goes lower", hint="Compare the peak with the warmup, higher or lower?")
    leading = quiz_block("r1", "Recall it", kind="recall", right="It grows", wrong="It stays", hint="Why it grows?")
    body = neutral + WIDGET + leading + quiz_block("t1", "Use it elsewhere") + quiz_block("t2", "Use it anew")
    code, out = run_check(capsys, content(tmp_path, chapter(1, body)), "--fast")
    assert code == 0 and "predict hints that name an option: 0" in out, out
    assert "question r1: its hint may give the answer away" in out and "question p1" not in out


@pytest.mark.parametrize("earlier, spoiled", [
    (WIDGET, False),                                         # another setting of the widget: fine
    ("```widget lr-schedule\npeak_lr: 0.001\n```\n\n", True),  # the very setting the question predicts
    (WIDGET + CLAIM, True),                                  # a claim about the widget
    ("```widget warmup\n```\n\n" + CLAIM, False),           # a claim about another widget
])
def test_a_prediction_answered_by_an_earlier_chapter_fails(tmp_path, capsys, earlier, spoiled):
    first = chapter(1, earlier + quiz_block("t1", "Use it elsewhere", right="First answer")
                    + quiz_block("t2", "Use it anew", right="Second answer"))
    second = chapter(2, quiz_block("p1", "Predict it", predict=PREDICT_PEAK) + WIDGET
                     + quiz_block("t3", "A third use of it", right="Third reply")
                     + quiz_block("t4", "A fourth use of it", right="Fourth reply"))
    code, out = run_check(capsys, content(tmp_path, first, second), "--fast")
    assert (code == 1) is spoiled, out
    assert ("02-c2.md line 17: predict question p1 is answered by an earlier chapter: 01-c1.md" in out) is spoiled
    if not spoiled:
        assert "predictions with a cross-chapter spoiler: 0 (must be 0)" in out


@pytest.mark.parametrize("second, duplicate", [
    # the same question in other words is still the same question
    (quiz_block("q9", "How many tokens does a run of 512 sequences of 8,192 tokens for 500,000 steps see?",
                right="About 2.1 trillion"), True),
    # reworded, but the same numbers and the same answer
    (quiz_block("q9", "Micro-batches of 4 sequences of 8,192 tokens, 8 accumulation steps, 16 GPUs, "
                      "500,000 steps: how many tokens does the run see?", right="About 2.1 trillion"), True),
    # the same idea in a new situation is not a duplicate
    (quiz_block("q9", "Your data set has 300 billion tokens and each step sees 4M tokens. How many steps "
                      "is one epoch?", right="About 72,000"), False),
])
def test_a_question_asked_again_in_another_chapter_fails(tmp_path, capsys, second, duplicate):
    first = quiz_block("q1", "A run uses 512 sequences of 8,192 tokens per step for 500,000 steps. About how "
                             "many tokens does it train on?", right="About 2.1 trillion")
    code, out = run_check(capsys, content(tmp_path, chapter(1, first), chapter(2, second)), "--fast")
    assert (code == 1) is duplicate, out
    assert ("02-c2.md: question q9 asks what 01-c1.md question q1 already asks" in out) is duplicate, out


def test_keys_piled_on_one_position_warn(tmp_path, capsys):
    same = "".join(quiz_block(f"q{i}", f"Question number {i} about topic {i}") for i in range(8))  # key: option 2
    code, out = run_check(capsys, content(tmp_path, chapter(1, same)), "--fast")
    assert code == 0 and "warning: 8 of 8 single-answer questions have their key at option 2 (random placement would give about 4)" in out, out
    varied = "".join(quiz_block(f"q{i}", f"Question number {i} about topic {i}", key_first=i % 2 == 0)
                     for i in range(8))
    code, out = run_check(capsys, content(tmp_path / "b", chapter(1, varied)), "--fast")
    assert code == 0 and "have their key at option" not in out, out


@pytest.mark.parametrize("front, message", [
    ("level: introductory\nprerequisites:\n  background: [Some Python.]\n", None),
    ("prerequisites:\n  background: [Some Python.]\n", "lacks `level:`"),
    ("level: introductory\n", "lacks `prerequisites:`"),
    ("level: introductory\nprerequisites:\n  chapters: [c2]\n", "prerequisite chapter 'c2' is not an earlier chapter"),
])
def test_each_chapter_states_its_level_and_prerequisites(tmp_path, capsys, front, message):
    text = GOOD.replace("level: introductory\nprerequisites:\n  background: [Some Python.]\n", front)
    second = (GOOD.replace("slug: good", "slug: c2").replace("order: 1", "order: 2")
              .replace("question: Pick one", "question: Something else entirely, about another topic")
              .replace("{text: A, correct: true", "{text: C, correct: true"))
    code, out = run_check(capsys, content(tmp_path, text, second), "--fast")
    assert (code == 0) is (message is None), out
    assert message is None or message in out
