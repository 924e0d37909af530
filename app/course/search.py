"""Search over the chapters (one document per section: heading + text) and the glossary.

An in-memory index built once per loaded course (the course is reloaded when a chapter
file changes, and the index with it). Ranking is term frequency with a title boost:
each query word adds its count in the text plus TITLE_BOOST times its count in the
heading (or the term, for glossary entries). A query word matches document words that
start with it ("warm" finds "warmup"), and every query word must match.
"""
from __future__ import annotations

import html as html_lib
import re
from collections import Counter
from dataclasses import dataclass

from markupsafe import Markup

WORD_RE = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
TITLE_BOOST = 5
CHAPTER_TITLE_BOOST = 2
STOPWORDS = {"a", "an", "and", "the", "of", "to", "in", "is", "for", "on", "with", "what", "how", "why"}
SNIPPET_CHARS = 180
MAX_QUERY = 100
MAX_RESULTS = 50


def words(text: str) -> list[str]:
    return WORD_RE.findall(text.lower())


def query_words(q: str) -> list[str]:
    found = words(q)
    kept = [w for w in found if w not in STOPWORDS]
    return list(dict.fromkeys(kept or found))


@dataclass
class Document:
    kind: str  # "section" or "term"
    title: str  # the heading, or the glossary term
    context: str  # the chapter title, or "Glossary"
    url: str
    text: str
    chapter: str | None
    body_counts: Counter
    title_counts: Counter
    context_counts: Counter


@dataclass
class Hit:
    doc: Document
    score: float
    snippet: Markup
    title_html: Markup

    def as_dict(self) -> dict:
        return {"kind": self.doc.kind, "title": self.doc.title, "context": self.doc.context,
                "url": self.doc.url, "chapter": self.doc.chapter, "score": round(self.score, 3),
                "snippet": str(self.snippet)}


def _count_prefix(counts: Counter, word: str) -> int:
    return sum(n for w, n in counts.items() if w.startswith(word))


def highlight(text: str, qwords: list[str]) -> Markup:
    """text, HTML-escaped, with every word that starts with a query word in <mark>."""
    if not qwords:
        return Markup(html_lib.escape(text))
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(qwords, key=len, reverse=True))
                         + r")[a-z0-9]*", re.I)
    out, last = [], 0
    for m in pattern.finditer(text):
        out.append(html_lib.escape(text[last:m.start()]))
        out.append(f"<mark>{html_lib.escape(m.group(0))}</mark>")
        last = m.end()
    out.append(html_lib.escape(text[last:]))
    return Markup("".join(out))


def snippet(text: str, qwords: list[str], size: int = SNIPPET_CHARS) -> Markup:
    lowered = text.lower()
    positions = [m.start() for w in qwords for m in [re.search(r"\b" + re.escape(w), lowered)] if m]
    if not positions or len(text) <= size:
        start = 0
    else:
        start = max(0, min(positions) - size // 3)
        space = text.rfind(" ", 0, start)
        start = space + 1 if space > 0 and start - space < 20 else start
    end = min(len(text), start + size)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + size // 2 else end
    piece = text[start:end]
    return Markup(("… " if start > 0 else "") + str(highlight(piece, qwords)) + (" …" if end < len(text) else ""))


class SearchIndex:
    def __init__(self, course):
        self.docs: list[Document] = []
        for chapter in course.chapters:
            for s in chapter.sections:
                url = chapter.url + (f"#{s.id}" if s.id else "")
                self._add("section", s.heading, chapter.title, url, s.text, chapter.slug)
        for entry in course.glossary:
            self._add("term", entry.term, "Glossary", f"/glossary#{entry.slug}",
                      " ".join(src.definition for src in entry.sources), entry.sources[0].chapter_slug)

    def _add(self, kind, title, context, url, text, chapter):
        self.docs.append(Document(kind, title, context, url, text, chapter, Counter(words(text)),
                                  Counter(words(title)), Counter(words(context))))

    def search(self, q: str, limit: int = MAX_RESULTS) -> list[Hit]:
        qwords = query_words(q)
        if not qwords:
            return []
        hits = []
        for doc in self.docs:
            score = 0.0
            for w in qwords:
                body = _count_prefix(doc.body_counts, w)
                title = _count_prefix(doc.title_counts, w)
                context = _count_prefix(doc.context_counts, w)
                if not (body or title):
                    break
                exact = doc.body_counts.get(w, 0) + TITLE_BOOST * doc.title_counts.get(w, 0)
                score += body + TITLE_BOOST * title + CHAPTER_TITLE_BOOST * context + 0.5 * exact
            else:
                hits.append(Hit(doc, score, snippet(doc.text, qwords), highlight(doc.title, qwords)))
        hits.sort(key=lambda h: (-h.score, h.doc.kind != "term", h.doc.url))
        return hits[:limit]


def validate_query(q: str | None) -> str | None:
    """An error message for a bad query, or None when it is fine."""
    if q is None or not q.strip():
        return "q is required: type 1 to 100 characters to search for"
    if len(q) > MAX_QUERY:
        return f"q is {len(q)} characters long; a search takes 1 to {MAX_QUERY} characters"
    return None
