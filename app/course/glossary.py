"""The course glossary: every chapter's front-matter terms, where each is taught, and
links from the prose to the glossary.

Where a term is taught (the chapter URL plus an anchor) is, in this order:
  1. the section named explicitly in the front matter:
         glossary:
           warmup:
             definition: A first phase in which ...
             section: warmup-small-steps-while-the-optimizer-is-still-guessing
  2. the first section (h2/h3) where the term appears in **bold**;
  3. the first section whose text mentions the term (or one of its `aliases`);
  4. the top of the chapter.
A term written "A / B" also matches A and B on their own when both look like names
(a capital, digit or hyphen in each: "Pre-LN / Post-LN"); otherwise give `aliases`.

In the prose, the first occurrence of each glossary term in a chapter's paragraphs and
list items becomes <a class="glossary-term" href="/glossary#term-slug" title="definition">;
never inside code, math, headings, links, buttons, box titles or the references.
"""
from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass, field

from app.course.markdown import slugify

SLOT_RE = re.compile(r"<!--slot:(?:widget|quiz):\d+-->")
HEADING_RE = re.compile(r'<h([1-6]) id="([^"]+)">(.*?)</h\1>', re.S)
TAG_RE = re.compile(r"<[^>]+>")
MATH_RE = re.compile(r"<math\b.*?</math>", re.S)
ANCHOR_LINK_RE = re.compile(r'<a class="heading-anchor"[^>]*>#</a>')
TOKEN_RE = re.compile(r"(<!--.*?-->|<[^>]+>)", re.S)
# elements whose text is never linked
SKIP = {"a", "code", "pre", "math", "h1", "h2", "h3", "h4", "h5", "h6", "script", "style", "button",
        "label", "summary", "dt", "textarea", "select", "option", "mark"}
# elements whose text is linked (when not inside a SKIP element)
LINKABLE = {"p", "li", "td", "blockquote"}


def term_slug(term: str) -> str:
    return "term-" + slugify(term)


def term_forms(term: str, aliases: list[str] | tuple[str, ...] = ()) -> list[str]:
    forms = [term, *aliases]
    parts = [part.strip() for part in term.split(" / ")] if " / " in term else []
    if parts and all(re.search(r"[A-Z0-9-]", part) for part in parts):  # "Pre-LN / Post-LN", not "train / eval"
        forms += parts
    seen, out = set(), []
    for f in forms:
        if f.lower() not in seen:
            seen.add(f.lower())
            out.append(f)
    return out


def form_pattern(forms: list[str]) -> re.Pattern:
    """Matches any form as a whole word (a plural -s allowed), case-insensitively,
    in HTML-escaped text."""
    alternatives = sorted((re.escape(html_lib.escape(f, quote=False)) for f in forms), key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(alternatives) + r")(?:s|es)?(?![\w-])", re.I)


INLINE_TAG_RE = re.compile(r"</?(?:a|strong|em|b|i|code|span|sub|sup|mark|abbr|small|m[a-z]*|none)\b[^>]*>", re.I)


def plain_text(html: str) -> str:
    """Readable text of an HTML fragment: inline tags vanish, block tags become spaces,
    math keeps the characters of its MathML (t_w reads "tw")."""
    html = SLOT_RE.sub(" ", html)
    html = ANCHOR_LINK_RE.sub("", html)
    html = INLINE_TAG_RE.sub("", html)
    text = html_lib.unescape(TAG_RE.sub(" ", html))
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class Section:
    id: str  # "" for the text before the first heading
    heading: str
    level: int
    html: str
    text: str


def sections(html: str, chapter_title: str) -> list[Section]:
    """The chapter split at every heading with an id: heading, HTML and plain text of each."""
    out: list[Section] = []
    matches = list(HEADING_RE.finditer(html))
    start_html = html[:matches[0].start()] if matches else html
    if plain_text(start_html):
        out.append(Section("", chapter_title, 1, start_html, plain_text(start_html)))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(html)
        body = html[m.end():end]
        out.append(Section(m.group(2), plain_text(m.group(3)), int(m.group(1)), body, plain_text(body)))
    return out


def locate(forms: list[str], chapter_sections: list[Section]) -> str:
    """The id of the section that teaches a term ("" for the chapter top)."""
    pattern = form_pattern(forms)
    for s in chapter_sections:
        for bold in re.findall(r"<strong>(.*?)</strong>", s.html, re.S):
            if pattern.fullmatch(plain_text(bold)) or pattern.fullmatch(html_lib.escape(plain_text(bold), quote=False)):
                return s.id
    for s in chapter_sections:
        if pattern.search(html_lib.escape(s.heading, quote=False)) or pattern.search(html_lib.escape(s.text, quote=False)):
            return s.id
    return ""


