"""Where the engine's jobs run: the three cluster modes, connecting, and the workers' profiles.

Settings.scheduler (COURSE_SCHEDULER) picks the mode:
  ""              embedded: a scheduler and worker processes, one per core, one thread
                  each, at a lower CPU priority than the web process (Settings.worker_priority:
                  SCHED_IDLE by default, or nice 10), all in a child process
                  that lives as long as this one (app/serving/embedded.py; `make serve`)
  tcp://HOST:PORT cluster: an existing Dask scheduler, whose workers (`dask worker
                  tcp://HOST:PORT --nthreads 1`, on any machine with the project installed)
                  do the work
  inprocess       Dask workers as threads of this process, shared by every app in it (tests)

    cluster = Cluster(settings)
    client = await cluster.connect()   # an asynchronous distributed.Client; every worker set up
    cluster.profiles()                 # the workers' profiles (app/serving/keys.py), most threads first
    cluster.threads                    # worker threads now
    await cluster.close()

Every worker runs CourseWorkerSetup as it joins (app/serving/worker/job_context.py). The
workers this process starts (embedded, in-process) train as this process's settings say;
the workers of a remote cluster, as theirs. Which profiles the workers compute with is what
the result cache is looked up under, so the list is refreshed as workers join and leave.
"""
from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading

from app.serving.embedded import LOOPBACK_ANY_PORT, EmbeddedCluster
from app.serving.keys import Profile, local_profile
from app.serving.worker.job_context import CourseWorkerSetup, profile_token

log = logging.getLogger(__name__)

MODES = ("cluster", "embedded", "inprocess")
WORKER_REFRESH_S = 2.0  # how often the list of joined or departed workers is refreshed
EMBEDDED_NICE = 10  # embedded workers yield the CPU to the web process (worker_priority "nice")


def mode_of(scheduler: str) -> str:
    mode = "cluster" if scheduler.startswith(("tcp://", "tls://")) else scheduler or "embedded"
    if mode not in MODES:
        raise ValueError(f"COURSE_SCHEDULER={scheduler!r}: expected tcp://HOST:PORT, "
                         f"'inprocess' or nothing (an embedded cluster)")
    return mode


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


# --- one engine's connection --------------------------------------------------------------
class Cluster:
    def __init__(self, settings):
        self.settings = settings
        self.mode = mode_of(settings.scheduler)
        self.client = None
        self.address: str | None = None
        self._local = None  # the embedded cluster's process, when this one started it
        self._refresher: asyncio.Task | None = None
        self._workers: dict[str, tuple[str, int]] = {}  # address -> (profile token, threads)
        # embedded and in-process workers compute with this machine's profile from the start;
        # a remote cluster's are known once its workers answer
        self._profiles: list[Profile] = [] if self.mode == "cluster" else [local_profile(settings.lab_device)]

    async def connect(self):
        """Start the workers (embedded, in-process) or reach the scheduler; the client."""
        from distributed import Client

        if self.mode == "embedded":
            self._local = await EmbeddedCluster.start(self.settings.worker_count)
            address, nice = self._local.address, EMBEDDED_NICE
        elif self.mode == "inprocess":
            address, nice = await asyncio.to_thread(_inprocess_address, 2), 0
        else:
            address, nice = self.settings.scheduler, 0
        client = await Client(address, asynchronous=True, timeout=20, name=f"course-web-{os.getpid()}")
        own = self.mode != "cluster"
        await client.register_plugin(CourseWorkerSetup(
            self.settings.torch_threads, nice, device=self.settings.device if own else None,
            corpus_path=self.settings.corpus_path if own else None,
            idle=self.mode == "embedded" and self.settings.worker_priority == "idle"))
        self.client, self.address = client, address
        await self.refresh()
        self._refresher = asyncio.ensure_future(self._keep_refreshing())
        log.info("engine: %s mode, scheduler %s, %d worker threads", self.mode, address, self.threads)
        return client

    async def close(self) -> None:
        if self._refresher:
            self._refresher.cancel()
        if self.client is not None:
            client, self.client = self.client, None
            try:
                await client.close(timeout=5)
            except Exception:
                log.debug("closing the Dask client failed", exc_info=True)
        if self._local is not None:
            local, self._local = self._local, None
            await local.close()

    # --- workers and their profiles ---------------------------------------------------
    async def _keep_refreshing(self) -> None:
        while True:
            await asyncio.sleep(WORKER_REFRESH_S)
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.debug("refreshing the worker list failed", exc_info=True)

    async def refresh(self) -> None:
        identity = await self.client.scheduler.identity()
        workers = identity.get("workers", {})
        if set(workers) != set(self._workers):
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
    def workers(self) -> int:
        return len(self._workers)

    @property
    def threads(self) -> int:
        return sum(count for _, count in self._workers.values())
