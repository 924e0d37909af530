"""Security of classes (issue 24, item 5): every teacher route refuses a learner and a wrong
token with 403; the token is exchanged for a strict cookie and never seen again, in a page or
in the server's log; teacher forms need the CSRF value and this site's Origin; a learner never
reads the class's statistics before the teacher shows them."""
from __future__ import annotations

import dataclasses
import re
import urllib.request

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

import services
from app.course.content import load_course
from app.settings import Settings
from class_helpers import (CHAPTER, SAME_ORIGIN, current_poll, join, make_class, open_poll, open_teacher_link,
                           teacher_post, vote)

PREDICT = next(q.id for q in load_course(Settings().content_dir).get(CHAPTER).quizzes.values() if q.predict)
OPERATOR_TOKEN = "operator-secret-0123456789"


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, teacher_token=OPERATOR_TOKEN)


@pytest.fixture
def world(app, settings):
    """A class with a teacher, an open poll and one learner who voted."""
    class_id, token = make_class(settings.database_path)
    teacher = TestClient(app)
    csrf = open_teacher_link(teacher, class_id, token)
    open_poll(teacher, class_id, csrf)
    learner = TestClient(app)
    join(learner, class_id)
    vote(learner, class_id, [0])
    return {"class_id": class_id, "token": token, "teacher": teacher, "csrf": csrf, "learner": learner,
            "poll_id": current_poll(learner)["id"]}


def teacher_routes(app) -> list[tuple[str, str]]:
    from app.main import routers

    found = [(method, route.path) for router in routers() for route in router.routes
             if isinstance(route, APIRoute) and route.path.startswith("/teach") for method in sorted(route.methods)]
    assert len(found) >= 12, found
    return found


def fill(path: str, world: dict) -> str:
    return (path.replace("{class_id}", world["class_id"]).replace("{poll_id}", str(world["poll_id"]))
            .replace("{slug}", CHAPTER).replace("{qid}", PREDICT))


def test_every_teacher_route_refuses_a_learner_with_403(app, world):
    """All but the operator's sign-in form, which shows nothing but the form."""
    form = world["learner"].get("/teach")
    assert form.status_code == 200 and 'action="/teach/login"' in form.text and "Tuesday" not in form.text
    assert "/teach/classes" not in form.text
    for method, path in teacher_routes(app):
        if (method, path) == ("GET", "/teach"):
            continue
        url = fill(path, world)
        for who in (world["learner"], TestClient(app)):  # a learner of the class, and a stranger
            response = who.request(method, url, headers=SAME_ORIGIN, data={"csrf": "x", "token": "y" * 20,
                                                                          "action": "reveal", "name": "n"})
            assert response.status_code == 403, (method, url, response.status_code, response.text[:200])


def test_a_wrong_token_gets_403_in_the_link_and_in_the_cookie(app, world, settings):
    class_id, token = world["class_id"], world["token"]
    stranger = TestClient(app)
    wrong = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (wrong, "short", "", token + "x", "%00" * 20):
        assert stranger.get(f"/teach/{class_id}?token={bad}", follow_redirects=False).status_code == 403, bad
    stranger.cookies.set("teacher", wrong, path=f"/teach/{class_id}")
    assert stranger.get(f"/teach/{class_id}").status_code == 403
    other_id, _ = make_class(settings.database_path, "Another class")
    thief = TestClient(app)
    thief.cookies.set("teacher", token, path=f"/teach/{other_id}")
    assert thief.get(f"/teach/{other_id}").status_code == 403, "one class's token opens no other class"


