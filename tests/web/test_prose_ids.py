"""Internal widget ids never appear in what a learner reads: the rendered chapters and the
landing page name a widget by its title, not by `lr-sweep` or `<code>sanity</code>`."""
from __future__ import annotations

import re

import pytest

from app.course.content import load_course
from app.settings import Settings
from widgets.registry import all_widgets

PAGES = ["/", *(c.url for c in load_course(Settings().content_dir).chapters)]
NAMES = sorted(all_widgets())


def visible_text(html: str) -> str:
    """The page's text without scripts, styles, tags or attributes (URLs may carry ids)."""
    html = re.sub(r"<(script|style)\b[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


@pytest.mark.parametrize("path", PAGES)
def test_no_widget_id_in_the_prose(client, path):
    html = client.get(path).text
    as_code = [n for n in NAMES if f"<code>{n}</code>" in html]
    assert not as_code, f"{path}: widget ids set as code in the page: {as_code}"
    text = visible_text(html)
    # hyphenated ids are never English words: any of them in the text is an id that leaked
    leaked = {n: " ".join(text[max(0, m.start() - 60):m.end() + 30].split())
              for n in NAMES if "-" in n for m in [re.search(rf"(?<![\w/.#-]){re.escape(n)}(?![\w-])", text)] if m}
    assert not leaked, f"{path}: widget ids in the text: {leaked}"
