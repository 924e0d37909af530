"""Benchmark: how fast pages answer while learners' hostile code is being graded, and how
long one grading takes. Prints figures; asserts nothing (targets: pages p95 under 200 ms).

    .venv/bin/python -m app.tools.bench.exercises [--rounds N]

It serves the app in this process (uvicorn on a free loopback port, the embedded engine of
worker processes, as `make serve`), grades each hostile program and a reference solution
through HTTP, and meanwhile fetches a chapter page every 50 ms.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from app.course.exercises import load_exercises
from app.settings import Settings
from app.tools.bench.server import serving

HOSTILE = {
    "infinite loop": "while True:\n    pass\n",
    "fork bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
    "memory bomb": "b = []\nwhile True:\n    b.append(bytearray(64 * 1024**2))\n",
    "print 100 MB": "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1_000_000)\n",
}


def post(url: str, code: str) -> tuple[int, dict, float]:
    started = time.perf_counter()
    request = urllib.request.Request(url, json.dumps({"code": code}).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return response.status, json.loads(response.read()), time.perf_counter() - started


def page_times(url: str, stop: threading.Event, out: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
        out.append(time.perf_counter() - started)
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="exercises-bench-"))
    env = {"COURSE_DB": str(work / "p.sqlite3"), "COURSE_CACHE_URL": "memory://", "COURSE_WARM_CACHE": "0",
           "OMP_NUM_THREADS": "1"}
    solution = load_exercises(Settings().content_dir)["adamw"].solution
    programs = {**HOSTILE, "adamw reference solution": solution}
    with serving(env, ready_path="/") as server:
        base = server.base
        print(f"{'program':28s} {'status':>6s} {'passed':>6s} {'grading s':>9s} {'pages':>5s} "
              f"{'p50 ms':>7s} {'p95 ms':>7s} {'max ms':>7s}")
        for _ in range(args.rounds):
            for name, code in programs.items():
                times: list[float] = []
                stop = threading.Event()
                watcher = threading.Thread(target=page_times, args=(base + "/chapters/learning-rate", stop, times))
                watcher.start()
                status, body, took = post(base + "/api/exercises/adamw", code)
                stop.set()
                watcher.join()
                ms = sorted(t * 1000 for t in times)
                p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
                print(f"{name:28s} {status:6d} {str(body['passed']):>6s} {took:9.2f} {len(ms):5d} "
                      f"{statistics.median(ms):7.1f} {p95:7.1f} {ms[-1]:7.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