@dataclass
class Source:
    chapter_slug: str
    chapter_title: str
    chapter_order: int
    anchor: str
    definition: str
    definition_html: str

    @property
    def url(self) -> str:
        return f"/chapters/{self.chapter_slug}" + (f"#{self.anchor}" if self.anchor else "")


@dataclass
class Entry:
    term: str
    slug: str
    forms: list[str]
    sources: list[Source] = field(default_factory=list)

    @property
    def definition(self) -> str:
        return self.sources[0].definition

    @property
    def definition_html(self) -> str:
        return self.sources[0].definition_html

    @property
    def url(self) -> str:
        return self.sources[0].url

    @property
    def letter(self) -> str:
        first = self.term[:1].upper()
        return first if first.isalpha() else "#"

    def as_dict(self) -> dict:
        return {"term": self.term, "slug": self.slug, "definition": self.definition,
                "url": self.url, "glossary_url": f"/glossary#{self.slug}",
                "chapter": self.sources[0].chapter_slug,
                "also_in": [{"chapter": s.chapter_slug, "url": s.url, "definition": s.definition}
                            for s in self.sources[1:]]}


def build(chapters) -> list[Entry]:
    """Every term of every chapter (in course order), merged by term, sorted alphabetically."""
    by_key: dict[str, Entry] = {}
    for chapter in chapters:
        for term, definition in chapter.glossary.items():
            meta = chapter.glossary_meta.get(term, {})
            forms = term_forms(term, meta.get("aliases", ()))
            anchor = meta.get("section") or locate(forms, chapter.sections)
            key = term.lower()
            entry = by_key.get(key)
            if entry is None:
                entry = by_key[key] = Entry(term, term_slug(term), forms)
            else:
                entry.forms = term_forms(entry.term, [*entry.forms, *forms])
            entry.sources.append(Source(chapter.slug, chapter.title, chapter.order, anchor, definition,
                                        str(chapter.glossary_html.get(term, html_lib.escape(definition)))))
    return sorted(by_key.values(), key=lambda e: (e.term.lower(), e.term))


def link_terms(html: str, entries: list[Entry]) -> str:
    """Link the first occurrence of each term in the prose to its glossary entry."""
    if not entries:
        return html
    patterns = []
    for entry in entries:
        for form in entry.forms:
            patterns.append((form, entry))
    by_form = {html_lib.escape(f, quote=False).lower(): e for f, e in patterns}
    combined = form_pattern([f for f, _ in patterns])
    linked: set[str] = set()
    stack: list[str] = []
    skip_depth = 0
    out = []
    for token in TOKEN_RE.split(html):
        if not token:
            continue
        if token.startswith("<!--"):
            out.append(token)
            continue
        if token.startswith("<"):
            out.append(token)
            m = re.match(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)([^>]*)>", token)
            if not m:
                continue
            closing, tag, attrs = m.group(1) == "/", m.group(2).lower(), m.group(3)
            if tag in ("br", "hr", "img", "input", "meta", "link", "wbr") or attrs.rstrip().endswith("/"):
                continue
            if closing:
                if tag in (t.lstrip("!") for t in stack):
                    while stack:
                        popped = stack.pop()
                        if popped.startswith("!"):
                            skip_depth -= 1
                        if popped.lstrip("!") == tag:
                            break
            else:
                skipped = (tag in SKIP or (tag == "p" and re.search(r'class="[^"]*-title"', attrs))
                           or (tag == "section" and 'class="references"' in attrs))
                stack.append(("!" if skipped else "") + tag)
                skip_depth += bool(skipped)
            continue
        if skip_depth or not any(t.lstrip("!") in LINKABLE for t in stack):
            out.append(token)
            continue

        def replace(match: re.Match) -> str:
            word = match.group(0)
            entry = None
            lowered = word.lower()
            for candidate in (lowered, re.sub(r"(es|s)$", "", lowered), re.sub(r"s$", "", lowered)):
                entry = by_form.get(candidate)
                if entry is not None:
                    break
            if entry is None or entry.slug in linked:
                return word
            linked.add(entry.slug)
            title = html_lib.escape(plain_text(entry.definition_html) or entry.definition, quote=True)
            return f'<a class="glossary-term" href="/glossary#{entry.slug}" title="{title}">{word}</a>'

        out.append(combined.sub(replace, token))
    return "".join(out)
