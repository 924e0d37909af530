"""The web process's idle fill: precompute while no learner is waiting (see the package docstring)."""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Callable

from app.course.content import Course
from app.serving.engine import JobCancelled, JobFailed
from app.serving.precompute.moves import Move, moves
from widgets.base import Widget

log = logging.getLogger(__name__)

IDLE_S = 3.0  # the web process fills only after this long without a learner's request
BATCH = 64


class BackgroundFill:
    """Fills the cache in the order above while the engine has nothing else to do: it waits
    until no learner has asked for anything for IDLE_S seconds, keeps at most one job per
    worker thread, and the engine releases its jobs as soon as a learner needs the worker."""

    def __init__(self, jobs, widgets: dict[str, Widget], course: Callable[[], Course], idle_s: float = IDLE_S):
        self.jobs = jobs
        self.widgets = widgets
        self.course = course  # the course as it is now (the app's CourseLoader.course)
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
        engine = self.jobs.engine
        await engine.started()
        widgets = self.widgets
        plan = moves(await asyncio.to_thread(self.course), widgets)
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
