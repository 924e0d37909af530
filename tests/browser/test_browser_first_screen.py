"""A learner's first screens in a real Chromium: the landing page opens with a live chart and
a start button (a returning learner gets "Continue"); every chapter teaches, or shows a widget,
within its first screen, with its contents in view; glossary terms explain themselves on
hover, focus and tap; the code editor keeps AA contrast in both themes."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.course.content import load_course
from app.settings import Settings

COURSE = load_course(Settings().content_dir)
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
RUN_TIMEOUT_MS = 240_000

# Where the chapter starts to teach: its first paragraph of prose, or its first widget.
FIRST_TEACHING = """() => {
  const first = document.querySelector('.chapter-body > p, .chapter-body .widget');
  const box = first.getBoundingClientRect();
  return {top: Math.round(box.top + window.scrollY), tag: first.tagName.toLowerCase(), height: window.innerHeight,
          page: document.documentElement.scrollHeight};
}"""


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1440x900", "390x844"])
def test_the_landing_page_shows_a_live_chart_and_a_start_button(page, viewport):
    page.set_viewport_size(viewport)
    page.goto("/")
    start = page.get_by_role("link", name=re.compile("Start with chapter 1"))
    expect(start).to_be_visible()
    assert start.bounding_box()["y"] + start.bounding_box()["height"] <= viewport["height"], "on the first screen"
    chart = page.locator(".landing-demo .widget-chart")
    expect(chart).to_have_attribute("data-final", "1", timeout=RUN_TIMEOUT_MS)  # drawn: cached, or streamed
    expect(chart.locator(".main-svg").first).to_be_visible()
    if viewport is DESKTOP:  # beside the text, its chart begins on the first screen
        assert chart.bounding_box()["y"] < viewport["height"]
    expect(page.locator(".landing-outcomes li")).to_have_count(3)
    minutes = sum(c.minutes for c in COURSE.chapters)
    expect(page.locator(".landing-facts")).to_contain_text(f"about {minutes // 60} h {minutes % 60} min in all")


@pytest.mark.browser
def test_a_returning_learner_is_offered_to_continue_where_they_left_off(page):
    chapter = COURSE.get("learning-rate")
    quiz = next(iter(chapter.quizzes.values()))
    page.goto(chapter.url)
    page.wait_for_function("() => window.htmx !== undefined")
    page.locator(f"#quiz-{quiz.id} input[name=choice]").first.check()
    page.locator(f"#quiz-{quiz.id}").get_by_role("button").first.click()
    expect(page.locator(f"#quiz-{quiz.id} .quiz-feedback")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    page.goto("/")
    resume = page.get_by_role("link", name=re.compile(f"Continue: chapter {chapter.order}, "))
    expect(resume).to_be_visible()
    resume.click()
    expect(page).to_have_url(re.compile(f"{chapter.url}#"))


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1440x900", "390x844"])
def test_every_chapter_teaches_within_its_first_screen(browser, live_server, viewport, scheme):
    # Measured with JavaScript off: everything above the first paragraph is rendered by the
    # server, and no chapter's widgets start training for a page that is only measured
    # (test_contents_stay_in_view_and_show_where_you_are loads one with JavaScript on).
    context = browser.new_context(base_url=live_server, viewport=viewport, color_scheme=scheme,
                                  java_script_enabled=False)
    late = {}
    try:
        page = context.new_page()
        for chapter in COURSE.chapters:
            page.goto(chapter.url)
            found = page.evaluate(FIRST_TEACHING)
            if found["top"] > viewport["height"] - 60:  # at least two lines of it on the first screen
                late[chapter.slug] = found
    finally:
        context.close()
    assert not late, f"chapters that do not teach within the first {viewport['height']} px: {late}"


@pytest.mark.browser
def test_contents_stay_in_view_and_show_where_you_are(page):
    chapter = COURSE.get("training-loop")
    page.set_viewport_size(DESKTOP)
    page.goto(chapter.url)
    found = page.evaluate(FIRST_TEACHING)
    assert found["top"] < DESKTOP["height"] - 60, found
    rail = page.locator(".toc-rail")
    expect(rail).to_be_visible()
    expect(page.locator(".toc-drawer")).to_be_hidden()
    target = chapter.toc[3]["id"]
    page.locator(f"#{target}").scroll_into_view_if_needed()
    page.evaluate("id => document.getElementById(id).scrollIntoView({block: 'start'})", target)
    expect(rail.locator(f'a[href="#{target}"]')).to_have_attribute("aria-current", "location")
    assert rail.bounding_box()["y"] >= 0, "the rail stays in view"

    page.set_viewport_size(PHONE)
    drawer = page.locator(".toc-drawer")
    expect(rail).to_be_hidden()
    expect(drawer).to_be_visible()
    page.evaluate("id => document.getElementById(id).scrollIntoView({block: 'start'})", target)  # reflowed
    expect(drawer.locator("summary")).to_contain_text(chapter.toc[3]["text"])
    drawer.locator("summary").click()
    drawer.locator(f'a[href="#{chapter.toc[1]["id"]}"]').click()
    expect(drawer).not_to_have_attribute("open", "")
    expect(page).to_have_url(re.compile(f"#{chapter.toc[1]['id']}$"))


@pytest.mark.browser
def test_glossary_terms_explain_themselves_on_hover_focus_and_tap(page, browser, live_server):
    chapter = COURSE.chapters[0]
    page.goto(chapter.url)
    term = page.locator(".chapter-body a.glossary-term").first
    term.hover()
    popover = page.locator(".glossary-popover[role=tooltip]")
    expect(popover).to_be_visible()
    expect(popover).to_contain_text(term.inner_text())
    page.mouse.move(0, 0)
    expect(popover).to_have_count(0)
    term.focus()
    expect(popover).to_be_visible()
    assert term.get_attribute("aria-describedby") == "glossary-popover"
    page.keyboard.press("Escape")
    expect(popover).to_have_count(0)

    phone = browser.new_context(base_url=live_server, viewport=PHONE, has_touch=True, is_mobile=True)
    try:
        tap = phone.new_page()
        tap.goto(chapter.url)
        tapped = tap.locator(".chapter-body a.glossary-term").first
        tapped.tap()
        expect(tap.locator(".glossary-popover")).to_be_visible()
        expect(tap).to_have_url(re.compile(re.escape(chapter.url) + "$"))  # the first tap explains
        tap.get_by_role("button", name="Chapters").tap()  # the phone menu has the glossary
        tap.locator("#sidebar").get_by_role("link", name="Glossary").tap()
        expect(tap).to_have_url(re.compile("/glossary$"))
    finally:
        phone.close()


def contrast(foreground: str, background: str) -> float:
    def luminance(css: str) -> float:
        r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", css)[:3])
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


TOKEN_COLOURS = """() => {
  const editor = document.querySelector('.cm-editor');
  let node = editor, background = 'rgba(0, 0, 0, 0)';
  while (node && /rgba\\(.*, 0\\)|transparent/.test(background)) { background = getComputedStyle(node).backgroundColor; node = node.parentElement; }
  const out = {background};
  for (const kind of ['keyword', 'string', 'number', 'comment', 'variableName']) {
    const token = editor.querySelector('.tok-' + kind);
    if (token) out[kind] = getComputedStyle(token).color;
  }
  const line = editor.querySelector('.cm-activeLine');
  out.activeLine = line ? getComputedStyle(line).backgroundColor : null;
  return out;
}"""


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_code_editor_keeps_aa_contrast_in_both_themes(page, scheme):
    page.emulate_media(color_scheme=scheme)
    chapter = COURSE.get("learning-rate")
    page.goto(chapter.url)
    expect(page.locator(".cm-editor .tok-keyword").first).to_be_attached(timeout=30_000)
    colours = page.evaluate(TOKEN_COLOURS)
    background = colours.pop("background")
    colours.pop("activeLine")
    assert {"keyword", "string", "number"} <= set(colours), colours  # the starter code has no comment
    low = {kind: round(contrast(colour, background), 2) for kind, colour in colours.items()
           if contrast(colour, background) < 4.5}
    assert not low, f"{scheme}: tokens under 4.5:1 on {background}: {low}"
