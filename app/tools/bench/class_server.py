"""The load bench's server: the course as a teacher serves a class (`make serve
WEB_PROCESSES=n`: n web processes, each with its share of the cores' embedded workers), ready
as it is before the class (every process's workers up and its pages pre-rendered), and the
precompute the bench runs before its loads."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from app.settings import ROOT
from app.tools.bench.server import serving

# a class is served with two web processes on two cores (README, "Serving a class"): one
# process's event loop is busy most of a hundred learners' first seconds
WEB_PROCESSES = 2


@contextlib.contextmanager
def server(cache_url: str, web_processes: int = WEB_PROCESSES, **env_extra: str):
    """The course served as `make serve WEB_PROCESSES=n` serves it, ready for the class."""
    workdir = tempfile.mkdtemp(prefix="course-load-")
    clock_file = Path(workdir) / "review-clock"  # run_clock moves it during a load
    env = {"COURSE_WARM_CACHE": "0", "COURSE_DB": f"{workdir}/progress.sqlite3", "COURSE_CACHE_URL": cache_url,
           "COURSE_CLOCK_FILE": str(clock_file), "COURSE_WEB_PROCESSES": str(web_processes), **env_extra}
    with serving(env, uvicorn_args=("--workers", str(web_processes)) if web_processes > 1 else ()) as running:
        base = running.base
        wait_until_ready(base, web_processes)
        yield base, running.process.pid, Path(workdir) / "progress.sqlite3", clock_file


def wait_until_ready(base: str, web_processes: int, timeout_s: float = 120.0) -> None:
    """Until every web process has its workers up and its cached fragments rendered, as a
    teacher's server is before the class (each new connection may reach another process)."""
    ready: dict[int, dict] = {}
    deadline = time.monotonic() + timeout_s
    while len(ready) < web_processes and time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            status = httpx.get(base + "/api/engine", timeout=2).json()
            if status["engine"]["connected"] and status["prerendered"]["finished"]:
                ready[status["process"]["pid"]] = status["prerendered"]
        time.sleep(0.1)
    for pid, prerendered in ready.items():
        print(f"  web process {pid} pre-rendered {prerendered['rendered']} cached fragments "
              f"in {prerendered['seconds']:.1f} s at start-up", flush=True)
    if len(ready) < web_processes:
        print(f"  only {len(ready)} of {web_processes} web processes were ready after {timeout_s:.0f} s", flush=True)


def precompute_for(cache_url: str, radius: int) -> None:
    """The bench's moves, computed before the loads (`python -m app precompute`)."""
    print(f"precompute (radius {radius}) into {cache_url}:", flush=True)
    env = {**os.environ, "COURSE_CACHE_URL": cache_url, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "app", "precompute", "--radius", str(radius)], cwd=ROOT, env=env, check=False)
    print(f"precompute took {time.monotonic() - started:.0f} s of wall time", flush=True)
