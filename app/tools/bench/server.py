"""A course server of the caller's own: uvicorn running `app.main:create_app` in a subprocess
on a free loopback port, waited for until it answers, stopped by its pid.

    with serving({"COURSE_CACHE_URL": "memory://"}) as server:   # environment on top of os.environ
        httpx.get(server.base + "/api/widgets")

The benchmarks start theirs here, and so do the tests (tests/services.py's web processes and
tests/conftest.py's live server): one way to start a server and know it is up.
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from app.settings import ROOT

START_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    """Whether an HTTP server answers at `url` (any status counts)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            response.read()
        return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


class ServerFailed(RuntimeError):
    """The server exited, or did not answer in time; the message ends with its output."""


@dataclass
class Server:
    base: str  # http://127.0.0.1:PORT
    process: subprocess.Popen
    log_path: Path | None = None

    def log(self, chars: int = 5000) -> str:
        if self.log_path is None:
            return "(its output went to this process's)"
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self, timeout: float = 20) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(env: Mapping[str, str] | None = None, log_path: Path | None = None, ready_path: str = "/api/widgets",
          timeout: float = START_TIMEOUT_S, uvicorn_args: tuple[str, ...] = ()) -> Server:
    """A started server that answers `ready_path`; ServerFailed (the server stopped) if it
    exits first or takes longer than `timeout` seconds. `env` goes on top of os.environ;
    `log_path`: where its output goes (None: this process's own)."""
    port = free_port()
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    argv = [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning", *uvicorn_args]
    with open(log_path, "wb") if log_path else contextlib.nullcontext() as log:
        process = subprocess.Popen(argv, cwd=ROOT, env=full_env, stdout=log,
                                   stderr=subprocess.STDOUT if log else None)
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + timeout
    while not answers(server.base + ready_path):
        if process.poll() is not None or time.monotonic() > deadline:
            why = (f"exited with code {process.returncode}" if process.poll() is not None
                   else f"did not answer {ready_path} within {timeout:.0f} s")
            server.stop()
            raise ServerFailed(f"the server on {server.base} {why}; its output:\n{server.log()}")
        time.sleep(0.1)
    return server


@contextlib.contextmanager
def serving(env: Mapping[str, str] | None = None, **options) -> Iterator[Server]:
    """start(env, **options), stopped when the block ends."""
    server = start(env, **options)
    try:
        yield server
    finally:
        server.stop()
