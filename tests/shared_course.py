"""The course in content/, loaded once per test session for the tests that read it (an app
keeps its own CourseLoader; app.course.content.load_course parses every file each time)."""
from __future__ import annotations

from functools import lru_cache

from app.course.content import Course, load_course
from app.settings import Settings


@lru_cache(maxsize=1)
def shared_course() -> Course:
    return load_course(Settings().content_dir)
