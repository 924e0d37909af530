"""Precomputed slider moves: fill the cache before learners ask.

What is precomputed, in this order:
  distance 0  every widget's defaults, every placement in the chapters (with the
              directive's own parameters) and every predict question's run
  distance d  from each of those, every one-control move d grid positions away: each
              slider position on its grid (as the browser's range input snaps it), each
              toggle flipped and each other choice (a flip or a choice counts as distance 1);
              at each distance the main controls go before the advanced ones
Typed values (number inputs) and text are not sliders and are not moved.

    python -m app precompute [--radius N] [--widget NAME] [--limit N] [--dry-run]

prints a progress bar with an ETA, skips what is already cached (so it resumes where an
interrupted run stopped; Ctrl-C stops it cleanly), and ends with the count and CPU time.
BackgroundFill does the same inside the web process whenever the engine is idle, at the
lowest priority, and gives way as soon as a learner asks for anything.
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import math
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Iterator

from widgets.base import Param, ParamError, Widget
from widgets.registry import all_widgets

log = logging.getLogger(__name__)

IDLE_S = 3.0  # the web process fills only after this long without a learner's request
BATCH = 64


@dataclass(frozen=True)
class Move:
    widget: str
    values: dict
    distance: int
    origin: str  # where the base setting comes from: "defaults", "chapter-slug#instance"
    control: str = ""  # the control moved ("" at distance 0)


# --- where widgets are placed -------------------------------------------------------------
def placements(content_dir: Path) -> list[tuple[str, str, dict]]:
    """(origin, widget name, starting parameters): defaults, chapter directives, predict runs."""
    from app.course.content import load_course

    found = [("defaults", name, {}) for name in all_widgets()]
    course = load_course(content_dir)
    for chapter in course.chapters:
        for use in chapter.widgets:
            found.append((f"{chapter.slug}#{use.instance}", use.name, dict(use.overrides)))
        for quiz in chapter.quizzes.values():
            if quiz.predict is not None:
                found.append((f"{chapter.slug}#predict-{quiz.id}", quiz.predict.widget,
                              dict(quiz.predict.params)))
    return [(origin, name, params) for origin, name, params in found if name in all_widgets()]


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


def moves(content_dir: Path, radius: int | None = None, only: set[str] | None = None) -> Iterator[Move]:
    """Every setting to precompute, nearest first, each once (see the module docstring)."""
    widgets = all_widgets()
    bases: list[tuple[str, Widget, dict]] = []
    seen: set[bytes] = set()

    def first_time(widget: Widget, values: dict) -> bool:
        digest = hashlib.blake2b(f"{widget.name}|{sorted(values.items())}".encode(), digest_size=8).digest()
        if digest in seen:
            return False
        seen.add(digest)
        return True

    for origin, name, params in placements(content_dir):
        if only and name not in only:
            continue
        widget = widgets[name]
        try:
            values = widget.canonicalize(params)
        except ParamError:  # `python -m app check` reports bad directives to authors
            continue
        if first_time(widget, values):
            yield Move(name, values, 0, origin)
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


# --- the progress bar ---------------------------------------------------------------------
def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


class ProgressBar:
    """`[#####-----] 120/4000  3%  2.1 runs/s  ETA 30m48s` on one line of a terminal;
    a plain line every 30 s elsewhere."""

    def __init__(self, total: int, out=sys.stderr, width: int = 30):
        self.total, self.out, self.width = total, out, width
        self.started = time.monotonic()
        self.last_line = 0.0
        self.tty = out.isatty()

    def update(self, done: int, note: str = "") -> None:
        now = time.monotonic()
        if not self.tty and now - self.last_line < 30 and done < self.total:
            return
        self.last_line = now
        rate = done / max(now - self.started, 1e-9)
        eta = _duration((self.total - done) / rate) if rate > 0 and done else "?"
        filled = int(self.width * done / max(self.total, 1))
        line = (f"[{'#' * filled}{'-' * (self.width - filled)}] {done}/{self.total} "
                f"{100 * done / max(self.total, 1):3.0f}%  {rate:.2f} runs/s  ETA {eta}  {note}")
        if self.tty:
            self.out.write("\r" + line[:160].ljust(160))
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()


# --- python -m app precompute -------------------------------------------------------------
@dataclass
class Summary:
    planned: int = 0
    already: int = 0
    computed: int = 0
    failed: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    interrupted: bool = False

    def lines(self) -> list[str]:
        state = "interrupted (run it again to resume)" if self.interrupted else "done"
        return [f"precompute {state}: {self.planned} settings planned, {self.already} already cached, "
                f"{self.computed} computed, {self.failed} failed",
                f"CPU time of the computed runs: {self.cpu_s:.1f} s (summed over workers); "
                f"wall time {self.wall_s:.1f} s"]


async def run_precompute(settings, planned: list[Move], concurrency: int | None = None,
                         out=sys.stderr) -> Summary:
    """Compute every planned setting that is not cached yet, `concurrency` at a time."""
    from app.serving.cache import open_cache
    from app.serving.engine import PRECOMPUTE_PRIORITY, Engine, JobCancelled, JobFailed
    from app.serving.jobs import WidgetJobs
    from app.serving.keys import code_version

    summary = Summary(planned=len(planned))
    started = time.monotonic()
    cache = open_cache(settings.cache_url, settings.cache_bytes)
    engine = Engine(settings)
    jobs = WidgetJobs(settings, engine, cache, code_version(settings.corpus_path))
    widgets = all_widgets()
    try:
        await engine.started()
        width = concurrency or max(2, 2 * engine.threads)
        todo = []
        for move in planned:
            if await asyncio.to_thread(jobs.is_cached, widgets[move.widget], move.values):
                summary.already += 1
            else:
                todo.append(move)
        out.write(f"{summary.planned} settings, {summary.already} already cached: computing "
                  f"{len(todo)} on {engine.threads} worker threads ({engine.mode} engine)\n")
        bar = ProgressBar(len(todo), out)
        bar.update(0)
        queue = iter(todo)

        async def worker() -> None:
            for move in queue:
                handle = await jobs.follow(widgets[move.widget], move.values, background=True,
                                           priority=PRECOMPUTE_PRIORITY)
                try:
                    item = await handle.result()
                    summary.computed += 1
                    summary.cpu_s += item["provenance"].get("cpu_time_s", 0.0)
                except (JobFailed, JobCancelled) as exc:
                    summary.failed += 1
                    log.warning("precompute %s %s failed: %s", move.widget, move.values, exc)
                finally:
                    handle.release()
                bar.update(summary.computed + summary.failed, f"{move.widget} {move.control}".strip())

        try:
            await asyncio.gather(*(worker() for _ in range(width)))
        except asyncio.CancelledError:
            summary.interrupted = True
        bar.close()
    finally:
        summary.wall_s = time.monotonic() - started
        await engine.close()
        cache.close()
    return summary


def main(argv: list[str]) -> int:
    import argparse

    from app.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m app precompute",
                                     description="Fill the result cache with every widget's "
                                                 "placements and one-control moves.")
    parser.add_argument("--radius", type=int, default=None,
                        help="only moves at most this many slider positions away (default: all)")
    parser.add_argument("--widget", action="append", help="only this widget (repeatable)")
    parser.add_argument("--limit", type=int, default=None, help="stop after planning this many settings")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="runs submitted at once (default: twice the worker threads)")
    parser.add_argument("--dry-run", action="store_true", help="count the settings and stop")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("distributed").setLevel(logging.WARNING)  # its own INFO lines are not ours
    counting = time.monotonic()
    planned = list(itertools.islice(moves(settings.content_dir, args.radius,
                                          set(args.widget) if args.widget else None), args.limit))
    by_distance: dict[int, int] = {}
    for move in planned:
        by_distance[move.distance] = by_distance.get(move.distance, 0) + 1
    print(f"{len(planned)} settings to precompute (counted in {time.monotonic() - counting:.1f} s); "
          f"by distance: " + ", ".join(f"{d}: {n}" for d, n in sorted(by_distance.items())[:8])
          + (" ..." if len(by_distance) > 8 else ""), flush=True)
    if args.dry_run:
        return 0
    loop = asyncio.new_event_loop()
    task = loop.create_task(run_precompute(settings, planned, args.concurrency))
    try:
        summary = loop.run_until_complete(task)
    except KeyboardInterrupt:  # Ctrl-C: stop the workers' jobs, report what was done
        task.cancel()
        summary = loop.run_until_complete(task)
        summary.interrupted = True
    finally:
        loop.close()
    for line in summary.lines():
        print(line)
    return 1 if summary.failed else 0


# --- the web process's idle fill ----------------------------------------------------------
class BackgroundFill:
    """Fills the cache in the order above while the engine has nothing else to do: it waits
    until no learner has asked for anything for IDLE_S seconds, keeps at most one job per
    worker thread, and the engine releases its jobs as soon as a learner needs the worker."""

    def __init__(self, jobs, settings, idle_s: float = IDLE_S):
        self.jobs = jobs
        self.settings = settings
        self.idle_s = idle_s
        self.task: asyncio.Task | None = None
        self.filled = 0

    def start(self) -> None:
        self.task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass

    def _idle(self) -> bool:
        engine = self.jobs.engine
        return (engine.client is not None and engine.pending() == 0
                and time.monotonic() - engine.last_learner_submit > self.idle_s)

    async def _run(self) -> None:
        from app.serving.engine import JobCancelled, JobFailed

        engine = self.jobs.engine
        await engine.started()
        widgets = all_widgets()
        plan = moves(self.settings.content_dir)
        running: set[asyncio.Task] = set()

        again: list[Move] = []  # runs a learner's request pushed out: they go first next time

        async def fill(move: Move) -> None:
            handle = await self.jobs.follow(widgets[move.widget], move.values, background=True)
            try:
                await handle.result()
                self.filled += 1
            except JobCancelled:
                again.append(move)
            except JobFailed:
                pass  # logged by the engine; a widget bug is not retried forever
            finally:
                handle.release()

        while True:
            if again:
                batch, again[:] = list(again), []
            else:
                batch = await asyncio.to_thread(lambda: list(itertools.islice(plan, BATCH)))
            if not batch:
                if not running:
                    break
                await asyncio.wait(set(running))
                continue
            for move in batch:
                while not self._idle() or len(running) >= max(1, engine.threads):
                    await asyncio.sleep(0.5)
                if await asyncio.to_thread(self.jobs.is_cached, widgets[move.widget], move.values):
                    continue
                task = asyncio.ensure_future(fill(move))
                running.add(task)
                task.add_done_callback(running.discard)
        log.info("background fill: every planned setting is cached (%d computed here)", self.filled)
