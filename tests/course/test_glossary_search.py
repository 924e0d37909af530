"""Glossary (page, JSON, term links in prose), search (page, htmx fragment, JSON) and the
sidebar on every page that extends base.html."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from app.course.content import Course, parse_chapter
from app.course.glossary import build, link_terms, term_slug
from app.course.search import SearchIndex

FRONT = """---
title: {title}
slug: {slug}
order: {order}
minutes: 5
objectives:
  - Learn a thing
glossary:
{glossary}
---
"""


def make_chapter(tmp_path: Path, slug: str, order: int, glossary: str, body: str, title: str = "") -> Path:
    path = tmp_path / f"{order:02d}-{slug}.md"
    path.write_text(FRONT.format(title=title or slug.title(), slug=slug, order=order,
                                 glossary=textwrap.indent(textwrap.dedent(glossary).strip(), "  "))
                    + textwrap.dedent(body), encoding="utf-8")
    return path


@pytest.fixture
def course(tmp_path):
    make_chapter(tmp_path, "alpha", 1, """
        learning rate: The step multiplier.
        warmup:
          definition: A ramp at the start.
          section: ramp-up
        Pre-LN / Post-LN: Where the norm goes.
        """, """
        Intro mentions the learning rate and `warmup` in code.

        ## Basics

        The learning rate sets the step. Learning rates again: only the first is linked.
        Here is [a link about warmup](/chapters/alpha#basics) and $warmup$ in math.

        ## Ramp up

        Why **warmup** helps. Post-LN models need it; Pre-LN ones less.

        ### Warmup heading

        - a list item mentioning warmup again
        """)
    make_chapter(tmp_path, "beta", 2, """
        clipping: Capping the gradient norm.
        learning rate: Another definition of the same term.
        """, """
        ## Clipping

        We cap the norm with **clipping**, and the learning rate stays as it was. Warmups too.
        """)
    return Course([parse_chapter(p) for p in sorted(tmp_path.glob("*.md"))])


def test_glossary_merges_terms_sorts_them_and_finds_where_each_is_taught(course):
    terms = [e.term for e in course.glossary]
    assert terms == ["clipping", "learning rate", "Pre-LN / Post-LN", "warmup"]
    by = {e.term: e for e in course.glossary}
    assert by["warmup"].url == "/chapters/alpha#ramp-up"  # explicit section
    assert by["clipping"].url == "/chapters/beta#clipping"  # the section with it in bold
    assert by["learning rate"].url == "/chapters/alpha"  # first mention: the chapter top
    assert [s.chapter_slug for s in by["learning rate"].sources] == ["alpha", "beta"]
    assert by["learning rate"].definition == "The step multiplier."
    assert by["Pre-LN / Post-LN"].slug == "term-pre-ln-post-ln"
    assert by["Pre-LN / Post-LN"].url == "/chapters/alpha#ramp-up"


def test_first_occurrence_in_prose_is_linked_never_in_code_math_headings_or_links(course):
    html = course.get("alpha").linked_html
    links = re.findall(r'<a class="glossary-term" href="/glossary#([^"]+)" title="([^"]*)">([^<]+)</a>', html)
    assert [(slug, text) for slug, _, text in links] == [
        ("term-learning-rate", "learning rate"), ("term-warmup", "warmup"), ("term-pre-ln-post-ln", "Post-LN")]
    assert links[0][1] == "The step multiplier."
    assert "<code>warmup</code>" in html
    assert '<h3 id="warmup-heading">Warmup heading' in html
    assert '<a href="/chapters/alpha#basics">a link about warmup</a>' in html
    # the first prose "warmup" is the bold one, after the link and the math
    assert '<strong><a class="glossary-term" href="/glossary#term-warmup"' in html
    beta = course.get("beta").linked_html
    assert 'href="/glossary#term-clipping"' in beta and ">Warmups</a>" in beta  # plural, other chapter


def test_link_terms_leaves_html_alone_without_terms():
    assert link_terms("<p>warmup</p>", []) == "<p>warmup</p>"
    assert term_slug("Peak LR") == "term-peak-lr"


def test_search_ranks_by_frequency_with_title_boost_and_highlights(course):
    index = SearchIndex(course)
    hits = index.search("warmup")
    assert hits and hits[0].doc.title in ("Ramp up", "Warmup heading")
    assert "<mark>" in str(hits[0].title_html) or "<mark>" in str(hits[0].snippet)
    assert any(h.doc.kind == "term" and h.doc.url == "/glossary#term-warmup" for h in hits)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert index.search("clip norm")[0].doc.url == "/chapters/beta#clipping"  # every word must match
    assert index.search("zzzz") == [] and index.search("  ") == []
    assert "<mark>warm</mark>" not in str(index.search("warm")[0].snippet)  # the whole word is marked


# --- over HTTP, on the real course -----------------------------------------------------------
def test_glossary_page_and_json(client):
    page = client.get("/glossary")
    assert page.status_code == 200
    html = page.text
    assert '<nav class="letter-jump"' in html and 'href="#letter-w"' in html
    assert 'id="term-warmup"' in html
    assert 'href="/chapters/learning-rate#warmup-small-steps-while-the-optimizer-is-still-guessing"' in html
    assert 'class="chapter-nav"' in html  # the sidebar
    terms = client.get("/api/glossary").json()["terms"]
    warmup = next(t for t in terms if t["term"] == "warmup")
    assert warmup["glossary_url"] == "/glossary#term-warmup" and warmup["url"].startswith("/chapters/learning-rate#")
    assert [t["term"].lower() for t in terms] == sorted(t["term"].lower() for t in terms)


def test_chapter_prose_links_terms_to_the_glossary(client):
    html = client.get("/chapters/learning-rate").text
    assert re.search(r'<a class="glossary-term" href="/glossary#term-warmup" title="A first phase[^"]*">warmup</a>', html)
    assert html.count('href="/glossary#term-warmup"') == 1


def test_search_page_fragment_and_json(client):
    page = client.get("/search", params={"q": "cosine floor"})
    assert page.status_code == 200
    assert "<mark>cosine</mark>" in page.text.lower() or "<mark>Cosine</mark>" in page.text
    assert 'class="search-hit-title" href="/chapters/learning-rate#' in page.text
    assert 'class="chapter-nav"' in page.text
    bare = client.get("/search")
    assert bare.status_code == 200 and 'name="q"' in bare.text
    fragment = client.get("/search", params={"q": "warm"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and "search-results is-compact" in fragment.text
    assert client.get("/search", params={"q": ""}, headers={"HX-Request": "true"}).text == ""
    body = client.get("/api/search", params={"q": "warmup"}).json()
    assert body["count"] >= 2 and body["results"][0]["url"].startswith("/chapters/learning-rate#warmup")
    assert {"kind", "title", "context", "url", "chapter", "score", "snippet"} <= set(body["results"][0])


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "   "}, {"q": "x" * 101}])
def test_search_query_is_bounded(client, params):
    api = client.get("/api/search", params=params)
    assert api.status_code == 422 and "1 to 100 characters" in api.json()["detail"][0]["msg"]
    if params:
        page = client.get("/search", params=params)
        assert page.status_code == 422 and "1 to 100 characters" in page.text


def test_header_has_the_search_box_and_glossary_link(client):
    html = client.get("/").text
    assert 'hx-get="/search"' in html and 'id="header-search-results"' in html and 'href="/glossary"' in html


@pytest.mark.parametrize("url", ["/", "/glossary", "/search?q=warmup", "/chapters/learning-rate", "/widgets",
                                 "/widgets/lr-schedule/demo", "/chapters/no-such-chapter"])
def test_every_page_has_the_full_sidebar(client, url):
    html = client.get(url).text
    assert 'class="chapter-nav"' in html and 'href="/chapters/learning-rate"' in html
