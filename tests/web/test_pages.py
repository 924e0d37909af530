"""Pages: the chapter list, every chapter, the 404 page, the sidebar and the JSON twins."""
from __future__ import annotations

import dataclasses
import re
import textwrap
from html.parser import HTMLParser

import pytest
from markupsafe import Markup

from shared_course import shared_course

COURSE = shared_course()
SLUGS = [c.slug for c in COURSE.chapters]


class TagBalance(HTMLParser):
    """Counts unclosed and stray tags, to catch broken templates and Markdown."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
            "track", "wbr", "mprespace", "none"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        elif tag in self.stack:
            while self.stack.pop() != tag:
                pass  # implicitly closed elements such as <p> and <li>
        else:
            self.errors.append(f"stray </{tag}>")


@pytest.mark.parametrize("slug", SLUGS)
def test_every_chapter_renders(client, slug):
    response = client.get(f"/chapters/{slug}")
    assert response.status_code == 200
    html = response.text
    chapter = COURSE.get(slug)
    assert f"<h1>{chapter.title}</h1>" in html
    # nothing left unrendered: Jinja, Markdown fences, math delimiters or slot markers
    for leftover in ("{{", "{%", "```", "$$", "<!--slot:", "Undefined"):
        assert leftover not in html, f"{leftover!r} left in {slug}"
    assert "<math" in html
    source = chapter.path.read_text()
    if re.search(r"^```(python|bash|text|yaml|json)", source, re.M):
        assert '<div class="highlight"><pre>' in html
    for use in chapter.widgets:
        assert f'data-widget="{use.name}"' in html
    for qid in chapter.quizzes:
        assert f'id="quiz-{qid}"' in html
    parser = TagBalance()
    parser.feed(html)
    assert parser.errors == []


def test_chapter_page_structure(client):
    chapter = COURSE.get("learning-rate")
    html = client.get("/chapters/learning-rate").text
    header = re.search(r'<header class="chapter-header">(.*?)</header>', html, re.S).group(1)
    assert f"About {chapter.minutes} minutes" in header
    objectives = re.search(r'<section class="objectives".*?</section>', header, re.S).group(0)
    assert objectives.count("<li>") == len(chapter.objectives)
    # who the chapter is for: its level, and links to the chapters to read first
    assert chapter.level and chapter.level.capitalize() in header
    prerequisites = re.search(r'<section class="prerequisites".*?</section>', header, re.S).group(0)
    for slug in chapter.prerequisite_chapters:
        assert f'href="/chapters/{slug}"' in prerequisites
    glossary = re.search(r'<aside class="glossary-box".*?</aside>', html, re.S).group(0)
    assert glossary.count("<dt") == len(chapter.glossary) and "<dt id=\"term-warmup\">warmup</dt>" in glossary
    toc = re.search(r'<nav class="toc".*?</nav>', html, re.S).group(0)
    for heading in chapter.toc:
        assert f'href="#{heading["id"]}"' in toc
        assert f'id="{heading["id"]}"' in html
    assert 'class="heading-anchor"' in html
    assert 'class="prev-next"' in html
    assert 'class="try-this"' in html and 'class="takeaways"' in html and 'class="references"' in html


def test_sidebar_lists_every_chapter_and_marks_the_current_one(client):
    html = client.get("/chapters/learning-rate").text
    sidebar = re.search(r'<nav id="sidebar".*?</nav>', html, re.S).group(0)
    for c in COURSE.chapters:
        assert f'href="{c.url}"' in sidebar
    assert re.search(r'<li class="is-current">\s*<a href="/chapters/learning-rate" aria-current="page">', sidebar)


def test_a_sidebar_line_kept_for_one_state_is_never_shown_for_another(settings):
    """The sidebar's lines are kept per state (app/web/templating.py, SidebarEntries): the same
    state is the same line, and a visit, a score, an exercise run or the current page each
    change it."""
    from app.learning.progress import ChapterProgress
    from app.web.templating import SidebarEntries, make_templates

    entries = SidebarEntries(make_templates(settings))
    chapter = COURSE.chapters[1]
    fresh = entries(chapter, False, None, None)
    assert entries(chapter, False, None, None) is fresh and len(entries.kept.entries) == 1
    states = [(True, None, None), (False, ChapterProgress(visited=True), None),
              (False, ChapterProgress(visited=True, first_correct=1), None),
              (False, None, {"solved": 0, "attempts": 1, "total": 2})]
    lines = [entries(chapter, *state) for state in states]
    assert len({fresh, *lines}) == 5
    assert 'aria-current="page"' in lines[0] and "is-visited" in lines[1] and ">1/" in lines[2]
    assert "1 run" in lines[3]
    entries.kept.limit = len(entries.kept.entries)  # bounded: past the limit the memo starts again
    entries(chapter, True, ChapterProgress(visited=True), None)
    assert len(entries.kept.entries) == 1


def test_index_opens_with_a_live_chart_a_start_button_and_the_course_at_a_glance(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.text
    hero = re.search(r'<section class="landing-hero".*?</section>\s*<h2 id="chapters-title"', html, re.S).group(0)
    first = COURSE.chapters[0]
    assert re.search(rf'<a class="button primary landing-start" href="{first.url}">Start with chapter 1', hero)
    hours, minutes = divmod(sum(c.minutes for c in COURSE.chapters), 60)
    assert f"about {hours} h {minutes} min in all" in hero
    assert re.search(r'<ul class="landing-outcomes">(\s*<li>.*?</li>){3}\s*</ul>', hero, re.S)
    assert re.search(r'<ul class="landing-prerequisites">\s*<li>', hero)
    # the live chart: a widget placed by content/course.md, drawn from the cache or streamed
    assert re.search(r'<section class="widget" id="lr-sweep" data-widget="lr-sweep"', hero)
    assert 'data-stream-url="/widgets/lr-sweep/stream?' in hero or 'class="figure-json"' in hero
    assert 'class="chapter-list is-compact"' in html
    assert html.count('class="chapter-card') == len(COURSE.chapters)
    for c in COURSE.chapters:
        assert f'href="{c.url}"' in html and f"About {c.minutes} minutes" in html
    assert 'href="/progress/reset"' in html and 'href="/progress/delete"' in html


def test_unknown_chapter_is_a_404_page(client):
    response = client.get("/chapters/no-such-chapter")
    assert response.status_code == 404
    assert "No such chapter" in response.text and "no-such-chapter" in response.text
    assert 'href="/chapters/learning-rate"' in response.text
    assert client.get("/api/chapters/no-such-chapter").status_code == 404


def test_chapters_json(client):
    body = client.get("/api/chapters").json()
    assert [c["slug"] for c in body] == SLUGS
    first = body[SLUGS.index("learning-rate")]
    assert first["title"] == "The learning rate and its schedule"
    assert first["url"] == "/chapters/learning-rate"
    assert {"order", "minutes", "objectives", "glossary", "questions", "widgets"} <= set(first)
    assert "warmup" in first["widgets"] and "lr-schedule" in first["widgets"]


def test_chapter_json_twin(client):
    body = client.get("/api/chapters/learning-rate").json()
    assert body["slug"] == "learning-rate" and body["order"] == 3
    assert body["objectives"] and body["glossary"]["warmup"]
    assert "<math" in body["html"] and 'data-widget="warmup"' in body["html"]
    assert body["toc"][0]["id"] == "what-the-learning-rate-actually-sets"


# --- a small course of its own, for prev/next and the widget fallback -------------------------
def small_chapter(order: int, slug: str, body: str = "") -> str:
    return textwrap.dedent(f"""\
        ---
        title: Chapter {slug}
        slug: {slug}
        order: {order}
        minutes: {order * 5}
        objectives: [Do {slug}]
        glossary: {{term: a definition}}
        ---
        ## Section of {slug}

        Some $x^2$ math.
        """) + body


@pytest.fixture
def small_settings(settings, tmp_path):
    chapters = tmp_path / "content" / "chapters"
    chapters.mkdir(parents=True)
    (chapters / "02-beta.md").write_text(small_chapter(2, "beta", "\n```widget lr-schedule\n```\n"))
    (chapters / "01-alpha.md").write_text(small_chapter(1, "alpha"))
    (chapters / "03-gamma.md").write_text(small_chapter(3, "gamma"))
    return dataclasses.replace(settings, content_dir=tmp_path / "content")


@pytest.fixture
def small_client(small_settings):
    from fastapi.testclient import TestClient

    from app.main import create_app

    with TestClient(create_app(small_settings)) as client:
        yield client


def test_prev_next_links_follow_the_order(small_client):
    def links(slug):
        html = small_client.get(f"/chapters/{slug}").text
        nav = re.search(r'<nav class="prev-next".*?</nav>', html, re.S).group(0)
        return re.findall(r'rel="(prev|next)" href="/chapters/([a-z]+)"', nav)

    assert links("alpha") == [("next", "beta")]
    assert links("beta") == [("prev", "alpha"), ("next", "gamma")]
    assert links("gamma") == [("prev", "beta")]
    assert [c["slug"] for c in small_client.get("/api/chapters").json()] == ["alpha", "beta", "gamma"]


def test_widget_gets_overrides_and_page_unique_instances(small_settings, monkeypatch):
    from fastapi.testclient import TestClient

    from app.web.views import widget as widget_view
    from app.main import create_app

    chapters = small_settings.content_dir / "chapters"
    (chapters / "04-delta.md").write_text(small_chapter(4, "delta", textwrap.dedent("""
        ```widget lr-schedule
        peak_lr: 0.003
        ```

        ```widget lr-schedule
        ```
        """)))
    calls = []

    def record(request, name, overrides=None, instance=None):
        calls.append((name, overrides, instance))
        return Markup('<div data-widget="{}"></div>').format(name)

    monkeypatch.setattr(widget_view, "render_widget", record)
    with TestClient(create_app(small_settings)) as client:
        assert client.get("/chapters/delta").status_code == 200
    assert calls == [("lr-schedule", {"peak_lr": 0.003}, "lr-schedule"),
                     ("lr-schedule", {}, "lr-schedule-2")]
