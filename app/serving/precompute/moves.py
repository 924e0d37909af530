"""The planner: every setting to precompute, nearest first (see the package docstring)."""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterator

from app.course.content import Course
from widgets.base import Param, ParamError, Widget


@dataclass(frozen=True)
class Move:
    widget: str
    values: dict
    distance: int
    origin: str  # where the base setting comes from: "defaults", "chapter-slug#instance"
    control: str = ""  # the control moved ("" at distance 0)


# --- where widgets are placed -------------------------------------------------------------
VARIANT = "-variant-"  # in a placement's origin: a predict question's variant (review grades on it)


def placements(course: Course, widgets: dict[str, Widget]) -> list[tuple[str, str, dict]]:
    """(origin, widget name, starting parameters): defaults, chapter directives, predict runs
    and their variants (app/course/variants.py)."""
    found = [("defaults", name, {}) for name in widgets]
    for chapter in course.chapters:
        for use in chapter.widgets:
            found.append((f"{chapter.slug}#{use.instance}", use.name, dict(use.overrides)))
        for quiz in chapter.quizzes.values():
            if quiz.predict is not None:
                found.append((f"{chapter.slug}#predict-{quiz.id}", quiz.predict.widget,
                              dict(quiz.predict.params)))
                variants = quiz.predict.variants.settings if quiz.predict.variants else ()
                found += [(f"{chapter.slug}#predict-{quiz.id}{VARIANT}{n}", quiz.predict.widget,
                           {**quiz.predict.params, **setting}) for n, setting in enumerate(variants, 1)]
    return [(origin, name, params) for origin, name, params in found if name in widgets]


# --- the browser's grid of a slider -------------------------------------------------------
def _slider(param: Param) -> tuple[Decimal, Decimal, int] | None:
    """(min, step, number of positions) of a range input in the browser's own units (log10
    for log sliders), or None for controls that are not sliders."""
    if param.kind not in ("float", "int") or param.control != "slider":
        return None
    if param.log:
        low, high = Decimal(repr(math.log10(param.min))), Decimal(repr(math.log10(param.max)))
        step = Decimal(repr(param.step or 0.01))
    else:
        step = Decimal(repr(param.step or 1)) if (param.step or param.kind == "int") else None
        if step is None:  # step "any": no grid to walk
            return None
        low, high = Decimal(repr(param.min)), Decimal(repr(param.max))
    return low, step, int((high - low) / step) + 1


def _value_at(param: Param, low: Decimal, step: Decimal, index: int):
    """What the form sends with the slider at grid position `index`: the range input's own
    value for linear sliders, the hidden input's 10^x to three digits for log sliders."""
    position = low + step * index
    if param.log:
        return float(f"{10 ** float(position):.3g}")
    return int(position) if param.kind == "int" else float(position)


def _index_of(param: Param, low: Decimal, step: Decimal, count: int, value) -> int:
    """The grid position the browser snaps this value's slider to (ties go up, as it does)."""
    where = (Decimal(repr(math.log10(value))) if param.log else Decimal(repr(float(value)))) - low
    return max(0, min(count - 1, int((where / step + Decimal("0.5")).to_integral_value(rounding="ROUND_FLOOR"))))


def on_grid(param: Param, value) -> bool:
    """Whether a slider can be set to this value (a control that is not a slider: always)."""
    grid = _slider(param)
    if grid is None:
        return True
    return _value_at(param, *grid[:2], _index_of(param, *grid, value)) == value


def form_values(widget: Widget, values: dict) -> dict:
    """The values a page's form sends for these canonical values: linear sliders snapped to
    their grid as the browser snaps them (log sliders send the exact hidden value)."""
    sent = dict(values)
    for param in widget.params:
        grid = _slider(param)
        if grid is not None and not param.log:
            sent[param.name] = _value_at(param, *grid[:2], _index_of(param, *grid, values[param.name]))
    return sent


def _moves_of(widget: Widget, base: dict, param: Param, distance: int) -> Iterator[dict]:
    """Raw values one control `distance` positions away from `base` (both sides)."""
    if param.kind == "bool":
        if distance == 1:
            yield {**base, param.name: not base[param.name]}
        return
    if param.kind == "choice":
        if distance == 1:
            for choice in param.choices:
                if choice != base[param.name]:
                    yield {**base, param.name: choice}
        return
    grid = _slider(param)
    if grid is None:
        return
    low, step, count = grid
    here = _index_of(param, low, step, count, base[param.name])
    for index in (here - distance, here + distance):
        if 0 <= index < count:
            yield {**base, param.name: _value_at(param, low, step, index)}


