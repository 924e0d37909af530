"""The engine: keyed jobs on Dask distributed, with progress, a bounded queue and cancellation.

Where the work runs (embedded worker processes, a remote Dask cluster, or worker threads of
this process) is app/serving/cluster.py's business; the code path is the same in all three:
an asynchronous `distributed.Client` on the web process's event loop, so no route ever
blocks while a job runs.

A job's Dask key is the caller's key (for widgets, RunKey.job), so identical requests from
any web process share one computation. Progress travels as events on one topic
(app.serving.worker.job_context.report on the worker, Client.subscribe_topic here); each web process keeps
the events of running jobs, so a follower who joins late replays them from the start. When
every holder of a job has released it, here and in every other web process, the scheduler
releases the task and the job stops at its next report.

The API (for widgets, grading, anything that trains):

    engine = request.app.state.engine
    handle = await engine.submit(key, fn, *args, priority=0, owner=(learner, slot))
        # fn: a module-level function, run on a worker as fn(*args); it may call
        # app.serving.worker.job_context.report(event_dict), which raises JobCancelled once nobody waits.
        # owner: a newer job for the same (learner, slot) supersedes this one.
        # raises QueueFull(retry_after) when too many jobs are waiting: answer 503.
    async for event in handle.events(): ...   # progress events, from the first one
    result = await handle.result()            # fn's return value; JobFailed, JobCancelled
    handle.release()                          # always (or use `async with handle:`)
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from typing import Any, Callable

from app.serving.cluster import Cluster
# the ways a job ends are importable from here too: callers of submit() catch them
from app.serving.handle import (EngineUnavailable, Handle, JobCancelled, JobFailed, QueueFull, Running,  # noqa: F401
                                Superseded)
from app.serving.keys import Profile
from app.serving.worker.job_context import TOPIC

log = logging.getLogger(__name__)

LEARNER_PRIORITY = 10
PRECOMPUTE_PRIORITY = 0
BACKGROUND_PRIORITY = -10
KEPT_HISTORIES = 256  # event histories of other processes' running jobs, kept for late joiners


class Engine:
    def __init__(self, settings):
        self.settings = settings
        self.cluster = Cluster(settings)
        self.mode = self.cluster.mode
        self._start_task: asyncio.Task | None = None
        self._jobs: dict[str, Running] = {}
        self._histories: OrderedDict[str, list] = OrderedDict()
        self._owned: dict[tuple[str, str], Handle] = {}
        self._durations: list[float] = []
        self.last_learner_submit = 0.0
        self.counts = {"submitted": 0, "shared": 0, "superseded": 0, "rejected": 0,
                       "cancelled": 0, "failed": 0, "completed": 0}

    @property
    def client(self):
        """The Dask client, once connected (None before, and after close)."""
        return self.cluster.client

    @property
    def address(self) -> str | None:
        return self.cluster.address

    def profiles(self) -> list[Profile]:
        """Profiles of the workers, most threads first: where cached results may come from."""
        return self.cluster.profiles()

    @property
    def threads(self) -> int:
        return self.cluster.threads

    # --- starting and stopping -------------------------------------------------------
    def start_soon(self) -> None:
        """Begin connecting (embedded: start the workers) without waiting for it."""
        if self._start_task is None:
            self._start_task = asyncio.ensure_future(self._start())

    async def started(self) -> None:
        self.start_soon()
        try:
            await asyncio.shield(self._start_task)
        except Exception as exc:
            self._start_task = None  # try again on the next request
            raise EngineUnavailable(5, f"the training engine is unavailable: {exc}") from exc

    async def _start(self) -> None:
        client = await self.cluster.connect()
        client.subscribe_topic(TOPIC, self._on_event)

    async def close(self) -> None:
        for handle in list(self._owned.values()):
            handle.release()
        for running in list(self._jobs.values()):
            if running.watcher:
                running.watcher.cancel()
        self._jobs.clear()
        if self._start_task and not self._start_task.done():
            self._start_task.cancel()
        self._start_task = None  # an app started again (a second lifespan) connects again
        await self.cluster.close()

    # --- submitting -------------------------------------------------------------------
    def pending(self) -> int:
        """Learners' jobs of this process that are waiting or running."""
        jobs = list(self._jobs.values())  # one atomic copy: page routes ask from other threads
        return sum(1 for r in jobs if not r.background and r.outcome is None)

    def retry_after(self) -> int:
        """Seconds until the queue has room, roughly: queued jobs x typical job / threads."""
        typical = sorted(self._durations)[len(self._durations) // 2] if self._durations else 2.0
        return max(1, min(60, math.ceil(self.pending() * typical / max(1, self.threads))))

    async def submit(self, key: str, fn: Callable, *args, priority: int = LEARNER_PRIORITY,
                     owner: tuple[str, str] | None = None, background: bool = False,
                     on_result: Callable[[Any], None] | None = None) -> Handle:
        """Hold the job named `key` (started if no one runs it yet); see the module docstring.

        on_result(value) runs once per job (in a thread) before any holder sees the value:
        where a result is stored, so whoever is told it is done finds it stored."""
        previous = self._owned.get(owner) if owner else None
        if previous is not None and previous.key == key and not previous.released:
            return self._hold(previous._running, owner, replace=previous)
        running = self._jobs.get(key)
        if running is None:
            if not background:
                self._admit(owner)
                if owner is not None and priority == LEARNER_PRIORITY:
                    priority -= self._active_of(owner[0])  # each learner's first run goes first
            await self.started()
            running = self._jobs.get(key)  # someone may have started it meanwhile
        if running is None:
            running = self._start_job(key, fn, args, priority, background, on_result)
        else:
            self.counts["shared"] += 1
            if not background and running.background:
                running.background = False  # a learner wants it now: it counts, and stays
        if not background:
            self.last_learner_submit = time.monotonic()
            self._yield_to_learner()
        return self._hold(running, owner, replace=previous)

    def _admit(self, owner: tuple[str, str] | None) -> None:
        if self.pending() >= self.settings.max_queue:
            self.counts["rejected"] += 1
            raise QueueFull(self.retry_after(), f"{self.pending()} runs are queued; the limit is "
                                                f"{self.settings.max_queue}")
        if owner is not None:
            mine = self._active_of(owner[0])
            previous = self._owned.get(owner)
            if previous is not None and not previous.done:
                mine -= 1  # this request replaces it
            if mine >= self.settings.max_jobs_per_learner:
                self.counts["rejected"] += 1
                raise QueueFull(self.retry_after(), f"you already have {mine} runs training")

    def _active_of(self, learner: str) -> int:
        """How many runs this learner has waiting or training."""
        return sum(1 for (who, _), h in list(self._owned.items())
                   if who == learner and not h.done and not h.released)

    def _start_job(self, key: str, fn: Callable, args: tuple, priority: int, background: bool,
                   on_result: Callable[[Any], None] | None) -> Running:
        future = self.client.submit(fn, *args, key=key, priority=priority, pure=False, retries=0)
        running = Running(key=key, future=future, background=background)
        self._jobs[key] = running
        self._histories.setdefault(key, [])
        self._histories.move_to_end(key)
        running.watcher = asyncio.ensure_future(self._watch(running, fn, args, priority, on_result))
        self.counts["submitted"] += 1
        return running

    def _hold(self, running: Running, owner, replace: Handle | None) -> Handle:
        running.holders += 1
        handle = Handle(self, running, owner)
        if replace is not None and not replace.released and replace.key != running.key:
            self.counts["superseded"] += 1
            replace.superseded = True
            replace.release()
        if owner is not None:
            self._owned[owner] = handle
        return handle

    def _yield_to_learner(self) -> None:
        """A learner goes ahead of background filling: release background jobs (they stop at
        their next report and are filled again later, when the engine is idle)."""
        background = [r for r in list(self._jobs.values()) if r.background and r.outcome is None]
        excess = self.pending() + len(background) - max(1, self.threads)
        for running in sorted(background, key=lambda r: -r.started)[:max(0, excess)]:
            running.holders = 0  # the newest first: the older ones are nearer their end
            self._drop(running, cancel=True)

    async def _watch(self, running: Running, fn, args, priority, on_result) -> None:
        """Wait for the job's outcome; resubmit once if it stopped while someone still waited
        (a release and a new request for the same key can cross on the way to the worker)."""
        for attempt in range(2):
            try:
                value = await running.future
                if on_result is not None:
                    try:
                        await asyncio.to_thread(on_result, value)
                    except Exception:
                        log.exception("storing the result of %s failed", running.key)
                running.outcome = ("ok", value)
                self._durations = (self._durations + [time.monotonic() - running.started])[-50:]
                self.counts["completed"] += 1
                break
            except asyncio.CancelledError:
                if self._jobs.get(running.key) is not running or running.holders <= 0:
                    raise
                running.outcome = ("error", JobCancelled(running.key))
                break
            except JobCancelled as exc:
                if attempt == 0 and running.holders > 0 and self.client is not None:
                    running.future = self.client.submit(fn, *args, key=running.key, priority=priority,
                                                        pure=False, retries=0)
                    self._histories[running.key] = []
                    continue
                running.outcome = ("error", exc)
                self.counts["cancelled"] += 1
            except Exception as exc:  # the job raised: keep serving
                log.warning("job %s failed: %s: %s", running.key, type(exc).__name__, exc)
                running.outcome = ("error", JobFailed(f"{type(exc).__name__}: {exc}"))
                self.counts["failed"] += 1
                break
        running.notify()
        if running.holders <= 0:
            self._drop(running, cancel=False)
        else:  # the result lives on in `running.outcome` for its holders; free the worker's copy
            running.future.release()

    def _release(self, handle: Handle) -> None:
        if handle.owner is not None and self._owned.get(handle.owner) is handle:
            del self._owned[handle.owner]
        running = handle._running
        running.holders -= 1
        running.notify()
        if running.holders <= 0:
            self._drop(running, cancel=running.outcome is None)

    def _drop(self, running: Running, cancel: bool) -> None:
        if self._jobs.get(running.key) is running:
            del self._jobs[running.key]
        if cancel:
            self.counts["cancelled"] += 1
            if running.watcher and not running.watcher.done():
                running.watcher.cancel()
            running.outcome = running.outcome or ("error", JobCancelled(running.key))
            running.notify()
        try:
            running.future.release()  # no holder left anywhere: the scheduler lets it go
        except Exception:
            pass
        if running.key not in self._jobs:
            self._histories.pop(running.key, None)

    # --- progress events ----------------------------------------------------------------
    def _on_event(self, event) -> None:
        _, message = event
        key = message.get("key")
        if key is None:
            return
        if message.get("end"):
            if key not in self._jobs:
                self._histories.pop(key, None)
            return
        history = self._histories.get(key)
        if history is None:
            history = self._histories[key] = []
            while len(self._histories) > KEPT_HISTORIES + len(self._jobs):
                oldest = next(k for k in self._histories if k not in self._jobs)
                del self._histories[oldest]
        body = {k: v for k, v in message.items() if k not in ("key", "worker")}
        if history and body.get("seq", 0) == 0:  # the job started again (resubmitted)
            history.clear()
        history.append(body)
        running = self._jobs.get(key)
        if running is not None:
            running.notify()

    # --- what the engine is doing -------------------------------------------------------
    def status(self) -> dict:
        return {"mode": self.mode, "connected": self.client is not None,
                "scheduler": self.address,
                "workers": self.cluster.workers, "threads": self.threads,
                "profiles": [p.token for p in self.profiles()],
                "pending": self.pending(), "max_queue": self.settings.max_queue,
                "background": sum(1 for r in list(self._jobs.values()) if r.background and r.outcome is None),
                "counts": dict(self.counts)}
