"""Conceptual diagrams, authored as text in a chapter and rendered to SVG on the server.

A ```diagram block holds YAML. Two kinds:

    kind: flow                      # the default: boxes on a grid, joined by arrows
    title: One training step        # required: the caption and the accessible name
    alt: >-                         # required: the text alternative, in full sentences
      Seven boxes in the order ...
    nodes:                          # id, label; optional note, at: [row, col], shape, tone
      - {id: fwd, label: 1. forward, note: batch -> logits, at: [0, 0]}
      - {id: loss, label: 2. loss, at: [0, 1], shape: question, tone: accent}
    edges:                          # "a -> b", "a --> b" (dashed), with an optional ": label"
      - fwd -> loss: logits

    kind: bars                      # groups of horizontal bars, to compare sizes
    title: ...
    alt: ...
    groups:
      - label: Before clipping
        note: global norm 5.10      # optional
        bars:
          - {label: tensor A, value: 5.0, text: "[3, 4], norm 5", tone: accent}

Shapes: box (default), pill (a start or end), question (a decision). Tones: plain
(default), accent, good, bad, muted. Nodes without `at` follow each other along row 0.

The SVG carries no script and no style attribute (a strict Content-Security-Policy
applies); colours come from classes in static/course.css, which follow the light and dark
themes. Every diagram is drawn twice, a wide layout and a narrow one (a flow diagram's
grid is transposed when that makes it narrower, and its cells shrink), and CSS shows the
one that fits, so a phone never scrolls sideways. The figure carries its text
alternative twice: inside the SVG (<title>, <desc>) and as a visible "Text description".
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape

SHAPES = ("box", "pill", "question")
TONES = ("plain", "accent", "good", "bad", "muted")
EDGE_RE = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*(-->|->)\s*([A-Za-z0-9_-]+)\s*(?::\s*(.+?))?\s*$")
WIDE_WIDTH = 760  # px: the widest a diagram is drawn (the chapter column's width)
NARROW_WIDTH = 340  # px: the phone layout, inside a 390 px screen with its margins


class DiagramError(ValueError):
    """A diagram block that does not follow the format above."""


@dataclass
class Node:
    id: str
    label: str
    note: str = ""
    row: int = 0
    col: int = 0
    shape: str = "box"
    tone: str = "plain"


@dataclass
class Edge:
    source: str
    target: str
    dashed: bool = False
    label: str = ""


@dataclass
class Diagram:
    kind: str
    title: str
    alt: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    groups: list[dict] = field(default_factory=list)


# --- parsing -------------------------------------------------------------------------------
def parse_diagram(data) -> Diagram:
    if not isinstance(data, dict):
        raise DiagramError("a diagram block must be a YAML mapping with title, alt and nodes (or groups)")
    kind = data.get("kind", "flow")
    allowed = {"kind", "title", "alt", "nodes", "edges"} if kind == "flow" else {"kind", "title", "alt", "groups"}
    if kind not in ("flow", "bars"):
        raise DiagramError(f"diagram kind {kind!r} must be flow or bars")
    unknown = set(data) - allowed
    if unknown:
        raise DiagramError(f"unknown diagram keys {sorted(unknown)}; a {kind} diagram takes {', '.join(sorted(allowed))}")
    title, alt = data.get("title"), data.get("alt")
    if not isinstance(title, str) or not title.strip():
        raise DiagramError("a diagram needs a `title` (its caption and accessible name)")
    if not isinstance(alt, str) or len(alt.split()) < 8:
        raise DiagramError(f"diagram {title!r} needs an `alt` text: a full description, in sentences, of what it "
                           f"shows, for readers who cannot see it (at least a sentence)")
    diagram = Diagram(kind, title.strip(), " ".join(alt.split()))
    if kind == "flow":
        _parse_flow(diagram, data)
    else:
        _parse_bars(diagram, data)
    return diagram


def _parse_flow(diagram: Diagram, data: dict) -> None:
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise DiagramError(f"diagram {diagram.title!r}: a flow diagram needs a list of `nodes`")
    seen: dict[str, Node] = {}
    cells = set()
    for i, raw in enumerate(raw_nodes):
        if not isinstance(raw, dict) or set(raw) - {"id", "label", "note", "at", "shape", "tone"}:
            raise DiagramError(f"diagram {diagram.title!r}, node {i}: expected a mapping of id, label, note, at, "
                               f"shape, tone")
        nid, label = raw.get("id"), raw.get("label")
        if not isinstance(nid, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", nid) or nid in seen:
            raise DiagramError(f"diagram {diagram.title!r}, node {i}: id {nid!r} must be a unique word")
        if label is None or not str(label).strip():
            raise DiagramError(f"diagram {diagram.title!r}, node {nid}: the label is missing")
        at = raw.get("at", [0, i])
        if (not isinstance(at, list) or len(at) != 2 or not all(isinstance(v, int) and 0 <= v < 12 for v in at)):
            raise DiagramError(f"diagram {diagram.title!r}, node {nid}: at must be [row, col], two integers 0-11")
        if tuple(at) in cells:
            raise DiagramError(f"diagram {diagram.title!r}, node {nid}: another node already sits at {at}")
        cells.add(tuple(at))
        shape, tone = raw.get("shape", "box"), raw.get("tone", "plain")
        if shape not in SHAPES or tone not in TONES:
            raise DiagramError(f"diagram {diagram.title!r}, node {nid}: shape must be one of {SHAPES}, "
                               f"tone one of {TONES}")
        seen[nid] = Node(nid, str(label).strip(), str(raw.get("note") or "").strip(), at[0], at[1], shape, tone)
    diagram.nodes = list(seen.values())
    for raw in data.get("edges") or []:
        text = raw if isinstance(raw, str) else (
            f"{next(iter(raw))}: {raw[next(iter(raw))]}" if isinstance(raw, dict) and len(raw) == 1 else None)
        m = EDGE_RE.match(text or "")
        if not m:
            raise DiagramError(f"diagram {diagram.title!r}: edge {raw!r} must read `a -> b`, `a --> b` "
                               f"(dashed) or `a -> b: label`")
        source, arrow, target, label = m.groups()
        for end in (source, target):
            if end not in seen:
                raise DiagramError(f"diagram {diagram.title!r}: edge {text!r} names node {end!r}, which does not "
                                   f"exist; nodes: {', '.join(seen)}")
        diagram.edges.append(Edge(source, target, arrow == "-->", (label or "").strip()))


def _parse_bars(diagram: Diagram, data: dict) -> None:
    groups = data.get("groups")
    if not isinstance(groups, list) or not groups:
        raise DiagramError(f"diagram {diagram.title!r}: a bars diagram needs a list of `groups`")
    for g in groups:
        if not isinstance(g, dict) or not g.get("label") or not isinstance(g.get("bars"), list) or not g["bars"]:
            raise DiagramError(f"diagram {diagram.title!r}: each group needs a label and a list of bars")
        bars = []
        for b in g["bars"]:
            value = b.get("value") if isinstance(b, dict) else None
            if not isinstance(value, (int, float)) or value < 0 or not b.get("label"):
                raise DiagramError(f"diagram {diagram.title!r}, group {g['label']!r}: each bar needs a label and "
                                   f"a value of 0 or more")
            if b.get("tone", "plain") not in TONES:
                raise DiagramError(f"diagram {diagram.title!r}: bar tone must be one of {TONES}")
            bars.append({"label": str(b["label"]), "value": float(value), "text": str(b.get("text", value)),
                         "tone": b.get("tone", "plain")})
        diagram.groups.append({"label": str(g["label"]), "note": str(g.get("note", "")), "bars": bars})


# --- text layout ---------------------------------------------------------------------------
def wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap to lines of at most `width` characters (longer words stay whole)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


LABEL_CHAR, NOTE_CHAR = 8.0, 6.9  # average glyph widths (px) at the label and note font sizes
LABEL_LINE, NOTE_LINE, PAD = 18, 16, 9


@dataclass
class Box:
    node: Node
    x: float
    y: float
    w: float
    h: float
    label_lines: list[str]
    note_lines: list[str]

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


def _layout(diagram: Diagram, transpose: bool, max_width: int) -> tuple[list[Box], float, float]:
    rows = 1 + max((n.col if transpose else n.row) for n in diagram.nodes)
    cols = 1 + max((n.row if transpose else n.col) for n in diagram.nodes)
    cell_w = min(190.0, max_width / cols)
    box_w, gap_y = cell_w - 30, 46
    label_chars, note_chars = max(6, int((box_w - 2 * PAD) / LABEL_CHAR)), max(8, int((box_w - 2 * PAD) / NOTE_CHAR))
    placed = []
    for n in diagram.nodes:
        r, c = (n.col, n.row) if transpose else (n.row, n.col)
        lines, notes = wrap(n.label, label_chars), wrap(n.note, note_chars) if n.note else []
        h = 2 * PAD + LABEL_LINE * len(lines) + NOTE_LINE * len(notes)
        placed.append((r, c, n, lines, notes, h))
    row_h = [max([h for r, _, _, _, _, h in placed if r == k] or [40]) for k in range(rows)]
    tops = [sum(row_h[:k]) + gap_y * k + 6 for k in range(rows)]
    boxes = []
    for r, c, n, lines, notes, h in placed:
        x = c * cell_w + (cell_w - box_w) / 2
        y = tops[r] + (row_h[r] - h) / 2
        boxes.append(Box(n, x, y, box_w, h, lines, notes))
    return boxes, cols * cell_w, tops[-1] + row_h[-1] + 6


def _clip_to_box(box: Box, dx: float, dy: float, margin: float) -> tuple[float, float]:
    """Where the ray from the box's centre in direction (dx, dy) leaves the box (plus a margin)."""
    tx = (box.w / 2 + margin) / abs(dx) if dx else float("inf")
    ty = (box.h / 2 + margin) / abs(dy) if dy else float("inf")
    t = min(tx, ty)
    return box.cx + t * dx, box.cy + t * dy


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _svg_open(uid: str, cls: str, width: float, height: float, diagram: Diagram, hidden: bool) -> list[str]:
    aria = (' aria-hidden="true"' if hidden else
            f' role="img" aria-labelledby="{uid}-title {uid}-desc"')
    out = [f'<svg class="diagram-svg {cls}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_fmt(width)} '
           f'{_fmt(height)}" width="{_fmt(width)}" height="{_fmt(height)}"{aria}>']
    if not hidden:
        out.append(f'<title id="{uid}-title">{escape(diagram.title)}</title>'
                   f'<desc id="{uid}-desc">{escape(diagram.alt)}</desc>')
    return out


