"""Real services for the serving tests, each on a free loopback port, each stopped by its pid.

    with services.Stack(tmp_path) as stack:
        redis_url = stack.redis()                       # redis-server
        scheduler = stack.dask_scheduler()              # `dask scheduler`
        stack.dask_worker(scheduler, "w1")              # `dask worker ... --nthreads 1`
        base = stack.web(COURSE_SCHEDULER=scheduler)    # uvicorn app.main:create_app
        stack.stop(base)                                # one of them (a restart)
        stack.kill(base)                                # or SIGKILL it (a crash)
    # leaving the block stops every process the stack started

`Probe(scheduler)` asks the workers what their threads run, so a test can tell that closing
a stream freed the worker rather than guess it from the timing of other requests.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from app.tools.bench import server
from app.tools.bench.server import free_port

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
START_TIMEOUT_S = 120.0
REDIS_SERVER = os.environ.get("COURSE_REDIS_SERVER", "/usr/bin/redis-server")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _dask() -> list[str]:
    found = Path(sys.executable).parent / "dask"
    return [str(found)] if found.exists() else [shutil.which("dask") or "dask"]


def worker_env(**extra) -> dict:
    """What a worker process needs: the project (and the tests' job helpers) importable, one
    torch thread, the CPU."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]),
                OMP_NUM_THREADS="1", COURSE_DEVICE="cpu", PYTHONUNBUFFERED="1", **extra)


class Stack:
    """Processes started for one test module; every one is stopped by its pid at the end."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.processes: dict[str, tuple[subprocess.Popen, Path]] = {}

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc) -> None:
        for name in list(self.processes):
            self.stop(name)

    def _start(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        log_path = self.workdir / f"{name.replace('/', '_').replace(':', '_')}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = (process, log_path)
        return process

    def log(self, name: str) -> str:
        return self.processes[name][1].read_text(errors="replace")[-4000:]

    def _wait(self, name: str, ready) -> None:
        process = self.processes[name][0]
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}:\n{self.log(name)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start within {START_TIMEOUT_S:.0f} s:\n{self.log(name)}")
            time.sleep(0.1)

    def kill(self, name: str) -> None:
        """SIGKILL, as a crash or the OOM killer would: no shutdown code runs."""
        process, _ = self.processes.pop(name)
        process.kill()
        process.wait()

    def stop(self, name: str) -> None:
        process, _ = self.processes.pop(name)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    # --- the services -----------------------------------------------------------------
    def redis(self) -> str:
        port = free_port()
        name = f"redis:{port}"
        self._start(name, [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no", "--dir", str(self.workdir)], dict(os.environ))
        self._wait(name, lambda: port_open(port))
        return f"redis://127.0.0.1:{port}/0"

    def dask_scheduler(self) -> str:
        port = free_port()
        address = f"tcp://127.0.0.1:{port}"
        self._start(address, _dask() + ["scheduler", "--host", "127.0.0.1", "--port", str(port),
                                        "--dashboard-address", "127.0.0.1:0"], worker_env())
        self._wait(address, lambda: port_open(port))
        return address

    def dask_worker(self, scheduler: str, name: str) -> None:
        self._start(f"worker:{name}", _dask() + ["worker", scheduler, "--nthreads", "1", "--nworkers", "1",
                                                  "--name", name, "--no-dashboard", "--host", "127.0.0.1"],
                    worker_env())

    def wait_for_workers(self, scheduler: str, count: int) -> None:
        from distributed import Client

        with Client(scheduler, timeout=30) as client:
            client.wait_for_workers(count, timeout=START_TIMEOUT_S)

    def web(self, log_level: str = "warning", uvicorn_args: tuple[str, ...] = (), **env) -> str:
        """A web process (app/tools/bench/server.py starts it, as it starts the benchmarks');
        log_level "info" writes its access log too (see `log`); uvicorn_args ("--workers", "2")
        makes it several, as `make serve WEB_PROCESSES=2` does."""
        log_path = self.workdir / f"web-{len(self.processes)}-{time.monotonic_ns()}.log"
        full_env = {"COURSE_DB": str(self.workdir / f"progress-{log_path.stem}.sqlite3"),
                    "COURSE_WARM_CACHE": "0", "COURSE_DEVICE": "cpu", "PYTHONUNBUFFERED": "1"}
        full_env.update(env)  # COURSE_DB too: several processes, or a restart, on one database
        web = server.start(full_env, log_path=log_path, timeout=START_TIMEOUT_S,
                           uvicorn_args=("--log-level", log_level, *uvicorn_args))
        self.processes[web.base] = (web.process, log_path)
        return web.base


class Probe:
    """A Dask client of the test's own on a cluster, to see what its worker threads run.
    Connect it before the moment you time from: connecting takes a while."""

    def __init__(self, scheduler: str):
        from distributed import Client

        self.client = Client(scheduler, timeout=30)

    def __enter__(self) -> "Probe":
        return self

    def __exit__(self, *exc) -> None:
        self.client.close()

    def busy(self) -> int:
        """Worker threads running a job now (a cancelled job counts until it really stops)."""
        return sum(self.client.run(lambda dask_worker: len(dask_worker.active_threads)).values())

    def wait_busy(self, count: int = 1, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.busy() < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"fewer than {count} worker threads got busy within {timeout:.0f} s")
            time.sleep(0.02)

    def last_report(self) -> float:
        """When the latest progress report of any job reached the scheduler (its clock; 0 if none)."""
        from app.serving.worker.job_context import TOPIC

        events = self.client.get_events(TOPIC)
        return events[-1][0] if events else 0.0

    def wait_reported(self, after: float, timeout: float = 120) -> None:
        """Wait for a report newer than `after` (a `last_report()`): the job is past its set-up,
        so its next report comes within one report interval."""
        deadline = time.monotonic() + timeout
        while self.last_report() <= after:
            if time.monotonic() > deadline:
                raise AssertionError(f"no job reported within {timeout:.0f} s")
            time.sleep(0.02)

    def seconds_until_idle(self, since: float, timeout: float = 10) -> float:
        """Seconds from `since` (time.monotonic()) until no worker thread runs a job."""
        while True:
            busy = self.busy()
            elapsed = time.monotonic() - since
            if not busy or elapsed > timeout:
                return elapsed
            time.sleep(0.01)
