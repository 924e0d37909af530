"""Runs widget computations off the event loop, shares them, caches their results.

A job is one computation of one widget at one set of canonical parameters. Two
requests for the same parameters share the job. Streams subscribe to a job and
read its latest partial figure; when the last subscriber leaves before the job is
done (the learner moved the slider again), the job is cancelled at its next
progress report, so abandoned runs do not hold the two cores.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import torch

from app.cache import ResultCache, cache_key, code_version
from widgets.base import Widget
from widgets.lab.trainer import default_device
from widgets.registry import all_widgets

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """Raised inside a computation whose every subscriber has gone."""


@dataclass
class Job:
    key: str
    widget: Widget
    values: dict
    version: int = 0  # bumped on every progress report and at the end
    figure: dict | None = None  # latest (partial) figure
    done: int = 0
    total: int = 0
    result: dict | None = None  # the finished item, as cached
    error: str | None = None
    subscribers: int = 0
    cancelled: bool = False
    finished: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def provenance(widget: Widget, wall_time: float) -> dict:
    return {"seed": widget.seed, "device": default_device(), "torch": torch.__version__,
            "wall_time_s": round(wall_time, 3), "code_version": code_version(), "cached": False}


class JobRunner:
    def __init__(self, settings):
        self.cache = ResultCache(settings.cache_entries)
        self.executor = ThreadPoolExecutor(max_workers=settings.max_concurrent_jobs,
                                           thread_name_prefix="widget-job")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    # --- looking up -----------------------------------------------------------------
    def key(self, widget: Widget, values: dict) -> str:
        return cache_key(widget.name, values, widget.seed)

    def cached(self, widget: Widget, values: dict) -> dict | None:
        """The finished item for these parameters, marked as served from the cache."""
        item = self.cache.get(self.key(widget, values))
        if item is None:
            return None
        return {**item, "provenance": {**item["provenance"], "cached": True}}

    # --- starting and sharing ----------------------------------------------------------
    def subscribe(self, widget: Widget, values: dict) -> Job:
        """The running job for these parameters (started if needed), with one more subscriber."""
        key = self.key(widget, values)
        with self._lock:
            job = self._jobs.get(key)
            if job is None or job.cancelled:
                job = Job(key=key, widget=widget, values=values)
                self._jobs[key] = job
                self.executor.submit(self._execute, job)
            with job.lock:
                job.subscribers += 1
            return job

    def unsubscribe(self, job: Job) -> None:
        with job.lock:
            job.subscribers -= 1
            if job.subscribers <= 0 and not job.finished.is_set():
                job.cancelled = True

    def run_blocking(self, widget: Widget, values: dict, timeout: float = 600) -> dict:
        """Compute (or fetch from cache) and wait for the finished item."""
        item = self.cached(widget, values)
        if item is not None:
            return item
        job = self.subscribe(widget, values)
        try:
            if not job.finished.wait(timeout):
                raise TimeoutError(f"{widget.name} did not finish within {timeout:g} s")
        finally:
            self.unsubscribe(job)
        if job.error:
            raise RuntimeError(job.error)
        return job.result

    # --- the work --------------------------------------------------------------------
    def _execute(self, job: Job) -> None:
        start = time.perf_counter()
        try:
            if job.cancelled:
                raise Cancelled()
            data = job.widget.compute(job.values, lambda partial, done, total: self._report(job, partial, done, total))
            figure = job.widget.figure(job.values, data)
            item = {"widget": job.widget.name, "params": job.values, "data": data, "figure": figure,
                    "provenance": provenance(job.widget, time.perf_counter() - start)}
            self.cache.put(job.key, item)
            job.result = item
            job.figure = figure
            job.done = job.total = max(job.total, 1)
        except Cancelled:
            job.error = "cancelled: every viewer left before the run finished"
        except Exception as exc:  # a bug in a widget: report it, keep serving
            log.exception("widget %s failed", job.widget.name)
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                if self._jobs.get(job.key) is job:
                    del self._jobs[job.key]
            job.version += 1
            job.finished.set()

    def _report(self, job: Job, partial: dict, done: int, total: int) -> None:
        if job.cancelled:
            raise Cancelled()
        job.figure = job.widget.figure(job.values, partial)
        job.done, job.total = done, total
        job.version += 1

    def warm(self) -> None:
        """Compute every widget's default result, so first visits are instant."""
        for widget in all_widgets().values():
            try:
                self.run_blocking(widget, widget.canonicalize({}))
            except Exception:
                log.exception("warming %s failed", widget.name)

    def shutdown(self) -> None:
        with self._lock:
            for job in self._jobs.values():
                job.cancelled = True
        self.executor.shutdown(wait=False, cancel_futures=True)


def start_background_warmup(app) -> None:
    threading.Thread(target=app.state.jobs.warm, name="cache-warmup", daemon=True).start()