def _flow_svg(diagram: Diagram, uid: str, transpose: bool, max_width: int, cls: str, hidden: bool) -> str:
    boxes, width, height = _layout(diagram, transpose, max_width)
    by_id = {b.node.id: b for b in boxes}
    out = _svg_open(uid, cls, width, height, diagram, hidden)
    out.append(f'<defs><marker id="{uid}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
               f'markerHeight="7" orient="auto-start-reverse"><path class="diagram-arrowhead" '
               f'd="M 0 0 L 10 5 L 0 10 z"/></marker></defs>')
    labels = []
    for e in diagram.edges:
        a, b = by_id[e.source], by_id[e.target]
        dx, dy = b.cx - a.cx, b.cy - a.cy
        x1, y1 = _clip_to_box(a, dx, dy, 2)
        x2, y2 = _clip_to_box(b, -dx, -dy, 4)
        dash = " diagram-edge-dashed" if e.dashed else ""
        out.append(f'<line class="diagram-edge{dash}" x1="{_fmt(x1)}" y1="{_fmt(y1)}" x2="{_fmt(x2)}" '
                   f'y2="{_fmt(y2)}" marker-end="url(#{uid}-arrow)"/>')
        if e.label:
            mx, my = (x1 + x2) / 2, (y1 + y2) / 2
            if abs(dy) < 1:  # a horizontal edge: the label sits above the line
                my -= 9
            w = 6.4 * len(e.label) + 8
            labels.append(f'<rect class="diagram-edge-label-bg" x="{_fmt(mx - w / 2)}" y="{_fmt(my - 9)}" '
                          f'width="{_fmt(w)}" height="16" rx="3"/><text class="diagram-edge-label" '
                          f'x="{_fmt(mx)}" y="{_fmt(my + 3)}" text-anchor="middle">{escape(e.label)}</text>')
    out += labels
    for b in boxes:
        n = b.node
        rx = b.h / 2 if n.shape == "pill" else (14 if n.shape == "question" else 6)
        out.append(f'<rect class="diagram-node diagram-{n.shape} diagram-tone-{n.tone}" x="{_fmt(b.x)}" '
                   f'y="{_fmt(b.y)}" width="{_fmt(b.w)}" height="{_fmt(b.h)}" rx="{_fmt(min(rx, b.h / 2))}"/>')
        y = b.y + PAD + 13
        for line in b.label_lines:
            out.append(f'<text class="diagram-label" x="{_fmt(b.cx)}" y="{_fmt(y)}" text-anchor="middle">'
                       f'{escape(line)}</text>')
            y += LABEL_LINE
        for line in b.note_lines:
            out.append(f'<text class="diagram-note" x="{_fmt(b.cx)}" y="{_fmt(y - 2)}" text-anchor="middle">'
                       f'{escape(line)}</text>')
            y += NOTE_LINE
    out.append("</svg>")
    return "".join(out)


