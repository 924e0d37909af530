"""Widget results, and the one owner of their caching: the shared cache, and a bounded memo
in front of it.

    jobs = request.app.state.jobs
    jobs.cached(widget, values)                  # the finished item, or None (never computes)
    handle = await jobs.follow(widget, values, owner=(learner, instance))
    async for event in handle.events(): ...      # progress: {"seq", "done", "total", delta}
    item = await handle.result()                 # stored in the cache before you see it
    jobs.remember(widget, values, view, html)    # keep what was made of a cached result...
    jobs.remembered(widget, values, view)        # ...and get it back while the cache holds it

Every lookup goes by the run key (app/serving/keys.py). A result is stored under the profile
(torch, device, CPU kernel set) of the worker that computed it, and looked up under the
profiles of the workers the engine has now.

The memo keeps what the web process made of a cached result (its rendered fragment: figure
JSON, tables and code cost about 10 ms to render), bounded in bytes, least recently used
out. An entry is served only while the shared cache still holds its result, so clearing or
evicting the cache takes the renderings with it.

A run is keyed on the widget's compute values only (`Widget.compute_values`): view parameters
(a learner's guess at a diagnosis) do not change the run, so every view shares it, and both
ways out of here (`cached`, a handle's `result`) give the item as the asker's values show it
(`Widget.present`: the view redrawn in this process, cheaply).
"""
from __future__ import annotations

import logging
from functools import partial

from app.serving.cache import BoundedLRU, ResultCache
from app.serving.engine import BACKGROUND_PRIORITY, LEARNER_PRIORITY, Engine, Handle
from app.serving.keys import Profile, RunKey
from app.serving.precompute.moves import near_moves, toward_defaults
from app.serving.worker.widget_task import run_widget
from widgets.base import Widget

log = logging.getLogger(__name__)
# A class loads the same few pages and settings again and again: their renderings are kept
# (the pre-render's fragments and stream events for the course's 290 nearest settings are
# about 60 MB)
MEMO_BYTES = 128 * 2**20


NEAREST_RADIUS = 2  # slider positions searched for a ready setting to show while a run trains


def mark_cached(item: dict) -> dict:
    return {**item, "provenance": {**item["provenance"], "cached": True}}


class Presented:
    """A job's handle whose result is the finished item as `values` show it (see the docstring);
    everything else is the engine's handle."""

    def __init__(self, handle: Handle, widget: Widget, values: dict):
        self._handle, self._widget, self._values = handle, widget, values

    def __getattr__(self, name: str):
        return getattr(self._handle, name)

    async def result(self) -> dict:
        return self._widget.present(self._values, await self._handle.result())


class WidgetJobs:
    def __init__(self, settings, engine: Engine, cache: ResultCache, code: str):
        self.settings = settings
        self.engine = engine
        self.cache = cache
        self.code = code  # the code version (app/serving/keys.py) every run here is keyed on
        self.memo = BoundedLRU(MEMO_BYTES)

    def run(self, widget: Widget, values: dict) -> RunKey:
        return RunKey.of(widget.name, widget.compute_values(values), widget.seed, self.code, self.settings.torch_threads)

    def key(self, widget: Widget, values: dict) -> str:
        return self.run(widget, values).job

    def cached(self, widget: Widget, values: dict) -> dict | None:
        """The finished item for these parameters from any current worker profile, marked
        as served from the cache; None when it must be computed."""
        run = self.run(widget, values)
        for profile in self.engine.profiles():
            try:
                item = self.cache.get(run.on(profile))
            except Exception:  # a cache that is down is a miss, not an error page
                log.warning("the result cache failed", exc_info=True)
                return None
            if item is not None:
                return mark_cached(widget.present(values, item))
        return None

    def nearest_cached(self, widget: Widget, values: dict, radius: int = NEAREST_RADIUS) -> tuple[dict, dict] | None:
        """(values, item) of the nearest setting within `radius` slider positions of one control
        whose result is cached (precompute fills exactly these), failing that of the setting with
        one control back at its default, or of the defaults (a slider dragged far from its
        placement); or None: what a page shows while `values` trains, so a moved slider never
        leaves the learner looking at nothing. At most a few dozen cache lookups."""
        for near in [*near_moves(widget, values, radius), *toward_defaults(widget, values)]:
            item = self.cached(widget, near)
            if item is not None:
                return near, item
        return None

    def is_cached(self, widget: Widget, values: dict) -> bool:
        run = self.run(widget, values)
        return any(run.on(p) in self.cache for p in self.engine.profiles())

    def store(self, run: RunKey, item: dict) -> None:
        """File a finished item under the profile that computed it."""
        self.cache.put(run.on(Profile.parse(item["provenance"]["profile"])), item)

    def remember(self, widget: Widget, values: dict, view: str, made: str) -> None:
        """Keep `made` (e.g. a rendered fragment) of this run's cached result, under `view`."""
        self.memo.put(self._memo_key(widget, values, view), made)

    def remembered(self, widget: Widget, values: dict, view: str) -> str | None:
        """What was kept under `view` for this run, while the shared cache holds its result."""
        made = self.memo.get(self._memo_key(widget, values, view))
        if made is not None and self.is_cached(widget, values):
            return made
        return None

    def remember_pending(self, widget: Widget, values: dict, view: str, made: str) -> None:
        """Keep `made` of this run while its result is not cached yet (a page's widget that
        will stream it): the same for every learner until the run is done."""
        self.memo.put(self._memo_key(widget, values, view + "\0pending"), made)

    def remembered_pending(self, widget: Widget, values: dict, view: str) -> str | None:
        """What remember_pending kept under `view`, while the result is still not cached."""
        made = self.memo.get(self._memo_key(widget, values, view + "\0pending"))
        if made is not None and not self.is_cached(widget, values):
            return made
        return None

    def _memo_key(self, widget: Widget, values: dict, view: str) -> str:
        return f"{self.key(widget, values)}\0{view}"

    async def follow(self, widget: Widget, values: dict, owner: tuple[str, str] | None = None,
                     background: bool = False, priority: int | None = None) -> Handle | Presented:
        """Hold the job computing this result (started, or shared with whoever runs it, whatever
        their view values)."""
        if priority is None:
            priority = BACKGROUND_PRIORITY if background else LEARNER_PRIORITY
        run = self.run(widget, values)
        handle = await self.engine.submit(
            run.job, run_widget, widget.name, values, self.code, run.threads, priority=priority,
            owner=owner, background=background, on_result=partial(self.store, run))
        return Presented(handle, widget, values) if widget.has_view_params() else handle