def test_the_token_becomes_a_strict_httponly_cookie_and_leaves_the_url(app, world):
    class_id, token = world["class_id"], world["token"]
    first = TestClient(app).get(f"/teach/{class_id}?token={token}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == f"/teach/{class_id}"
    cookie = first.headers["set-cookie"]
    for flag in ("HttpOnly", "SameSite=strict", f"Path=/teach/{class_id}", "Max-Age="):
        assert flag in cookie, (flag, cookie)
    assert first.headers["cache-control"] == "no-store"


def test_no_page_or_answer_carries_the_token_after_the_exchange(app, world):
    class_id, token, teacher = world["class_id"], world["token"], world["teacher"]
    pages = [f"/teach/{class_id}", f"/teach/{class_id}/export.csv", f"/teach/{class_id}/export.json",
             f"/teach/{class_id}/run/{CHAPTER}/{PREDICT}", "/", f"/chapters/{CHAPTER}"]
    for url in pages:
        response = teacher.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert token not in response.text and token not in str(response.headers), url
    for url in (f"/classes/{class_id}", "/api/classes/me", "/api/progress/export"):
        assert token not in world["learner"].get(url).text, url


def test_teacher_forms_need_the_csrf_value_and_this_sites_origin(world):
    class_id, teacher, csrf = world["class_id"], world["teacher"], world["csrf"]
    url = f"/teach/{class_id}/poll/{world['poll_id']}"
    assert teacher.post(url, data={"action": "reveal"}, headers=SAME_ORIGIN).status_code == 403
    wrong = csrf[:-1] + ("1" if csrf.endswith("0") else "0")  # one character off, never the same
    assert teacher.post(url, data={"action": "reveal", "csrf": wrong}, headers=SAME_ORIGIN).status_code == 403
    assert teacher.post(url, data={"action": "reveal", "csrf": csrf},
                        headers={"origin": "https://evil.example"}).status_code == 403
    assert teacher.post(url, data={"action": "reveal", "csrf": csrf}).status_code == 403, "no Origin, no Referer"
    assert teacher.post(url, data={"action": "reveal", "csrf": csrf},
                        headers={"referer": "http://testserver/teach/x"}, follow_redirects=False).status_code == 303


def test_learner_forms_refuse_another_sites_origin(app, world):
    class_id = world["class_id"]
    newcomer = TestClient(app)
    for url in (f"/classes/{class_id}/join", f"/classes/{class_id}/vote", f"/classes/{class_id}/leave"):
        response = newcomer.post(url, data={}, headers={"origin": "https://evil.example"})
        assert response.status_code == 403, url


def test_a_learner_never_reads_the_class_statistics_before_they_are_shown(app, world):
    class_id, learner = world["class_id"], world["learner"]
    other = TestClient(app)
    join(other, class_id)
    page = other.get(f"/classes/{class_id}").text
    assert "How the class voted" not in page and "1 vote" not in page
    banner = other.get("/api/classes/me").json()
    assert set(banner["classes"][0]["poll"]) == {"id", "round", "accepting", "revealed", "votes_shown", "voted",
                                                  "version", "question"}
    for url in (f"/teach/{class_id}/export.csv", f"/teach/{class_id}/export.json", f"/teach/{class_id}/live"):
        assert other.get(url).status_code == 403, url
    exported = other.get("/api/progress/export").json()["tables"]
    assert exported["poll_votes"] == [], "a learner's export holds their own votes only"
    assert learner.get("/api/progress/export").json()["tables"]["poll_votes"][0]["learner"] == \
        learner.cookies["learner"]


def test_class_ids_and_tokens_are_unguessable(settings):
    made = [make_class(settings.database_path, f"c{i}") for i in range(20)]
    assert len({c for c, _ in made}) == 20 and len({t for _, t in made}) == 20
    for class_id, token in made:
        assert re.fullmatch(r"[A-Za-z0-9_-]{16}", class_id), "96 random bits (secrets.token_urlsafe(12))"
        assert len(token) == 32, "192 random bits"


def test_the_servers_log_never_holds_a_token(tmp_path):
    """A real uvicorn with its access log on: the teacher link's first visit is logged without
    its token, and nothing later logs it either."""
    with services.Stack(tmp_path) as stack:
        database = tmp_path / "progress.sqlite3"
        base = stack.web(log_level="info", COURSE_DB=str(database), COURSE_SCHEDULER="inprocess",
                         COURSE_CACHE_URL="memory://", COURSE_TEACHER_TOKEN=OPERATOR_TOKEN)
        class_id, token = make_class(database)
        opener = urllib.request.build_opener(NoRedirect)
        for url in (f"/teach/{class_id}?token={token}", f"/teach/{class_id}?token={token[::-1]}",
                    f"/teach/{class_id}?x=1&token={token}&y=2"):
            try:
                opener.open(base + url, timeout=30)
            except urllib.error.HTTPError as answered:
                assert answered.code in (303, 403)
        log = stack.processes[base][1].read_text(errors="replace")
        assert f"/teach/{class_id}?token=[redacted]" in log, log[-2000:]
        assert token not in log and token[::-1] not in log


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
