"""A job as this web process sees it, one holder's handle on it, and the ways a job ends.

The engine (app/serving/engine.py) makes them; callers hold a Handle:

    async for event in handle.events(): ...   # progress events, from the first one
    result = await handle.result()            # the job's value; JobFailed, JobCancelled, Superseded
    handle.release()                          # always (or use `async with handle:`)
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator

from app.serving.worker.job_context import JobCancelled

if TYPE_CHECKING:
    from app.serving.engine import Engine

__all__ = ["EngineUnavailable", "Handle", "JobCancelled", "JobFailed", "QueueFull", "Running", "Superseded"]


class QueueFull(Exception):
    """Too many jobs waiting: come back in `retry_after` seconds (HTTP 503 + Retry-After)."""

    def __init__(self, retry_after: int, reason: str):
        super().__init__(reason)
        self.retry_after = retry_after
        self.reason = reason


class JobFailed(Exception):
    """The job raised: its message, for the log; learners get a short notice."""


class EngineUnavailable(QueueFull):
    """The scheduler cannot be reached (yet): also a 503."""


class Superseded(JobCancelled):
    """A newer request for the same learner and slot replaced this one."""


@dataclass
class Running:
    key: str
    future: Any
    background: bool
    started: float = field(default_factory=time.monotonic)
    holders: int = 0
    outcome: tuple | None = None  # ("ok", value) or ("error", exception)
    watcher: asyncio.Task | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        self.wake.set()
        self.wake = asyncio.Event()


class Handle:
    """One holder's interest in a job: follow its events, await its result, release it."""

    def __init__(self, engine: "Engine", running: Running, owner: tuple[str, str] | None):
        self.key = running.key
        self.owner = owner
        self._engine = engine
        self._running = running
        self.released = False
        self.superseded = False

    @property
    def done(self) -> bool:
        return self._running.outcome is not None

    @property
    def over(self) -> bool:
        """Nothing more will come: the job ended, or this handle was released or superseded."""
        return self.done or self.released

    def take(self, index: int) -> tuple[list[dict], int]:
        """(progress events from number `index` on, the index to ask for next time)."""
        history = self._engine._histories.get(self.key, [])
        return history[index:], max(index, len(history))

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait for news (an event, the end, a release); False when `timeout` passed first."""
        if self.over:
            return True
        try:
            await asyncio.wait_for(self._running.wake.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def events(self) -> AsyncIterator[dict]:
        """Every progress event of the job, from its first, until it ends."""
        index = 0
        while True:
            batch, index = self.take(index)
            for event in batch:
                yield event
            if self.superseded:
                raise Superseded(self.key)
            if self.over:
                return
            await self.wait()

    async def result(self) -> Any:
        """The job's return value; raises JobFailed, JobCancelled or Superseded."""
        while True:
            if self.superseded:
                raise Superseded(self.key)
            if self._running.outcome is not None:
                status, value = self._running.outcome
                if status == "ok":
                    return value
                raise value
            if self.released:
                raise JobCancelled(self.key)
            await self._running.wake.wait()

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._engine._release(self)

    async def __aenter__(self) -> "Handle":
        return self

    async def __aexit__(self, *exc) -> None:
        self.release()
