"""The landing page's content (content/course.md) and each chapter's recap: what they are
made of, and the content check's word on them."""
from __future__ import annotations

import textwrap

import pytest

from app.course.content import ContentError, load_course
from app.course.landing import load_landing
from app.course.recap import key_takeaways
from app.settings import Settings
from app.tools.check.landing import landing_problems
from widgets.registry import all_widgets

CONTENT = Settings().content_dir
COURSE = load_course(CONTENT)


def test_the_course_landing_content_loads_with_three_outcomes_and_a_precomputed_widget():
    landing = load_landing(CONTENT)
    assert landing is not None and len(landing.outcomes_html) == 3 and landing.prerequisites_html
    assert [w.name for w in landing.widgets] == ["lr-sweep"]
    assert "<p>" in landing.html and "<!--slot:widget:0-->" in landing.html
    assert landing_problems(CONTENT, COURSE, all_widgets()) == []


def write_landing(tmp_path, front: str, body: str = "```widget lr-sweep\n```\n"):
    (tmp_path / "course.md").write_text(textwrap.dedent(front) + body)
    return tmp_path


GOOD = """\
    ---
    prerequisites: [Python]
    outcomes: [one, two, three]
    ---
    Intro.

    """


def test_a_landing_widget_no_chapter_places_is_reported(tmp_path):
    content = write_landing(tmp_path, GOOD, "```widget lr-sweep\ncount: 3\n```\n")
    problems = landing_problems(content, COURSE, all_widgets())
    assert len(problems) == 1 and "no chapter places it with" in problems[0]
    assert landing_problems(write_landing(tmp_path, GOOD), COURSE, all_widgets()) == []


@pytest.mark.parametrize("front, body, message", [
    ("---\nprerequisites: [Python]\noutcomes: [one, two]\n---\n", "", "exactly 3"),
    ("---\noutcomes: [one, two, three]\n---\n", "", "`prerequisites:` must be"),
    (GOOD, "```quiz\nid: x\n```\n", "only ```widget directives"),
    ("no front matter\n", "", "no YAML front matter"),
])
def test_a_malformed_landing_file_says_what_is_wrong(tmp_path, front, body, message):
    content = write_landing(tmp_path, front, body)
    with pytest.raises(ContentError, match=message):
        load_landing(content)
    assert message in landing_problems(content, COURSE, all_widgets())[0]


def test_no_landing_file_is_no_landing_content(tmp_path):
    assert load_landing(tmp_path) is None and landing_problems(tmp_path, COURSE, all_widgets()) == []


@pytest.mark.parametrize("chapter", COURSE.chapters, ids=lambda c: c.slug)
def test_every_chapter_recaps_three_things_from_its_takeaways(chapter):
    things = key_takeaways(chapter)
    assert len(things) == 3 and all(t.strip() and not t.endswith(".") for t in things)
    assert all("<strong>" not in t and "<li>" not in t for t in things)
