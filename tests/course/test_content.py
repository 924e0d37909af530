"""The content pipeline: chapter files, front matter, Markdown rendering and directives."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from app.tools.check.course import check_content
from app.course.content import ContentError, load_course_uncached, parse_chapter
from app.course.loader import CourseLoader
from app.course.markdown import MarkdownError, fill_slots, render_markdown
from app.settings import Settings

CONTENT_DIR = Settings().content_dir
CHAPTER_FILES = sorted((CONTENT_DIR / "chapters").glob("*.md"))


def check_course(content_dir) -> list[str]:
    """The fast checks (predict questions are not run)."""
    return check_content(content_dir, run_predictions=False).problems


def chapter_text(body: str, **meta) -> str:
    front = {"title": "A test chapter", "slug": "test", "order": 1, "minutes": 5}
    front.update(meta)
    lines = [f"{k}: {v}" for k, v in front.items()]
    return ("---\n" + "\n".join(lines) + "\nobjectives:\n  - Learn a thing\n"
            "glossary:\n  thing: A thing.\n---\n" + textwrap.dedent(body))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the real chapters ---------------------------------------------------------------------
def test_there_are_chapters_and_file_names_match_order_and_slug():
    assert CHAPTER_FILES, "no chapters in content/chapters"
    for path in CHAPTER_FILES:
        chapter = parse_chapter(path)
        assert re.fullmatch(r"\d\d-[a-z0-9-]+\.md", path.name)
        assert path.name == f"{chapter.order:02d}-{chapter.slug}.md"


def test_course_is_sorted_by_order_and_the_loader_keeps_it():
    loader = CourseLoader(CONTENT_DIR)
    course = loader.course()
    orders = [c.order for c in course.chapters]
    assert orders == sorted(orders)
    assert loader.course() is course, "nothing changed on disk: the same course"


@pytest.mark.parametrize("path", CHAPTER_FILES, ids=lambda p: p.name)
def test_every_chapter_meets_the_curriculum_rules(path):
    chapter = parse_chapter(path)
    assert chapter.title and chapter.minutes > 0
    assert len(chapter.objectives) >= 2
    assert len(chapter.glossary) >= 3
    assert chapter.widgets, "every chapter has at least one live widget"
    quizzes = list(chapter.quizzes.values())
    assert len(quizzes) >= 3, "a quick-check of 3+ questions"
    for quiz in quizzes:
        assert all(o.feedback for o in quiz.options), f"{quiz.id}: feedback for every option"
    assert '<aside class="try-this">' in chapter.html
    takeaways = re.search(r'<section class="takeaways">(.*?)</section>', chapter.html, re.S)
    assert takeaways and 3 <= takeaways.group(1).count("<li>") <= 5
    assert "<math" in chapter.html


def test_every_widget_directive_names_a_registered_widget():
    from widgets.registry import all_widgets

    registry = all_widgets()
    uses = [(p.name, w) for p in CHAPTER_FILES for w in parse_chapter(p).widgets]
    assert uses
    for name, use in uses:
        assert use.name in registry, f"{name} line {use.line}: unknown widget {use.name!r}"
        registry[use.name].canonicalize(use.overrides)  # starting values are valid


def test_every_registered_widget_is_placed_in_a_chapter():
    from widgets.registry import all_widgets

    placed = {w.name for p in CHAPTER_FILES for w in parse_chapter(p).widgets}
    assert set(all_widgets()) <= placed, f"in no chapter: {sorted(set(all_widgets()) - placed)}"


def test_check_course_reports_no_problems():
    assert check_course(CONTENT_DIR) == []


def test_chapter_3_content():
    chapter = parse_chapter(CONTENT_DIR / "chapters" / "03-learning-rate.md")
    assert chapter.slug == "learning-rate" and chapter.order == 3
    names = [w.name for w in chapter.widgets]
    assert names.index("warmup") < names.index("lr-schedule")
    for term in ("learning rate", "warmup", "cosine schedule", "WSD", "peak LR"):
        assert term in chapter.glossary
    quizzes = chapter.quizzes.values()
    assert len(quizzes) >= 4
    assert any(q.multiple for q in quizzes) and any(not q.multiple for q in quizzes)
    assert "<!-- CLAIM:learning-rate:warmup -->" in chapter.html
    refs = re.search(r'<section class="references">(.*?)</section>', chapter.html, re.S).group(1)
    for cited in ("SGDR", "Goyal", "Xiong", "Tuning Playbook", "nanoGPT"):
        assert cited in refs
    # the cosine formula is rendered as display MathML
    assert 'display="block"' in chapter.html
    assert '<div class="highlight">' in chapter.html


# --- Markdown ------------------------------------------------------------------------------
def test_headings_get_unique_anchor_ids_and_a_visible_link():
    r = render_markdown("## Warmup\n\ntext\n\n## Warmup\n\n### Why $x$\n")
    assert '<h2 id="warmup">' in r.html and '<h2 id="warmup-2">' in r.html
    assert '<a class="heading-anchor" href="#warmup" aria-label="Link to this section">#</a>' in r.html
    assert [(h["level"], h["id"]) for h in r.toc] == [(2, "warmup"), (2, "warmup-2"), (3, "why-x")]


def test_math_is_rendered_to_mathml_on_the_server():
    r = render_markdown("Inline $\\eta_t$ here.\n\n$$\n\\frac{a}{b}\n$$\n")
    assert '<span class="math inline"><math' in r.html
    assert 'display="block"' in r.html and "<mfrac>" in r.html
    assert "$" not in r.html


def test_code_is_highlighted_with_css_classes_and_tables_render():
    r = render_markdown("```python\nx = 1\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert '<div class="highlight"><pre>' in r.html
    assert '<span class="n">x</span>' in r.html and "style=" not in r.html
    assert "<table>" in r.html and "<td>1</td>" in r.html


def test_unknown_code_language_is_an_error():
    with pytest.raises(MarkdownError, match="unknown code language"):
        render_markdown("```nosuchlanguage\nx\n```\n")


def test_widget_directive_leaves_a_slot_with_its_parameters():
    r = render_markdown("Text\n\n```widget warmup\npeak_lr: 0.003\n```\n\n```widget warmup\n```\n")
    assert [(d.kind, d.name, d.data) for d in r.directives] == [
        ("widget", "warmup", {"peak_lr": 0.003}), ("widget", "warmup", {})]
    filled = fill_slots(r.html, lambda kind, i: f"[{kind} {i}]")
    assert "[widget 0]" in filled and "[widget 1]" in filled and "slot" not in filled


@pytest.mark.parametrize("block, message", [
    ("```widget\n```\n", "needs a name"),
    ("```widget warmup\n- 1\n- 2\n```\n", "must be a YAML mapping"),
    ("```widget warmup\npeak_lr: [1\n```\n", "not valid YAML"),
])
def test_bad_widget_directives_are_errors(block, message):
    with pytest.raises(MarkdownError, match=message):
        render_markdown(block)


def test_box_directives_render_markdown_inside():
    r = render_markdown("```try-this\nMove **the** slider $x$.\n```\n\n```takeaways\n- one\n```\n")
    assert '<aside class="try-this">\n<p class="try-this-title">Try this</p>' in r.html
    assert "<strong>the</strong>" in r.html and "<math" in r.html
    assert '<section class="takeaways">' in r.html and "<li>one</li>" in r.html


# --- chapter files -------------------------------------------------------------------------
def test_parse_chapter_collects_widgets_with_instances_and_quizzes(tmp_path):
    path = write(tmp_path, "01-test.md", chapter_text("""
        ## Start

        ```widget lr-schedule
        ```

        ```widget lr-schedule
        peak_lr: 0.001
        ```

        ```quiz
        id: q1
        question: Pick one
        options:
          - {text: A, correct: true, feedback: Yes.}
          - {text: B, correct: false, feedback: No.}
        ```
        """))
    chapter = parse_chapter(path)
    assert [w.instance for w in chapter.widgets] == ["lr-schedule", "lr-schedule-2"]
    assert chapter.widgets[1].overrides == {"peak_lr": 0.001}
    assert list(chapter.quizzes) == ["q1"]
    assert chapter.toc[0]["id"] == "start"


@pytest.mark.parametrize("text, message", [
    ("no front matter\n", "no YAML front matter"),
    ("---\ntitle: x\n---\nbody\n", "lacks"),
    (chapter_text("x", slug="Bad Slug"), "slug"),
    (chapter_text("```quiz\nid: q\nquestion: Q\noptions:\n  - {text: A, correct: true}\n"
                  "  - {text: B, correct: false, feedback: no}\n```\n"), "feedback"),
    (chapter_text("```quiz\nid: q\nquestion: Q\noptions:\n  - {text: A, correct: true, feedback: a}\n"
                  "  - {text: B, correct: true, feedback: b}\n```\n"), "exactly one correct"),
    (chapter_text("```quiz\nid: q\nquestion: Q\noptions:\n  - {text: A, correct: true, feedback: a}\n"
                  "  - {text: B, feedback: b}\n```\n\n```quiz\nid: q\nquestion: Q\noptions:\n"
                  "  - {text: A, correct: true, feedback: a}\n  - {text: B, feedback: b}\n```\n"),
     "used twice"),
    (chapter_text("```nosuchlanguage\nx\n```\n"), "unknown code language"),
])
def test_bad_chapters_fail_loudly_naming_the_file(tmp_path, text, message):
    path = write(tmp_path, "07-bad.md", text)
    with pytest.raises(ContentError, match=message) as info:
        parse_chapter(path)
    assert "07-bad.md" in str(info.value)


def test_duplicate_slugs_are_an_error(tmp_path):
    write(tmp_path, "01-a.md", chapter_text("x", slug="same"))
    write(tmp_path, "02-b.md", chapter_text("x", slug="same", order=2))
    with pytest.raises(ContentError, match="slugs used twice"):
        load_course_uncached(tmp_path)


def test_check_course_flags_unknown_widgets_and_bad_starting_values(tmp_path):
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    write(chapters, "01-test.md", chapter_text(
        "```widget no-such-widget\n```\n\n```widget lr-schedule\npeak_lr: 99\n```\n"))
    problems = check_course(tmp_path)
    assert any("no widget named 'no-such-widget'" in p for p in problems)
    assert any("peak_lr" in p for p in problems)


def test_a_server_checks_the_chapter_files_at_most_once_per_interval(tmp_path):
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    write(chapters, "01-test.md", chapter_text("First version.\n"))
    loader = CourseLoader(tmp_path, recheck_s=3600.0)
    assert "First version" in str(loader.course().chapters[0].html)
    write(chapters, "01-test.md", chapter_text("An edited version, longer.\n"))
    assert "First version" in str(loader.course().chapters[0].html), "not looked at within the interval"
    loader.freshness.recheck_s = 0.0
    assert "An edited version" in str(loader.course().chapters[0].html), "seen once it has passed"


# --- the page of what the course leaves out --------------------------------------------------
def test_the_not_covered_page_is_served_and_linked_from_the_landing_page(client):
    page = client.get("/not-covered")
    assert page.status_code == 200
    assert "<title>What this course does not cover, and where to read it" in page.text
    for topic in ("Parallelism and sharding", "Long context", "FP4", "Mixture-of-experts", "reinforcement learning"):
        assert topic in page.text, topic
    assert 'href="/not-covered"' in client.get("/").text


def test_every_chapter_link_on_the_not_covered_page_resolves():
    text = (CONTENT_DIR / "pages" / "not-covered.md").read_text(encoding="utf-8")
    from shared_course import shared_course

    course = shared_course()
    links = re.findall(r"\(/chapters/([a-z0-9-]+)(?:#([a-z0-9-]+))?\)", text)
    assert len(links) >= 5
    for slug, anchor in links:
        chapter = course.get(slug)
        assert chapter is not None, slug
        assert not anchor or anchor in chapter.heading_ids, (slug, anchor)
