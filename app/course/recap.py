"""A chapter's recap: the three things to take from it, for the card at its end.

They are the bold leads of the first three items of the chapter's ```takeaways block (every
chapter has one; `tests/course/test_recap.py` checks that each gives three): short, written
by the author as the chapter's lessons, and already rendered (math and code included).
"""
from __future__ import annotations

import re

from markupsafe import Markup

from app.course.content import Chapter

TAKEAWAYS_RE = re.compile(r'<section class="takeaways">(.*?)</section>', re.S)
LEAD_RE = re.compile(r"<li>\s*(?:<p>)?\s*<strong>(.*?)</strong>", re.S)
RECAP_ITEMS = 3


def key_takeaways(chapter: Chapter, count: int = RECAP_ITEMS) -> list[Markup]:
    """The bold leads of the chapter's first `count` takeaways (fewer if it has fewer),
    without a trailing full stop."""
    block = TAKEAWAYS_RE.search(chapter.html)
    if block is None:
        return []
    return [Markup(lead.strip().rstrip(".")) for lead in LEAD_RE.findall(block.group(1))[:count]]
