"""Settings read from the environment, with defaults that work on a fresh clone."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Settings:
    content_dir: Path = ROOT / "content"
    templates_dir: Path = ROOT / "templates"
    static_dir: Path = ROOT / "static"
    database_path: Path = ROOT / "var" / "progress.sqlite3"  # learners' progress
    cache_entries: int = 512  # widget results kept in memory
    warm_cache: bool = True  # compute every widget's default result at start-up
    max_concurrent_jobs: int = 2  # training jobs running at once (2 cores)
    # torch threads per process: tiny models gain nothing from a second thread, and two
    # jobs with two spinning threads each on two cores slow each other down many times over
    torch_threads: int = 1

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ
        defaults = cls()
        return cls(
            content_dir=Path(env.get("COURSE_CONTENT_DIR", defaults.content_dir)),
            database_path=Path(env.get("COURSE_DB", defaults.database_path)),
            cache_entries=int(env.get("COURSE_CACHE_ENTRIES", defaults.cache_entries)),
            warm_cache=env.get("COURSE_WARM_CACHE", "1") not in ("0", "false", "no"),
            max_concurrent_jobs=int(env.get("COURSE_MAX_JOBS", defaults.max_concurrent_jobs)),
            torch_threads=int(env.get("COURSE_TORCH_THREADS", defaults.torch_threads)),
        )
