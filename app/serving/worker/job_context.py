"""What a job sees while it runs on a Dask worker: progress reports and cancellation.

    from app.serving.worker.job_context import report
    report({"done": 3, "total": 10})   # followers get it; raises JobCancelled when no one wants the job

`report` sends the event through the scheduler (`Worker.log_event` on one topic, which every
web process subscribes to), and first checks the worker's own state of the task: once every
client has released the job, the scheduler releases the task and the worker marks it
cancelled, so the job stops at its next report instead of training for no one. Called
outside a worker (a test calling the function directly) it does nothing.

This module runs on the workers: it imports neither FastAPI nor the web app.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from functools import lru_cache
from pathlib import Path

TOPIC = "course-progress"
RUNNING_STATES = {"executing", "long-running", "resumed"}


class JobCancelled(Exception):
    """Raised inside a job that nobody wants any more (and returned as its outcome)."""


def current() -> tuple[object | None, str | None]:
    """(the Dask worker, the running task's key), or (None, None) outside a worker."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None, None
    return worker, worker.get_current_task()


def wanted() -> bool:
    """Whether some client still wants the job running in this thread."""
    worker, key = current()
    if worker is None:
        return True
    task = worker.state.tasks.get(key)
    return task is not None and task.state in RUNNING_STATES


_sent = threading.local()  # (key, how many events it has sent) of the job in this thread


def report(event: dict) -> None:
    """Send `event` (msgpack-able: dicts, lists, numbers, strings) to the job's followers,
    numbered from 0 in "seq" (a follower seeing 0 again knows the job started over)."""
    worker, key = current()
    if worker is None:
        return
    task = worker.state.tasks.get(key)
    if task is None or task.state not in RUNNING_STATES:
        raise JobCancelled(f"{key}: every viewer left")
    last_key, count = getattr(_sent, "job", (None, 0))
    seq = count if last_key == key else 0
    _sent.job = (key, seq + 1)
    worker.log_event(TOPIC, {**event, "key": key, "seq": seq})


def finished() -> None:
    """Tell followers the job ended (done, failed or cancelled): they drop what they kept."""
    worker, key = current()
    if worker is not None:
        worker.log_event(TOPIC, {"key": key, "end": True})


def profile_token() -> str:
    """The profile (torch/device/CPU kernel set) results computed here are stored under."""
    from app.serving.keys import local_profile
    from widgets.lab import runtime

    return local_profile(runtime.default_device()).token


@lru_cache(maxsize=4)
def code_version_here(corpus_path: Path) -> str:
    """The code version of the sources this worker process loaded (computed as it joins)."""
    from app.serving.keys import code_version

    return code_version(corpus_path)


def host() -> str:
    return socket.gethostname()


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # the lab can be used without distributed installed
    WorkerPlugin = object  # type: ignore[misc,assignment]


class CourseWorkerSetup(WorkerPlugin):
    """Run on every worker as it joins: the lab's device and corpus (the web process's settings
    for the workers it starts; a worker of a remote cluster uses its own, COURSE_DEVICE and
    COURSE_CORPUS where it was started), one torch thread (tiny models gain nothing from more,
    and jobs on the other cores would be slowed down many times over), optionally a lower CPU
    priority than the web process (embedded mode: pages stay fast while every core trains;
    Settings.worker_priority says how much lower),
    the widgets imported, the code version computed and the matmul rate measured (the speed
    meters' yardstick) before the first job arrives."""

    name = "course-worker-setup"

    def __init__(self, torch_threads: int = 1, nice: int = 0, device: str | None = None,
                 corpus_path: Path | None = None, idle: bool = False):
        self.torch_threads = torch_threads
        self.nice = nice
        self.idle = idle
        self.device = device  # None: this worker's own settings
        self.corpus_path = corpus_path

    def setup(self, worker) -> None:
        import torch

        from app.settings import Settings
        from widgets.lab import runtime

        own = Settings.from_env()
        corpus = self.corpus_path or own.corpus_path
        runtime.configure(device=own.device if self.device is None else self.device, corpus_path=corpus)
        torch.set_num_threads(self.torch_threads)
        if self.nice or self.idle:
            lower_priority(self.nice, idle=self.idle)
        from widgets.registry import all_widgets

        all_widgets()
        code_version_here(Path(corpus))
        from widgets.lab import speed

        speed.matmul_rate()  # the speed meters' yardstick, timed once now rather than in a first job


def lower_priority(nice: int, idle: bool = False) -> None:
    """Lower the CPU priority of every thread of this process (Linux keeps one per thread;
    threads started later inherit it from the thread that starts them): `nice` more, and with
    `idle` Linux's SCHED_IDLE policy, under which a thread runs only on CPU time that no other
    thread wants, and a thread of any other process that wakes up (a web request) takes the CPU
    from it at once, where a nice thread may finish its time slice first."""
    try:
        threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]
    for tid in threads:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
            if idle:
                os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        except (OSError, AttributeError):  # AttributeError: no SCHED_IDLE (not Linux)
            pass


def use_torch_threads(count: int) -> None:
    """torch's thread count is kept per thread under OpenMP: set it in the job's own thread."""
    import torch

    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
