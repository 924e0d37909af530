"""Helpers for the class tests (issue 24): a class in the test's database, a teacher who opened
the teacher link, learners who joined, and the forms' fields."""
from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.learning.progress import ProgressStore

SAME_ORIGIN = {"origin": "http://testserver"}
CHAPTER, QUESTION = "learning-rate", "lr-meaning"  # a single-answer question


def make_class(database_path, name: str = "Tuesday's class") -> tuple[str, str]:
    """(class id, teacher token) of a new class in the database."""
    store = ProgressStore(database_path)
    try:
        info, token = store.create_class(name)
    finally:
        store.close()
    return info.id, token


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def open_teacher_link(client: TestClient, class_id: str, token: str) -> str:
    """Visit the teacher link as a browser would; returns the page's CSRF value."""
    first = client.get(f"/teach/{class_id}?token={token}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == f"/teach/{class_id}", first.text[:300]
    page = client.get(f"/teach/{class_id}")
    assert page.status_code == 200, page.text[:300]
    return csrf_of(page.text)


def join(client: TestClient, class_id: str, nickname: str = "") -> None:
    response = client.post(f"/classes/{class_id}/join", data={"nickname": nickname}, headers=SAME_ORIGIN,
                           follow_redirects=False)
    assert response.status_code == 303, response.text[:300]


def teacher_post(client: TestClient, url: str, csrf: str, **fields):
    return client.post(url, data={"csrf": csrf, **fields}, headers=SAME_ORIGIN, follow_redirects=False)


def open_poll(client: TestClient, class_id: str, csrf: str, chapter: str = CHAPTER, question: str = QUESTION) -> None:
    response = teacher_post(client, f"/teach/{class_id}/poll", csrf, question=f"{chapter}/{question}")
    assert response.status_code == 303, response.text[:300]


def current_poll(client: TestClient) -> dict:
    """The open poll as the learner's banner sees it."""
    [mine] = client.get("/api/classes/me").json()["classes"]
    return mine["poll"]


def vote(client: TestClient, class_id: str, choices: list[int], round_: int | None = None):
    poll = current_poll(client)
    return client.post(f"/classes/{class_id}/vote", headers=SAME_ORIGIN, follow_redirects=False,
                       data={"poll": poll["id"], "round": round_ or poll["round"], "choice": [str(c) for c in choices]})


def step(client: TestClient, class_id: str, csrf: str, poll_id: int, action: str):
    response = teacher_post(client, f"/teach/{class_id}/poll/{poll_id}", csrf, action=action)
    assert response.status_code == 303, response.text[:300]
