"""Learners' progress: the cookie, visits and answers, reset, and durability."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.content import load_course
from app.main import create_app
from app.progress import COOKIE_NAME, ProgressStore
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "learning-rate"
QUIZZES = load_course(Settings().content_dir).get(CHAPTER).quizzes


def answer(client, qid: str, right: bool = True):
    quiz = QUIZZES[qid]
    selected = quiz.correct_indices if right else [next(o.index for o in quiz.options if not o.correct)]
    response = client.post(f"/api/quiz/{CHAPTER}/{qid}", json={"selected": selected})
    assert response.status_code == 200
    return response.json()


def sidebar_badge(html: str) -> str:
    return re.search(rf'<span[^>]*id="progress-{CHAPTER}">.*?</span>\s*</span>|<span[^>]*id="progress-{CHAPTER}"></span>',
                     html, re.S).group(0)


def test_first_visit_sets_an_httponly_samesite_cookie(client):
    response = client.get("/")
    header = response.headers["set-cookie"]
    assert header.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in header and "SameSite=lax" in header and "Path=/" in header
    assert "set-cookie" not in client.get("/").headers  # kept, not reissued


def test_a_malformed_cookie_is_replaced(client):
    client.cookies.set(COOKIE_NAME, "not a valid id!")
    response = client.get("/")
    assert response.cookies.get(COOKIE_NAME) not in (None, "not a valid id!")


def test_visit_and_answers_are_recorded_and_shown(client):
    home = client.get("/").text
    assert "is-visited" not in home
    client.get(f"/chapters/{CHAPTER}")
    answer(client, "lr-meaning", right=True)
    answer(client, "lr-sweep", right=False)
    answer(client, "lr-sweep", right=True)  # the latest answer counts
    answer(client, "cosine-end", right=False)
    total = len(QUIZZES)

    progress = client.get("/api/progress").json()[CHAPTER]
    assert progress == {"visited": True, "answered": 3, "correct": 2, "questions": total}

    home = client.get("/").text
    card = re.search(rf'<li class="chapter-card is-visited">.*?href="/chapters/{CHAPTER}".*?</li>', home, re.S)
    assert card and f"2/{total}" in card.group(0)
    page = client.get(f"/chapters/{CHAPTER}").text
    badge = sidebar_badge(page)
    assert 'aria-label="visited"' in badge and f">2/{total}<" in badge


def test_learners_do_not_see_each_other(app, client):
    client.get(f"/chapters/{CHAPTER}")
    answer(client, "lr-meaning")
    with TestClient(app) as other:
        assert other.get("/api/progress").json()[CHAPTER]["visited"] is False
        assert "is-visited" not in other.get("/").text


def test_reset_clears_progress(client):
    client.get(f"/chapters/{CHAPTER}")
    answer(client, "lr-meaning")
    response = client.post("/progress/reset", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert client.get("/api/progress").json()[CHAPTER] == {
        "visited": False, "answered": 0, "correct": 0, "questions": len(QUIZZES)}
    htmx = client.post("/progress/reset", headers={"HX-Request": "true"})
    assert htmx.status_code == 200 and htmx.headers["HX-Redirect"] == "/"


def test_progress_survives_a_restart(settings):
    with TestClient(create_app(settings)) as first:
        first.get(f"/chapters/{CHAPTER}")
        answer(first, "warmup-why")
        learner = first.cookies[COOKIE_NAME]
    assert settings.database_path.exists()
    with TestClient(create_app(settings)) as second:  # a fresh app over the same database
        second.cookies.set(COOKIE_NAME, learner)
        progress = second.get("/api/progress").json()[CHAPTER]
    assert progress["visited"] and progress["answered"] == 1 and progress["correct"] == 1


def test_database_parent_directories_are_created(tmp_path):
    store = ProgressStore(tmp_path / "a" / "b" / "progress.sqlite3")
    store.record_visit("x" * 20, CHAPTER)
    assert store.summary("x" * 20)[CHAPTER].visited


WRITER = textwrap.dedent("""
    import sys, time
    from app.progress import ProgressStore
    store = ProgressStore(sys.argv[1])
    store.record_visit(sys.argv[2], "learning-rate")
    store.record_answer(sys.argv[2], "learning-rate", "lr-meaning", [0], True)
    print("written", flush=True)
    time.sleep(60)  # killed long before this ends
""")


def test_progress_survives_sigkill(settings):
    learner = "killed-learner-0123456789"
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(settings.database_path), learner],
                               cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "written"
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    with TestClient(create_app(settings)) as client:
        client.cookies.set(COOKIE_NAME, learner)
        progress = client.get("/api/progress").json()[CHAPTER]
    assert progress["visited"] is True and progress["answered"] == 1 and progress["correct"] == 1


@pytest.mark.parametrize("removed", ["lr-meaning"])
def test_answers_to_removed_questions_are_not_counted(tmp_path, removed):
    store = ProgressStore(tmp_path / "p.sqlite3")
    store.record_answer("y" * 20, CHAPTER, removed, [0], True)
    store.record_answer("y" * 20, CHAPTER, "gone", [0], True)
    summary = store.summary("y" * 20, {CHAPTER: {removed}})
    assert summary[CHAPTER].answered == 1 and summary[CHAPTER].correct == 1
