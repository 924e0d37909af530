"""Settings read from the environment, with defaults that work on a fresh clone."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var"

_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_bytes(text: str) -> int:
    """'1073741824', '512MB', '2 GiB' -> bytes (k, M, G and T count in powers of 1024)."""
    match = _SIZE_RE.fullmatch(str(text))
    if not match:
        raise ValueError(f"not a size: {text!r} (try 512MB or 2GiB)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _flag(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() not in ("0", "false", "no", "off", "")


WORKER_PRIORITIES = ("idle", "nice")


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    value = value.strip().lower()
    if value not in allowed:
        raise SettingsError(f"{name}={value!r}: expected one of {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class Settings:
    content_dir: Path = ROOT / "content"
    templates_dir: Path = ROOT / "templates"
    static_dir: Path = ROOT / "static"
    # the text every widget trains on; part of every run's key (app/serving/keys.py)
    corpus_path: Path = ROOT / "content" / "data" / "tinyshakespeare.txt"
    # how often, in seconds, chapter and exercise files are checked for edits (0: every time)
    content_recheck_s: float = 1.0
    database_path: Path = VAR / "progress.sqlite3"  # learners' progress
    # Finished widget results: sqlite:///PATH (shared by the processes of one machine),
    # redis://HOST:PORT/DB (shared by several web hosts) or memory:// (one process, tests).
    cache_url: str = f"sqlite:///{VAR / 'results.sqlite3'}"
    cache_bytes: int = 1024**3  # the cache's size bound; the least recently used go first
    # Fill the cache in the background, at the lowest priority, whenever the engine is idle:
    # every widget's defaults first, then the chapters' placements, then one-control moves.
    warm_cache: bool = True
    # The engine that trains: "" starts an embedded Dask cluster (scheduler and worker
    # processes, in a child process: app/serving/embedded.py);
    # "tcp://HOST:PORT" uses a running Dask scheduler; "inprocess" runs Dask workers as
    # threads of this process (cheap to start, for tests).
    scheduler: str = ""
    workers: int = 0  # embedded worker processes; 0 means the cores shared among the web processes
    # web processes serving this machine (`make serve WEB_PROCESSES=2`: uvicorn --workers), each
    # with its own event loop and embedded cluster; a class of a hundred needs two on two cores
    # (README, "Serving a class"), one learner needs one
    web_processes: int = 1
    # the CPU priority of the embedded workers (app/serving/worker/job_context.py): "idle" (Linux's
    # SCHED_IDLE: training gets only the CPU time nothing else wants, and a page request takes
    # the CPU from it at once, so pages stay fast whatever trains) or "nice" (nice 10: training
    # keeps about a tenth of a core that other processes keep busy)
    worker_priority: str = "idle"
    max_queue: int = 32  # jobs this web process may have waiting or running; past it, 503
    # runs one learner may have waiting or training at once (a chapter page starts one per
    # uncached widget); each learner's first run is scheduled before anyone's second
    max_jobs_per_learner: int = 8
    # torch threads per process: tiny models gain nothing from a second thread, and two
    # jobs with two spinning threads each on two cores slow each other down many times over
    torch_threads: int = 1
    # where the lab trains: "cpu", "cuda", "cuda:1"...; "" picks CUDA when present, else the CPU
    # (each Dask worker applies its own: COURSE_DEVICE where the worker was started)
    device: str = ""
    # the largest request body taken (bytes); a bigger one is a 413 before it is read
    max_body_bytes: int = 256 * 1024
    # True behind a TLS-terminating proxy that sets X-Forwarded-Proto (and that is the only
    # way in): the learner cookie is then Secure when the proxy says the request was HTTPS
    trust_proxy: bool = False
    # Grading learners' code (app/exercises/grading.py): "auto" uses bubblewrap where it runs;
    # "rlimits" forces resource limits alone. Limits alone are used only for a server on
    # loopback, unless sandbox_unsafe_ok (COURSE_SANDBOX_UNSAFE_OK=1) says any address may.
    sandbox: str = "auto"
    sandbox_unsafe_ok: bool = False
    grading_cpu_s: int = 10
    grading_wall_s: float = 30.0
    grading_memory_bytes: int = 2 * 1024**3
    # The operator's secret for the teacher pages (/teach): with it set, an operator signs in
    # there and creates classes from the browser, as `python -m app class create` does. Empty:
    # classes are made from the command line only. At least 16 characters.
    teacher_token: str = ""
    # tests only: a file holding a number of seconds that the review schedule's clock runs
    # ahead of the real time (app/learning/clock.py), so a test moves time without sleeping
    clock_file: Path | None = None

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ
        defaults = cls()
        content_dir = Path(env.get("COURSE_CONTENT_DIR", defaults.content_dir))
        return cls(
            content_dir=content_dir,
            templates_dir=Path(env.get("COURSE_TEMPLATES_DIR", defaults.templates_dir)),
            static_dir=Path(env.get("COURSE_STATIC_DIR", defaults.static_dir)),
            corpus_path=Path(env.get("COURSE_CORPUS", content_dir / "data" / "tinyshakespeare.txt")),
            content_recheck_s=float(env.get("COURSE_CONTENT_RECHECK_S", defaults.content_recheck_s)),
            database_path=Path(env.get("COURSE_DB", defaults.database_path)),
            cache_url=env.get("COURSE_CACHE_URL", defaults.cache_url),
            cache_bytes=parse_bytes(env.get("COURSE_CACHE_BYTES", str(defaults.cache_bytes))),
            warm_cache=_flag(env.get("COURSE_WARM_CACHE"), defaults.warm_cache),
            scheduler=env.get("COURSE_SCHEDULER", defaults.scheduler).strip(),
            workers=int(env.get("COURSE_WORKERS", defaults.workers)),
            web_processes=max(1, int(env.get("COURSE_WEB_PROCESSES", defaults.web_processes))),
            worker_priority=_one_of("COURSE_WORKER_PRIORITY", env.get("COURSE_WORKER_PRIORITY", defaults.worker_priority),
                                    WORKER_PRIORITIES),
            max_queue=int(env.get("COURSE_MAX_QUEUE", defaults.max_queue)),
            max_jobs_per_learner=int(env.get("COURSE_MAX_JOBS_PER_LEARNER", defaults.max_jobs_per_learner)),
            torch_threads=int(env.get("COURSE_TORCH_THREADS", defaults.torch_threads)),
            device=env.get("COURSE_DEVICE", defaults.device).strip(),
            max_body_bytes=parse_bytes(env.get("COURSE_MAX_BODY", str(defaults.max_body_bytes))),
            trust_proxy=_flag(env.get("COURSE_TRUST_PROXY"), defaults.trust_proxy),
            sandbox=env.get("COURSE_SANDBOX", defaults.sandbox).strip() or "auto",
            sandbox_unsafe_ok=_flag(env.get("COURSE_SANDBOX_UNSAFE_OK"), defaults.sandbox_unsafe_ok),
            grading_cpu_s=int(env.get("COURSE_GRADING_CPU_S", defaults.grading_cpu_s)),
            grading_wall_s=float(env.get("COURSE_GRADING_WALL_S", defaults.grading_wall_s)),
            teacher_token=env.get("COURSE_TEACHER_TOKEN", defaults.teacher_token).strip(),
            clock_file=Path(env["COURSE_CLOCK_FILE"]) if env.get("COURSE_CLOCK_FILE") else None,
        )

    @property
    def worker_count(self) -> int:
        """Embedded worker processes: COURSE_WORKERS, or this web process's share of the cores
        it may use (each web process starts its own embedded cluster), at least one."""
        if self.workers > 0:
            return self.workers
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cores = os.cpu_count() or 1
        return max(1, cores // self.web_processes)

    @property
    def lab_device(self) -> str:
        """The device this process's lab trains on: `device`, or CUDA when present, else the CPU."""
        from widgets.lab.runtime import LabRuntime

        return LabRuntime(device=self.device).resolved_device()

    def configure_lab(self) -> None:
        """What this process trains with: the lab's device and corpus (widgets/lab/runtime.py)
        and torch's thread count. Process-wide, so called where a process starts: the web
        app's lifespan, the command-line tools (a Dask worker is set up by its plugin,
        app/serving/worker/job_context.py)."""
        import torch

        from widgets.lab import runtime

        runtime.configure(device=self.device, corpus_path=self.corpus_path)
        torch.set_num_threads(self.torch_threads)

    def check_files(self) -> None:
        """Raise SettingsError naming the variable to set for each folder or file that is not
        where these settings say (an installed wheel holds the code, not the course's files)."""
        expected = [("COURSE_CONTENT_DIR", self.content_dir, "the course's content/ folder", Path.is_dir),
                    ("COURSE_TEMPLATES_DIR", self.templates_dir, "the project's templates/ folder", Path.is_dir),
                    ("COURSE_STATIC_DIR", self.static_dir, "the project's static/ folder", Path.is_dir),
                    ("COURSE_CORPUS", self.corpus_path, "the training text, content/data/tinyshakespeare.txt",
                     Path.is_file)]
        missing = [f"{name}: {what} is not at {path}" for name, path, what, exists in expected if not exists(path)]
        if missing:
            raise SettingsError("The course's files are not where the settings say. Run from a checkout of "
                                "the project, or set: " + "; ".join(missing))


class SettingsError(RuntimeError):
    """A setting names something that is not there; the message says which variable to set."""
