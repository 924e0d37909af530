"""The engine: keyed jobs on Dask distributed, with progress, a bounded queue and cancellation.

Where the work runs (Settings.scheduler, COURSE_SCHEDULER):
  ""              an embedded LocalCluster of worker processes, one per core, one thread
                  each, at a lower CPU priority than the web process (what `make serve` does)
  tcp://HOST:PORT an existing Dask scheduler, whose workers (`dask worker tcp://HOST:PORT
                  --nthreads 1`, on any machine with the project installed) do the work
  inprocess       Dask workers as threads of this process, shared by every app in it (tests)
The code path is the same in all three: an asynchronous `distributed.Client` on the web
process's event loop, so no route ever blocks while a job runs.

A job's Dask key is the caller's key (for widgets, the cache key), so identical requests from
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
import atexit
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

from app.serving.keys import Profile, local_profile
from app.serving.worker.job_context import TOPIC, CourseWorkerSetup, JobCancelled

log = logging.getLogger(__name__)

LEARNER_PRIORITY = 10
PRECOMPUTE_PRIORITY = 0
BACKGROUND_PRIORITY = -10
KEPT_HISTORIES = 256  # event histories of other processes' running jobs, kept for late joiners
WORKER_REFRESH_S = 2.0  # how often the engine looks for joined or departed workers
EMBEDDED_NICE = 10  # embedded workers yield the CPU to the web process
# The scheduler serves its HTTP routes even without a dashboard, on 8787 unless told otherwise:
# any free loopback port, so two clusters on one machine never collide
LOOPBACK_ANY_PORT = "127.0.0.1:0"


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


# --- the in-process cluster shared by every app of a process (tests) ----------------------
_inprocess_lock = threading.Lock()
_inprocess_cluster = None


def _inprocess_address(threads: int) -> str:
    global _inprocess_cluster
    with _inprocess_lock:
        if _inprocess_cluster is None:
            from distributed import LocalCluster

            _inprocess_cluster = LocalCluster(
                n_workers=1, threads_per_worker=threads, processes=False, protocol="tcp",
                host="127.0.0.1", dashboard_address=LOOPBACK_ANY_PORT, silence_logs=logging.ERROR)
            atexit.register(_close_inprocess)
        return _inprocess_cluster.scheduler_address


def _close_inprocess() -> None:
    global _inprocess_cluster
    if _inprocess_cluster is not None:
        cluster, _inprocess_cluster = _inprocess_cluster, None
        try:
            cluster.close(timeout=10)
        except Exception:  # at exit: nothing more to do
            pass


def _embedded_cluster(workers: int):
    """A LocalCluster of worker processes on loopback (blocking: run it in a thread)."""
    import dask
    from distributed import LocalCluster

    # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536: glibc then hands freed
    # memory back at once, and torch's per-step tensors are mapped and faulted in again every
    # step; a widget's training ran 2.5x slower in a worker than in a plain process (warmup:
    # 3.9 s against 1.55 s). Unset (None), glibc keeps its adaptive default.
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, protocol="tcp",
            host="127.0.0.1", dashboard_address=LOOPBACK_ANY_PORT, silence_logs=logging.ERROR,
            env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})


# --- one job as this web process sees it --------------------------------------------------
@dataclass
class _Running:
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

    def __init__(self, engine: "Engine", running: _Running, owner: tuple[str, str] | None):
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


# --- the engine ---------------------------------------------------------------------------
class Engine:
    def __init__(self, settings):
        self.settings = settings
        self.mode = ("cluster" if settings.scheduler.startswith(("tcp://", "tls://"))
                     else settings.scheduler or "embedded")
        if self.mode not in ("cluster", "embedded", "inprocess"):
            raise ValueError(f"COURSE_SCHEDULER={settings.scheduler!r}: expected tcp://HOST:PORT, "
                             f"'inprocess' or nothing (an embedded cluster)")
        self.client = None
        self.address = None
        self._cluster = None  # the embedded LocalCluster, when this engine started one
        self._start_task: asyncio.Task | None = None
        self._refresher: asyncio.Task | None = None
        self._jobs: dict[str, _Running] = {}
        self._histories: OrderedDict[str, list] = OrderedDict()
        self._owned: dict[tuple[str, str], Handle] = {}
        self._workers: dict[str, tuple[str, int]] = {}  # address -> (profile token, threads)
        self._profiles: list[Profile] = [] if self.mode == "cluster" else [local_profile(settings.lab_device)]
        self._durations: list[float] = []
        self.last_learner_submit = 0.0
        self.counts = {"submitted": 0, "shared": 0, "superseded": 0, "rejected": 0,
                       "cancelled": 0, "failed": 0, "completed": 0}

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
        from distributed import Client

        if self.mode == "embedded":
            self._cluster = await asyncio.to_thread(_embedded_cluster, self.settings.worker_count)
            address, nice = self._cluster.scheduler_address, EMBEDDED_NICE
        elif self.mode == "inprocess":
            address, nice = await asyncio.to_thread(_inprocess_address, 2), 0
        else:
            address, nice = self.settings.scheduler, 0
        client = await Client(address, asynchronous=True, timeout=20,
                              name=f"course-web-{os.getpid()}")
        # workers this process starts train as its settings say; a remote cluster's, as theirs
        own = self.mode != "cluster"
        await client.register_plugin(CourseWorkerSetup(
            self.settings.torch_threads, nice, device=self.settings.device if own else None,
            corpus_path=self.settings.corpus_path if own else None))
        client.subscribe_topic(TOPIC, self._on_event)
        self.client, self.address = client, address
        await self._refresh_workers()
        self._refresher = asyncio.ensure_future(self._keep_refreshing())
        log.info("engine: %s mode, scheduler %s, %d worker threads", self.mode, address, self.threads)

    async def close(self) -> None:
        for handle in list(self._owned.values()):
            handle.release()
        for running in list(self._jobs.values()):
            if running.watcher:
                running.watcher.cancel()
        self._jobs.clear()
        if self._refresher:
            self._refresher.cancel()
        if self._start_task and not self._start_task.done():
            self._start_task.cancel()
        self._start_task = None  # an app started again (a second lifespan) connects again
        if self.client is not None:
            client, self.client = self.client, None
            try:
                await client.close(timeout=5)
            except Exception:
                log.debug("closing the Dask client failed", exc_info=True)
        if self._cluster is not None:
            cluster, self._cluster = self._cluster, None
            await asyncio.to_thread(cluster.close, 10)

    # --- workers and their profiles ---------------------------------------------------
    async def _keep_refreshing(self) -> None:
        while True:
            await asyncio.sleep(WORKER_REFRESH_S)
            try:
                await self._refresh_workers()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.debug("refreshing the worker list failed", exc_info=True)

    async def _refresh_workers(self) -> None:
        identity = await self.client.scheduler.identity()
        workers = identity.get("workers", {})
        if set(workers) != set(self._workers):
            from app.serving.worker.job_context import profile_token

            tokens = await self.client.run(profile_token) if workers else {}
            self._workers = {addr: (tokens.get(addr, ""), info.get("nthreads", 1))
                             for addr, info in workers.items() if tokens.get(addr)}
            threads: dict[str, int] = {}
            for token, count in self._workers.values():
                threads[token] = threads.get(token, 0) + count
            found = [Profile.parse(t) for t in sorted(threads, key=lambda t: -threads[t])]
            if found or self.mode == "cluster":
                self._profiles = found

    def profiles(self) -> list[Profile]:
        """Profiles of the workers, most threads first: where cached results may come from."""
        return list(self._profiles)

    @property
    def threads(self) -> int:
        return sum(count for _, count in self._workers.values())

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
                   on_result: Callable[[Any], None] | None) -> _Running:
        future = self.client.submit(fn, *args, key=key, priority=priority, pure=False, retries=0)
        running = _Running(key=key, future=future, background=background)
        self._jobs[key] = running
        self._histories.setdefault(key, [])
        self._histories.move_to_end(key)
        running.watcher = asyncio.ensure_future(self._watch(running, fn, args, priority, on_result))
        self.counts["submitted"] += 1
        return running

    def _hold(self, running: _Running, owner, replace: Handle | None) -> Handle:
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

    async def _watch(self, running: _Running, fn, args, priority, on_result) -> None:
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

    def _drop(self, running: _Running, cancel: bool) -> None:
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
                "workers": len(self._workers), "threads": self.threads,
                "profiles": [p.token for p in self._profiles],
                "pending": self.pending(), "max_queue": self.settings.max_queue,
                "background": sum(1 for r in list(self._jobs.values()) if r.background and r.outcome is None),
                "counts": dict(self.counts)}
