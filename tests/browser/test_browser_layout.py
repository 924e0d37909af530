"""Every page fits a phone: nothing widens the page past a 390-pixel screen, in light or dark.

Wide things (code, display math, tables, charts) must scroll inside their own box; a page
that scrolls sideways as a whole makes every paragraph on it hard to read on a phone.
"""
from __future__ import annotations

import pytest

from shared_course import shared_course

PHONE = {"width": 390, "height": 844}
PAGES = ["/", "/glossary", "/widgets", "/search?q=warmup", "/widgets/warmup/demo", "/review", "/learning",
         *(f"/chapters/{chapter.slug}" for chapter in shared_course().chapters)]

RUN_TIMEOUT_MS = 180_000  # a page's widgets train on a cold server before their charts are final
# every chart on the page drawn in full: streaming charts are the widest things, and a partial
# one may not be as wide as the final one yet
ALL_CHARTS_FINAL = "() => [...document.querySelectorAll('.widget-chart')].every(c => c.dataset.final === '1')"

OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const culprits = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    const parent = el.parentElement && el.parentElement.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 1 && parent && parent.right <= width + 1)
      culprits.push(`${el.tagName.toLowerCase()}.${el.getAttribute('class') || ''}`);
  }
  return {scrollWidth: document.documentElement.scrollWidth, width, culprits: culprits.slice(0, 5)};
}"""


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_page_scrolls_sideways_on_a_phone(page, scheme):
    page.set_viewport_size(PHONE)
    page.emulate_media(color_scheme=scheme)
    wide = {}
    for path in PAGES:
        page.goto(path)
        page.wait_for_function(ALL_CHARTS_FINAL, timeout=RUN_TIMEOUT_MS)
        found = page.evaluate(OVERFLOWING)
        if found["scrollWidth"] > found["width"]:
            wide[path] = found
    assert not wide, f"pages wider than a {PHONE['width']}px phone: {wide}"


@pytest.mark.browser
def test_dark_mode_follows_the_system_setting(page):
    backgrounds = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.goto("/chapters/learning-rate")
        backgrounds[scheme] = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert backgrounds["light"] != backgrounds["dark"]
    darkness = [int(c) for c in backgrounds["dark"].strip("rgba()").split(",")[:3]]
    assert max(darkness) < 80, backgrounds["dark"]
