"""Everything `python -m app check` reports, gathered into one CheckReport."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from app.tools.check.links import link_problems
from app.tools.check.predictions import prediction_problems
from app.tools.check.run_cache import RecordedRuns
from app.tools.check.quizzes import course_findings, question_findings
from app.tools.check.spoilers import spoiler_problems
from app.tools.check.variants import setting_problems, variant_problems
from app.course.content import LEVELS, ContentError, Course, line_of, parse_chapter
from app.settings import Settings
from widgets.base import ParamError
from widgets.registry import all_widgets


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)
    chapters: int = 0
    questions: int = 0
    widgets: int = 0  # widget directives
    predictions: int = 0  # predict questions whose check ran on the real widget
    warnings: list[str] = field(default_factory=list)  # printed, but the check still passes
    skills: dict = field(default_factory=dict)  # questions by skill: transfer, apply, recall, predict, total
    cross_chapter_spoilers: int = 0  # predict questions an earlier chapter answers
    leading_predict_hints: int = 0  # predict questions whose hint names an option
    variant_counts: list = field(default_factory=list)  # settings per predict question with variants
    variants_run: int = 0  # variant settings whose key was checked on the real run

    def summary(self) -> str:
        return (f"content check: {self.chapters} chapters, {self.questions} questions, "
                f"{self.widgets} widgets: OK")

    def skills_line(self) -> str:
        """How many questions ask for what (transfer must stay at 40% or more), and the two
        counts that keep predictions honest (both must be 0)."""
        s = self.skills
        if not s.get("total"):
            return "questions: none"
        return "\n".join([
            f"questions: {s['transfer']}/{s['total']} transfer ({s['transfer'] / s['total']:.0%}), "
            f"{s['apply']} apply, {s['predict']} predict, {s['recall']} recall",
            f"questions testing transfer: {s['transfer'] / s['total']:.0%} (at least 40%)",
            f"predictions with a cross-chapter spoiler: {self.cross_chapter_spoilers} (must be 0)",
            f"predict hints that name an option: {self.leading_predict_hints} (must be 0)",
            f"predict questions with variants: {len(self.variant_counts)} "
            f"({sum(1 for n in self.variant_counts if n >= 4)} with 4 or more); "
            f"variant settings checked on real runs: {self.variants_run}"])


def check_content(content_dir: Path, run_predictions: bool = True, log=None,
                  cache_dir: Path | None = None, settings: Settings | None = None,
                  widgets: dict | None = None) -> CheckReport:
    """Everything `python -m app check` checks, for authors:

    - the landing page (content/course.md) loads and places a widget as a chapter does;
    - every chapter loads: front matter fields, glossary definitions, Markdown, math, quiz
      format (a correct option, feedback for every option), predict syntax;
    - widget directives and predict questions name a registered widget with known,
      in-bounds parameters;
    - internal links (href="/..." or "#...", Markdown links too) point at a chapter, anchor,
      glossary term, widget, static file or page that exists;
    - questions: a hint and a recipe for each, a kind (recall/apply/transfer) for each that is
      not a predict question, no predict question after its widget or claim (in its chapter,
      app/tools/check/quizzes.py) or answered by an earlier chapter (app/tools/check/spoilers.py), no
      predict hint that names an option (app/tools/check/hint_cues.py), at least 40% transfer
      questions, no question repeated across chapters; a warning when the correct option is
      the longest by far;
    - with run_predictions, every predict question's check holds on the real run (runs
      are recorded in cache_dir, when given, and reused while nothing they depend on changes).

    settings: where the templates and static files are (the checkout's by default); widgets:
    the widget registry (every widget found in widgets/ by default).
    """
    settings = settings or Settings()
    report = CheckReport()
    chapters_dir = Path(content_dir) / "chapters"
    files = sorted(chapters_dir.glob("*.md"))
    if not files:
        report.problems.append(f"{chapters_dir}: no chapter files (NN-slug.md) found")
        return report
    chapters = []
    for path in files:
        try:
            chapters.append(parse_chapter(path))
        except ContentError as exc:
            report.problems.append(str(exc))
    slugs = [c.slug for c in chapters]
    for slug in sorted({s for s in slugs if slugs.count(s) > 1}):
        names = [c.path.name for c in chapters if c.slug == slug]
        report.problems.append(f"{', '.join(names)}: slug {slug!r} is used by more than one chapter; "
                               f"give each chapter its own slug")
    course = Course(chapters)
    registry = widgets if widgets is not None else all_widgets()
    report.chapters = len(files)
    report.questions = sum(len(c.quizzes) for c in chapters)
    report.widgets = sum(len(c.widgets) for c in chapters)
    # the coding exercises (content/exercises/): each loads and sits in a chapter that exists
    from app.course.exercises import check_exercises, load_exercises

    report.problems += [f"exercises/{problem}" for problem in check_exercises(content_dir)]
    report.problems += [f"exercises/{e.id}: chapter {e.chapter!r} does not exist (chapters: {sorted(slugs)})"
                        for e in load_exercises(content_dir).values() if e.chapter not in slugs]

    runs: dict[str, list] = {}  # one real run per distinct (widget, params)
    with_variants: list = []  # (widget, quiz, where) of predict questions with variants
    texts = {chapter.slug: chapter.path.read_text(encoding="utf-8") for chapter in course.chapters}
    for chapter in course.chapters:
        text = texts[chapter.slug]
        for use in chapter.widgets:
            where = f"{chapter.path.name} line {use.line}"
            report.problems += widget_problems(registry, use.name, use.overrides, where, "widget directive")
        for quiz in chapter.quizzes.values():
            if quiz.predict is None:
                continue
            where = f"{chapter.path.name} line {line_of(text, 'id: ' + quiz.id)}"
            found = widget_problems(registry, quiz.predict.widget, quiz.predict.params, where,
                                    f"predict question {quiz.id}")
            report.problems += found
            if not found:
                widget = registry[quiz.predict.widget]
                values = widget.canonicalize(quiz.predict.params)
                key = json.dumps([widget.name, values], sort_keys=True)
                runs.setdefault(key, [widget, values, []])[2].append((where, quiz))
                if quiz.predict.variants is not None:
                    report.problems += setting_problems(widget, quiz, where)
                    report.variant_counts.append(len(quiz.predict.variants.settings))
                    with_variants.append((widget, quiz, where))
        report.problems += link_problems(course, chapter, text, registry, settings)
        report.problems += orientation_problems(course, chapter)
        found = question_findings(chapter, text)
        report.warnings += found.warnings
        report.problems += found.problems
        report.leading_predict_hints += found.leading_predict_hints
    spoiled, report.cross_chapter_spoilers = spoiler_problems(course.chapters, texts, registry)
    report.problems += spoiled
    from app.tools.check.landing import landing_problems  # it imports widget_problems from here

    report.problems += landing_problems(Path(content_dir), course, registry)
    found, report.skills = course_findings(course.chapters)
    report.warnings += found.warnings
    report.problems += found.problems

    if run_predictions:
        recorded = RecordedRuns(cache_dir)
        for widget, values, questions in runs.values():
            report.problems += prediction_problems(widget, values, questions, log, recorded)
            report.predictions += len(questions)
        for widget, quiz, where in with_variants:
            report.problems += variant_problems(widget, quiz, where, recorded, log)
            report.variants_run += len(quiz.predict.variants.settings)
    return report


def orientation_problems(course: Course, chapter) -> list[str]:
    """A chapter says who it is for: its level, and what to know first (earlier chapters that
    exist, or background from outside the course)."""
    where = f"{chapter.path.name} line 1"
    problems = []
    if not chapter.level:
        problems.append(f"{where}: the front matter lacks `level:` (one of {', '.join(LEVELS)})")
    if not chapter.prerequisite_chapters and not chapter.background:
        problems.append(f"{where}: the front matter lacks `prerequisites:` (`chapters:` the slugs of "
                        f"earlier chapters to read first, `background:` what to know from outside the course)")
    for slug in chapter.prerequisite_chapters:
        other = course.get(slug)
        if other is None or other.order >= chapter.order:
            problems.append(f"{where}: prerequisite chapter {slug!r} is not an earlier chapter; earlier "
                            f"chapters: {', '.join(c.slug for c in course.chapters if c.order < chapter.order) or 'none'}")
    return problems


def widget_problems(registry, name: str, overrides: dict, where: str, what: str) -> list[str]:
    """Why a directive's widget name or starting values are wrong (empty when they are fine)."""
    widget = registry.get(name)
    if widget is None:
        return [f"{where}: {what}: no widget named {name!r}; registered widgets: "
                f"{', '.join(registry) or 'none'}. Fix the name, or register the widget first "
                f"(widgets/<name>.py; /widgets lists them)"]
    problems = []
    unknown = set(overrides) - {p.name for p in widget.params}
    if unknown:
        problems.append(f"{where}: {what}: widget {name} has no parameters {sorted(unknown)}; "
                        f"its parameters are {', '.join(p.name for p in widget.params)}")
    try:
        widget.canonicalize(overrides)
    except ParamError as exc:
        problems.append(f"{where}: {what}: widget {name}: {exc.message}")
    return problems
