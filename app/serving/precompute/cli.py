"""`python -m app precompute`: plan the settings, compute what is not cached, with a progress bar."""
from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import signal
import sys
import time
from dataclasses import dataclass

from app.course.content import load_course
from app.serving.cache import open_cache
from app.serving.engine import PRECOMPUTE_PRIORITY, Engine, JobCancelled, JobFailed
from app.serving.jobs import WidgetJobs
from app.serving.keys import code_version
from app.serving.precompute.moves import Move, moves
from app.settings import Settings
from widgets.base import Widget
from widgets.registry import all_widgets

log = logging.getLogger(__name__)


# --- the progress bar ---------------------------------------------------------------------
def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


class ProgressBar:
    """`[#####-----] 120/4000  3%  2.1 runs/s  ETA 30m48s` on one line of a terminal;
    a plain line every 30 s elsewhere."""

    def __init__(self, total: int, out=sys.stderr, width: int = 30):
        self.total, self.out, self.width = total, out, width
        self.started = time.monotonic()
        self.last_line = 0.0
        self.tty = out.isatty()

    def update(self, done: int, note: str = "") -> None:
        now = time.monotonic()
        if not self.tty and now - self.last_line < 30 and done < self.total:
            return
        self.last_line = now
        rate = done / max(now - self.started, 1e-9)
        eta = _duration((self.total - done) / rate) if rate > 0 and done else "?"
        filled = int(self.width * done / max(self.total, 1))
        line = (f"[{'#' * filled}{'-' * (self.width - filled)}] {done}/{self.total} "
                f"{100 * done / max(self.total, 1):3.0f}%  {rate:.2f} runs/s  ETA {eta}  {note}")
        if self.tty:
            self.out.write("\r" + line[:160].ljust(160))
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()


# --- python -m app precompute -------------------------------------------------------------
@dataclass
class Summary:
    planned: int = 0
    already: int = 0
    computed: int = 0
    failed: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    interrupted: bool = False

    def lines(self) -> list[str]:
        state = "interrupted (run it again to resume)" if self.interrupted else "done"
        return [f"precompute {state}: {self.planned} settings planned, {self.already} already cached, "
                f"{self.computed} computed, {self.failed} failed",
                f"CPU time of the computed runs: {self.cpu_s:.1f} s (summed over workers); "
                f"wall time {self.wall_s:.1f} s"]


async def run_precompute(settings, widgets: dict[str, Widget], planned: list[Move],
                         concurrency: int | None = None, out=sys.stderr) -> Summary:
    """Compute every planned setting that is not cached yet, `concurrency` at a time."""
    summary = Summary(planned=len(planned))
    started = time.monotonic()
    cache = open_cache(settings.cache_url, settings.cache_bytes)
    engine = Engine(settings)
    jobs = WidgetJobs(settings, engine, cache, code_version(settings.corpus_path))
    try:
        await engine.started()
        width = concurrency or max(2, 2 * engine.threads)
        todo = []
        for move in planned:
            if await asyncio.to_thread(jobs.is_cached, widgets[move.widget], move.values):
                summary.already += 1
            else:
                todo.append(move)
        out.write(f"{summary.planned} settings, {summary.already} already cached: computing "
                  f"{len(todo)} on {engine.threads} worker threads ({engine.mode} engine)\n")
        bar = ProgressBar(len(todo), out)
        bar.update(0)
        queue = iter(todo)

        async def worker() -> None:
            for move in queue:
                handle = await jobs.follow(widgets[move.widget], move.values, background=True,
                                           priority=PRECOMPUTE_PRIORITY)
                try:
                    item = await handle.result()
                    summary.computed += 1
                    summary.cpu_s += item["provenance"].get("cpu_time_s", 0.0)
                except (JobFailed, JobCancelled) as exc:
                    summary.failed += 1
                    log.warning("precompute %s %s failed: %s", move.widget, move.values, exc)
                finally:
                    handle.release()
                bar.update(summary.computed + summary.failed, f"{move.widget} {move.control}".strip())

        try:
            await asyncio.gather(*(worker() for _ in range(width)))
        except asyncio.CancelledError:
            summary.interrupted = True
        bar.close()
    except asyncio.CancelledError:  # Ctrl-C before the runs started (the engine still starting)
        summary.interrupted = True
    finally:
        summary.wall_s = time.monotonic() - started
        await engine.close()
        cache.close()
    return summary


def cancel_on_ctrl_c(loop: asyncio.AbstractEventLoop, task: asyncio.Task) -> None:
    """Ctrl-C cancels the run through the event loop, as asyncio.run does. Left to Python's default
    handler, the KeyboardInterrupt is raised wherever the main thread happens to be, and a
    library's broad `except` there (the in-process Dask workers run in this process) could
    swallow it: the precompute then ran on to the end. A second Ctrl-C gets the default again."""
    def first_ctrl_c() -> None:
        loop.remove_signal_handler(signal.SIGINT)
        task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, first_ctrl_c)
    except (NotImplementedError, RuntimeError):  # not the main thread, or no signals on this platform
        pass


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m app precompute",
                                     description="Fill the result cache with every widget's "
                                                 "placements and one-control moves.")
    parser.add_argument("--radius", type=int, default=None,
                        help="only moves at most this many slider positions away (default: all)")
    parser.add_argument("--widget", action="append", help="only this widget (repeatable)")
    parser.add_argument("--limit", type=int, default=None, help="stop after planning this many settings")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="runs submitted at once (default: twice the worker threads)")
    parser.add_argument("--dry-run", action="store_true", help="count the settings and stop")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    widgets = all_widgets()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("distributed").setLevel(logging.WARNING)  # its own INFO lines are not ours
    counting = time.monotonic()
    planned = list(itertools.islice(moves(load_course(settings.content_dir), widgets, args.radius,
                                          set(args.widget) if args.widget else None), args.limit))
    by_distance: dict[int, int] = {}
    for move in planned:
        by_distance[move.distance] = by_distance.get(move.distance, 0) + 1
    print(f"{len(planned)} settings to precompute (counted in {time.monotonic() - counting:.1f} s); "
          f"by distance: " + ", ".join(f"{d}: {n}" for d, n in sorted(by_distance.items())[:8])
          + (" ..." if len(by_distance) > 8 else ""), flush=True)
    if args.dry_run:
        return 0
    loop = asyncio.new_event_loop()
    task = loop.create_task(run_precompute(settings, widgets, planned, args.concurrency))
    cancel_on_ctrl_c(loop, task)
    try:
        summary = loop.run_until_complete(task)
    except KeyboardInterrupt:  # where the loop cannot take signals: stop the jobs, report what was done
        task.cancel()
        summary = loop.run_until_complete(task)
        summary.interrupted = True
    finally:
        loop.close()
    for line in summary.lines():
        print(line)
    return 1 if summary.failed else 0
