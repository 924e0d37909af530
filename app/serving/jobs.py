"""Widget results: looked up in the shared cache, or computed as engine jobs and stored.

    jobs = request.app.state.jobs
    jobs.cached(widget, values)                  # the finished item, or None (never computes)
    handle = await jobs.follow(widget, values, owner=(learner, instance))
    async for event in handle.events(): ...      # progress: {"seq", "done", "total", delta}
    item = await handle.result()                 # stored in the cache before you see it

A result is stored under the profile (torch, device, CPU kernel set) of the worker that
computed it, and looked up under the profiles of the workers the engine has now.

A run is keyed on the widget's compute values only (`Widget.compute_values`): view parameters
(a learner's guess at a diagnosis) do not change the run, so every view shares it, and both
ways out of here (`cached`, a handle's `result`) give the item as the asker's values show it
(`Widget.present`: the view redrawn in this process, cheaply).
"""
from __future__ import annotations

import logging

from app.serving.cache import ResultCache
from app.serving.keys import Profile, code_version, job_key, result_key
from app.serving.engine import BACKGROUND_PRIORITY, LEARNER_PRIORITY, Engine, Handle
from app.serving.worker.widget_task import run_widget
from widgets.base import Widget

log = logging.getLogger(__name__)


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
    def __init__(self, settings, engine: Engine, cache: ResultCache):
        self.settings = settings
        self.engine = engine
        self.cache = cache

    def key(self, widget: Widget, values: dict) -> str:
        return job_key(widget.name, widget.compute_values(values), widget.seed)

    def cached(self, widget: Widget, values: dict) -> dict | None:
        """The finished item for these parameters from any current worker profile, marked
        as served from the cache; None when it must be computed."""
        job = self.key(widget, values)
        for profile in self.engine.profiles():
            try:
                item = self.cache.get(result_key(job, profile))
            except Exception:  # a cache that is down is a miss, not an error page
                log.warning("the result cache failed", exc_info=True)
                return None
            if item is not None:
                return mark_cached(widget.present(values, item))
        return None

    def is_cached(self, widget: Widget, values: dict) -> bool:
        job = self.key(widget, values)
        return any(result_key(job, p) in self.cache for p in self.engine.profiles())

    def store(self, item: dict) -> None:
        """File a finished item under the profile that computed it."""
        widget = item["widget"]
        from widgets.registry import all_widgets

        job = self.key(all_widgets()[widget], item["params"])
        self.cache.put(result_key(job, Profile.parse(item["provenance"]["profile"])), item)

    async def follow(self, widget: Widget, values: dict, owner: tuple[str, str] | None = None,
                     background: bool = False, priority: int | None = None) -> Handle | Presented:
        """Hold the job computing this result (started, or shared with whoever runs it, whatever
        their view values)."""
        if priority is None:
            priority = BACKGROUND_PRIORITY if background else LEARNER_PRIORITY
        handle = await self.engine.submit(
            self.key(widget, values), run_widget, widget.name, values, code_version(),
            self.settings.torch_threads, priority=priority, owner=owner, background=background,
            on_result=self.store)
        return Presented(handle, widget, values) if widget.has_view_params() else handle
