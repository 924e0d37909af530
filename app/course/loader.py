"""The course as the web app serves it: loaded once, reloaded file by file as authors edit.

    loader = CourseLoader(settings.content_dir, settings.content_recheck_s)   # app.state.course
    loader.course()      # app.course.content.Course, reloaded only when a chapter file changed
    loader.exercises()   # id -> app.course.exercises.Exercise, likewise

Each file is parsed again only when its modification time or size changes, and the files
are looked at no more often than every `recheck_s` seconds (app/course/freshness.py). A
chapter whose edit breaks it keeps being served in the last version that loaded, with the
error in the log; one that never loaded is listed in Course.broken. Every cache lives in
the loader, so each app (and each test's app) has its own.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path

from app.course.content import Chapter, ContentError, Course, parse_chapter
from app.course.exercises import Exercise, load_exercises
from app.course.freshness import Freshness

log = logging.getLogger(__name__)


class CourseLoader:
    def __init__(self, content_dir: Path, recheck_s: float = 0.0):
        self.content_dir = Path(content_dir)
        self.freshness = Freshness(recheck_s)
        self._lock = threading.Lock()
        self._course: tuple[tuple, Course] | None = None
        self._parsed: dict[Path, tuple[tuple, Chapter | None, str | None]] = {}  # file -> (stamp, chapter, error)
        self._last_good: dict[Path, Chapter] = {}
        self._exercises: tuple[tuple, dict[str, Exercise]] | None = None

    # --- chapters -----------------------------------------------------------------------
    def course(self) -> Course:
        """The course under content_dir/chapters, reloaded only when a file changed."""
        chapters_dir = self.content_dir / "chapters"
        files, key = self.freshness.checked(("chapters", chapters_dir), lambda: _files_and_stamps(chapters_dir))
        with self._lock:
            hit = self._course
            if hit and hit[0] == key:
                return hit[1]
            chapters: list[Chapter] = []
            broken: dict[str, str] = {}
            for path, stamp in zip(files, key):
                chapter, error = self._chapter_of(path, stamp)
                if chapter is None:
                    broken[_slug_of_file(path)] = error or "it does not load"
                elif any(c.slug == chapter.slug for c in chapters):
                    log.error("chapter file %s uses slug %r, taken by another file: it is not served",
                              path, chapter.slug)
                else:
                    chapters.append(chapter)
            try:
                course = Course(chapters, broken)
            except Exception:
                if hit is None:
                    raise
                log.exception("the course could not be assembled; serving the last one that was")
                course = hit[1]
            self._course = (key, course)
            return course

    def _chapter_of(self, path: Path, stamp: tuple) -> tuple[Chapter | None, str | None]:
        """(the chapter to serve for this file, why the file itself does not load)."""
        hit = self._parsed.get(path)
        if hit and hit[0] == stamp:
            return hit[1], hit[2]
        try:
            chapter, error = parse_chapter(path), None
            self._last_good[path] = chapter
        except Exception as exc:  # any failure, not only ContentError: one file must not stop the rest
            error = str(exc) if isinstance(exc, ContentError) else f"{type(exc).__name__}: {exc}"
            chapter = self._last_good.get(path)
            log.error("chapter file %s does not load (%s); %s", path, error,
                      "serving the last version that loaded" if chapter else "its page is an error page",
                      exc_info=not isinstance(exc, ContentError))
        self._parsed[path] = (stamp, chapter, error)
        return chapter, error

    # --- coding exercises -----------------------------------------------------------------
    def exercises(self) -> dict[str, Exercise]:
        """id -> Exercise, in chapter order, reloaded when a file changes (a broken one is left
        out with an error in the log; app.course.exercises.check_exercises names the problems)."""
        directory = self.content_dir / "exercises"
        if not directory.is_dir():
            return {}
        signature = self.freshness.checked(("exercises", directory), lambda: _signature(directory))
        hit = self._exercises
        if hit is None or hit[0] != signature:
            hit = self._exercises = (signature, load_exercises(self.content_dir))
        return hit[1]


def _files_and_stamps(chapters_dir: Path) -> tuple[list[Path], tuple]:
    files = sorted(chapters_dir.glob("*.md"))
    return files, tuple(_stamp(p) for p in files)


def _stamp(path: Path) -> tuple:
    info = path.stat()
    return (path.name, info.st_mtime_ns, info.st_size)


def _slug_of_file(path: Path) -> str:
    return re.sub(r"^[0-9]+-", "", path.stem)


def _signature(directory: Path) -> tuple:
    """Every source file's path and mtime: checked on each page, so os.scandir (whose entries
    carry their stat) rather than Path.rglob, and no __pycache__."""
    found = []
    pending = [str(directory)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        pending.append(entry.path)
                elif entry.is_file():
                    found.append((entry.path, entry.stat().st_mtime_ns))
    return tuple(sorted(found))
