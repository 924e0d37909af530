"""The web process's idle fill: precompute while no learner is waiting (see the package docstring)."""
from __future__ import annotations

import asyncio
import fcntl
import itertools
import logging
import os
import time
from pathlib import Path
from typing import Callable

from app.course.content import Course
from app.serving.engine import JobCancelled, JobFailed
from app.serving.precompute.moves import Move, moves
from widgets.base import Widget

log = logging.getLogger(__name__)

IDLE_S = 3.0  # the web process fills only after this long without a learner's request
BATCH = 64


class Share:
    """Which of the planned moves this web process fills when several serve one machine
    (Settings.web_processes): the k-th of n takes every n-th move from the k-th on, so no two
    train the same setting. k is the first of n lock files (beside the progress database) this
    process could lock; the lock lasts as long as the process, so a restarted process takes the
    share the one it replaces left."""

    def __init__(self, index: int = 0, of: int = 1, lock_fd: int | None = None):
        self.index, self.of, self._lock_fd = index, of, lock_fd

    @classmethod
    def claim(cls, folder: Path, processes: int) -> "Share | None":
        """This process's share, or None when all n are held (more processes than n)."""
        if processes <= 1:
            return cls()
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(processes):
            fd = os.open(folder / f"background-fill-{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return cls(index, processes, fd)
        return None

    def mine(self, position: int) -> bool:
        return position % self.of == self.index

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the file drops its lock
            self._lock_fd = None


class BackgroundFill:
    """Fills the cache in the order above while the engine has nothing else to do: it waits
    until no learner has asked for anything for IDLE_S seconds, keeps at most one job per
    worker thread, and the engine releases its jobs as soon as a learner needs the worker."""

    def __init__(self, jobs, widgets: dict[str, Widget], course: Callable[[], Course], idle_s: float = IDLE_S,
                 share: Share | None = None):
        self.jobs = jobs
        self.widgets = widgets
        self.course = course  # the course as it is now (the app's CourseLoader.course)
        self.idle_s = idle_s
        self.share = share or Share()
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
        self.share.release()

    def _idle(self) -> bool:
        engine = self.jobs.engine
        return (engine.client is not None and engine.pending() == 0
                and time.monotonic() - engine.last_learner_submit > self.idle_s)

    async def _run(self) -> None:
        engine = self.jobs.engine
        await engine.started()
        widgets = self.widgets
        plan = (move for position, move in enumerate(moves(await asyncio.to_thread(self.course), widgets))
                if self.share.mine(position))
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