def near_moves(widget: Widget, base: dict, radius: int) -> list[dict]:
    """Canonical values of every one-control move at most `radius` positions from `base`
    (what a page's form sends, see form_values), nearest first."""
    found = []
    for distance in range(1, radius + 1):
        for param in widget.params:
            for raw in _moves_of(widget, base, param, distance):
                try:
                    found.append(widget.canonicalize(raw))
                except ParamError:
                    pass
    return found


def toward_defaults(widget: Widget, values: dict) -> list[dict]:
    """Canonical values of `values` with one control moved back to its default, each control in
    turn, then the defaults themselves: a learner who drags one slider far from where a chapter
    placed it is most often one control away from the placement, and a placement mostly keeps
    the defaults of the controls it does not set."""
    defaults = widget.canonicalize({})
    moved = [p.name for p in widget.params if values.get(p.name) != defaults[p.name]]
    found = []
    for name in moved:
        try:
            found.append(widget.canonicalize({**values, name: defaults[name]}))
        except ParamError:  # that combination is not allowed (a warmup longer than the run...)
            pass
    if len(moved) > 1:
        found.append(defaults)
    return found


def far_move(widget: Widget, base: dict, radius: int, rng) -> dict | None:
    """Canonical values with one slider at a random position more than `radius` positions
    from `base`: a move precompute at that radius has not made (None if no slider reaches)."""
    sliders = [(p, _slider(p)) for p in widget.params if p.kind in ("float", "int")]
    sliders = [(p, grid) for p, grid in sliders if grid is not None]
    rng.shuffle(sliders)
    for param, (low, step, count) in sliders:
        here = _index_of(param, low, step, count, base[param.name])
        if count - 1 - here <= radius and here <= radius:
            continue  # every position is near
        for _ in range(20):
            index = rng.randrange(count)
            if abs(index - here) <= radius:
                continue
            try:
                return widget.canonicalize({**base, param.name: _value_at(param, low, step, index)})
            except ParamError:
                continue
    return None


def _reach(param: Param, base: dict) -> int:
    """How many positions this control can move from `base`, to its farther end."""
    if param.kind in ("bool", "choice"):
        return 1
    grid = _slider(param)
    if grid is None:
        return 0
    low, step, count = grid
    here = _index_of(param, low, step, count, base[param.name])
    return max(here, count - 1 - here)


def moves(course: Course, widgets: dict[str, Widget], radius: int | None = None,
          only: set[str] | None = None) -> Iterator[Move]:
    """Every setting of these widgets to precompute in this course, nearest first, each once
    (see the package docstring)."""
    bases: list[tuple[str, Widget, dict]] = []
    seen: set[bytes] = set()

    def first_time(widget: Widget, values: dict) -> bool:
        digest = hashlib.blake2b(f"{widget.name}|{sorted(values.items())}".encode(), digest_size=8).digest()
        if digest in seen:
            return False
        seen.add(digest)
        return True

    for origin, name, params in placements(course, widgets):
        if only and name not in only:
            continue
        widget = widgets[name]
        try:
            values = widget.canonicalize(params)
        except ParamError:  # `python -m app check` reports bad directives to authors
            continue
        if first_time(widget, values):
            yield Move(name, values, 0, origin)
        if VARIANT not in origin:  # a variant is graded on its own run: no learner moves a slider from it
            bases.append((origin, widget, form_values(widget, values)))
    # (advanced?, base, control, reach): the controls still able to move, in order
    controls = [(param.advanced, origin, widget, base, param, _reach(param, base))
                for origin, widget, base in bases for param in widget.params]
    controls = [c for c in controls if c[5] > 0]
    distance = 0
    while controls and (radius is None or distance < radius):
        distance += 1
        controls = [c for c in controls if c[5] >= distance]
        for advanced in (False, True):
            for is_advanced, origin, widget, base, param, _ in controls:
                if is_advanced == advanced:
                    for raw in _moves_of(widget, base, param, distance):
                        try:
                            values = widget.canonicalize(raw)
                        except ParamError:  # the browser would get a 422 here
                            continue
                        if first_time(widget, values):
                            yield Move(widget.name, values, distance, origin, param.name)