def _bars_svg(diagram: Diagram, uid: str, width: int, narrow: bool, cls: str, hidden: bool) -> str:
    top = max(b["value"] for g in diagram.groups for b in g["bars"]) or 1.0
    label_w = 0 if narrow else 130
    text_w = 150 if not narrow else 0
    bar_area = width - label_w - text_w - 12
    rows, y = [], 4.0
    for g in diagram.groups:
        heading = g["label"] + (f" ({g['note']})" if g["note"] else "")
        for line in wrap(heading, int(width / 7.4)):
            rows.append(f'<text class="diagram-group" x="0" y="{_fmt(y + 14)}">{escape(line)}</text>')
            y += 20
        for bar in g["bars"]:
            if narrow:  # the label and the value above the bar
                rows.append(f'<text class="diagram-note" x="0" y="{_fmt(y + 12)}">{escape(bar["label"])}: '
                            f'{escape(bar["text"])}</text>')
                y += 16
            length = max(1.5, bar_area * bar["value"] / top)
            rows.append(f'<rect class="diagram-bar diagram-tone-{bar["tone"]}" x="{_fmt(label_w)}" '
                        f'y="{_fmt(y + 2)}" width="{_fmt(length)}" height="16" rx="3"/>')
            if not narrow:
                rows.append(f'<text class="diagram-note" x="{_fmt(label_w - 8)}" y="{_fmt(y + 15)}" '
                            f'text-anchor="end">{escape(bar["label"])}</text>')
                rows.append(f'<text class="diagram-note" x="{_fmt(label_w + length + 8)}" y="{_fmt(y + 15)}">'
                            f'{escape(bar["text"])}</text>')
            y += 24
        y += 10
    out = _svg_open(uid, cls, width, y, diagram, hidden)
    return "".join(out + rows + ["</svg>"])


def render_diagram(data, uid: str) -> str:
    """The <figure> for one diagram block: wide and narrow SVGs, caption, text description."""
    diagram = parse_diagram(data)
    if diagram.kind == "flow":
        rows = 1 + max(n.row for n in diagram.nodes)
        cols = 1 + max(n.col for n in diagram.nodes)
        wide = _flow_svg(diagram, uid, False, WIDE_WIDTH, "diagram-wide", hidden=False)
        narrow = _flow_svg(diagram, f"{uid}-n", rows < cols, NARROW_WIDTH, "diagram-narrow", hidden=False)
    else:
        wide = _bars_svg(diagram, uid, 640, False, "diagram-wide", hidden=False)
        narrow = _bars_svg(diagram, f"{uid}-n", NARROW_WIDTH, True, "diagram-narrow", hidden=False)
    return (f'<figure class="diagram" id="{uid}">{wide}{narrow}'
            f'<figcaption>{escape(diagram.title)}</figcaption>'
            f'<details class="diagram-text"><summary>Text description</summary><p>{escape(diagram.alt)}</p>'
            f'</details></figure>\n')
