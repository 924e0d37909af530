"""Learners' progress: the cookie, visits and answers, reset, export and delete, the schema's
version and migrations, one connection per request, and durability."""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shared_course import shared_course
from app.main import create_app
from app.learning.progress import MIGRATIONS, SCHEMA_VERSION, ProgressDB, ProgressStore
from app.web.learner import COOKIE_NAME

ROOT = Path(__file__).resolve().parents[2]
CHAPTER = "learning-rate"
QUIZZES = shared_course().get(CHAPTER).quizzes


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
    answer(client, "lr-sweep", right=True)  # right on the second try: the first answer is the score
    answer(client, "cosine-end", right=False)
    total = len(QUIZZES)

    progress = client.get("/api/progress").json()[CHAPTER]
    assert {k: progress[k] for k in ("visited", "answered", "first_correct", "hint_used", "questions")} == {
        "visited": True, "answered": 3, "first_correct": 1, "hint_used": 0, "questions": total}
    assert progress["quizzes"]["lr-sweep"]["attempts"] == 2 and progress["quizzes"]["lr-sweep"]["first_correct"] is False

    home = client.get("/").text
    card = re.search(rf'<li class="chapter-card is-visited">.*?href="/chapters/{CHAPTER}".*?</li>', home, re.S)
    assert card and f"1/{total}" in card.group(0)
    page = client.get(f"/chapters/{CHAPTER}").text
    badge = sidebar_badge(page)
    assert ">opened<" in badge and re.search(rf">1/{total}<span[^>]*> questions</span> right<", badge)


def test_learners_do_not_see_each_other(app, client):
    client.get("/")
    client.get(f"/chapters/{CHAPTER}")
    answer(client, "lr-meaning")
    with TestClient(app) as other:
        assert other.get("/api/progress").json()[CHAPTER]["visited"] is False
        assert "is-visited" not in other.get("/").text


def test_reset_clears_progress(client):
    client.get("/")
    client.get(f"/chapters/{CHAPTER}")
    answer(client, "lr-meaning")
    asked = client.post("/progress/reset", follow_redirects=False)  # not confirmed: nothing changes
    assert asked.status_code == 422 and 'name="confirm"' in asked.text and "tick the box" in asked.text
    assert client.get("/api/progress").json()[CHAPTER]["answered"] == 1
    response = client.post("/progress/reset", data={"confirm": "yes"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/?reset=1"
    assert client.get("/api/progress").json()[CHAPTER] == {
        "visited": False, "answered": 0, "first_correct": 0, "hint_used": 0, "questions": len(QUIZZES),
        "quizzes": {}, "checklists": {}}
    htmx = client.post("/progress/reset", data={"confirm": "yes"}, headers={"HX-Request": "true"})
    assert htmx.status_code == 200 and htmx.headers["HX-Redirect"] == "/?reset=1"


def test_progress_survives_a_restart(settings):
    with TestClient(create_app(settings)) as first:
        first.get("/")  # the cookie first: only a returning learner's visit is recorded
        first.get(f"/chapters/{CHAPTER}")
        answer(first, "warmup-why")
        learner = first.cookies[COOKIE_NAME]
    assert settings.database_path.exists()
    with TestClient(create_app(settings)) as second:  # a fresh app over the same database
        second.cookies.set(COOKIE_NAME, learner)
        progress = second.get("/api/progress").json()[CHAPTER]
    assert progress["visited"] and progress["answered"] == 1 and progress["first_correct"] == 1


def test_database_parent_directories_are_created(tmp_path):
    store = ProgressStore(tmp_path / "a" / "b" / "progress.sqlite3")
    store.record_visit("x" * 20, CHAPTER)
    assert store.summary("x" * 20)[CHAPTER].visited


WRITER = textwrap.dedent("""
    import sys, time
    from app.learning.progress import ProgressStore
    store = ProgressStore(sys.argv[1])
    store.record_visit(sys.argv[2], "learning-rate")
    store.record_quiz_attempt(sys.argv[2], "learning-rate", "lr-meaning", [0], True, 2)
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
    assert progress["visited"] is True and progress["answered"] == 1 and progress["first_correct"] == 1


@pytest.mark.parametrize("removed", ["lr-meaning"])
def test_answers_to_removed_questions_are_not_counted(tmp_path, removed):
    store = ProgressStore(tmp_path / "p.sqlite3")
    store.record_quiz_attempt("y" * 20, CHAPTER, removed, [0], True, 2)
    store.record_quiz_attempt("y" * 20, CHAPTER, "gone", [0], True, 2)
    summary = store.summary("y" * 20, {CHAPTER: {removed}})
    assert summary[CHAPTER].answered == 1 and summary[CHAPTER].first_correct == 1


# --- only returning learners write ------------------------------------------------------------

def rows(path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_a_crawler_without_cookies_writes_nothing(client, settings):
    for _ in range(5):
        client.cookies.clear()
        assert client.get(f"/chapters/{CHAPTER}").status_code == 200
        assert client.get("/").status_code == 200
    assert rows(settings.database_path, "visits") == 0 and rows(settings.database_path, "quiz_attempts") == 0
    client.get(f"/chapters/{CHAPTER}")  # now with the cookie the last page set
    assert rows(settings.database_path, "visits") == 1


# --- one connection per request, the score once per page ---------------------------------------

class Counting:
    """Counts connections taken from the pool, handed back, and newly opened, and the
    statements run on them."""

    def __init__(self, monkeypatch):
        self.taken = self.returned = self.opened = 0
        self.statements: list[str] = []
        checkout, checkin, connect = ProgressDB.checkout, ProgressDB.checkin, ProgressDB.connect
        counter = self

        def counted_checkout(db):
            conn = checkout(db)
            conn.set_trace_callback(counter.statements.append)
            counter.taken += 1
            return conn

        def counted_checkin(db, conn):
            conn.set_trace_callback(None)
            counter.returned += 1
            checkin(db, conn)

        def counted_connect(db):
            counter.opened += 1
            return connect(db)

        monkeypatch.setattr(ProgressDB, "checkout", counted_checkout)
        monkeypatch.setattr(ProgressDB, "checkin", counted_checkin)
        monkeypatch.setattr(ProgressDB, "connect", counted_connect)

    def reset(self):
        self.taken = self.returned = self.opened = 0
        self.statements.clear()


def test_a_chapter_view_is_one_connection_and_reads_the_answers_once(client, monkeypatch):
    client.get("/")
    answer(client, "lr-meaning")
    count = Counting(monkeypatch)
    assert client.get(f"/chapters/{CHAPTER}").status_code == 200
    assert count.taken == 1 and count.returned == 1, "one connection, handed back when the request ends"
    reads = [s for s in count.statements if s.startswith("SELECT chapter, question, attempt") and "quiz_attempts" in s]
    assert len(reads) == 1, f"the chapter's answers are read once per page, not once per question: {reads}"
    assert not any("CREATE TABLE" in s for s in count.statements), "the schema is made at start-up only"
    count.reset()
    assert client.get("/api/widgets").status_code == 200
    assert count.taken == 0, "a request that never touches progress takes no connection"


def test_requests_reuse_pooled_connections_instead_of_opening_their_own(client, monkeypatch):
    client.get("/")
    client.get(f"/chapters/{CHAPTER}")  # the pool has its connection now
    count = Counting(monkeypatch)
    for qid in list(QUIZZES)[:5]:  # a question takes no answer once it is right: five of them
        assert client.get(f"/chapters/{CHAPTER}").status_code == 200
        answer(client, qid)
    assert count.taken == count.returned == 10
    assert count.opened == 0, "closing SQLite's last connection checkpoints the WAL: an fsync per page"


def test_a_connection_handed_back_inside_a_transaction_is_rolled_back(tmp_path):
    db = ProgressDB(tmp_path / "p.sqlite3")
    db.migrate()
    conn = db.checkout()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO visits VALUES ('someone-0123456789', 'x', 0, 0)")
    db.checkin(conn)
    again = db.checkout()
    assert again is conn and not again.in_transaction
    assert again.execute("SELECT COUNT(*) FROM visits").fetchone()[0] == 0


# --- schema version and migrations ---------------------------------------------------------------

def test_a_new_database_is_at_the_current_version_in_wal_mode(tmp_path):
    path = tmp_path / "fresh.sqlite3"
    assert ProgressDB(path).migrate() == 0
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ProgressDB(path).migrate() == SCHEMA_VERSION, "a second start-up has nothing to do"


def test_a_database_from_before_versioning_is_migrated_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:  # what the unversioned code created on its first request
        conn.executescript("""
            CREATE TABLE visits (learner TEXT NOT NULL, chapter TEXT NOT NULL, first_at REAL NOT NULL,
                                 last_at REAL NOT NULL, PRIMARY KEY (learner, chapter));
            CREATE TABLE answers (learner TEXT NOT NULL, chapter TEXT NOT NULL, question TEXT NOT NULL,
                                  selected TEXT NOT NULL, correct INTEGER NOT NULL, answered_at REAL NOT NULL,
                                  PRIMARY KEY (learner, chapter, question));
            INSERT INTO answers VALUES ('old-learner-0123456789', 'learning-rate', 'lr-meaning', '[1]', 1, 0);
        """)
    assert ProgressDB(path).migrate() == 0
    store = ProgressStore(path)
    assert store.answers("old-learner-0123456789", CHAPTER) == {"lr-meaning": ([1], True)}
    record = store.quiz_records("old-learner-0123456789")[CHAPTER]["lr-meaning"]
    assert [a.number for a in record.attempts] == [1] and record.first_correct is True
    store.close()


def test_a_failing_migration_changes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "p.sqlite3"
    ProgressDB(path).migrate()
    monkeypatch.setattr("app.learning.progress.MIGRATIONS", MIGRATIONS + [("CREATE TABLE extra (learner TEXT)",
                                                                   "NOT SQL AT ALL")])
    monkeypatch.setattr("app.learning.progress.SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(sqlite3.OperationalError):
        ProgressDB(path).migrate()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert not conn.execute("SELECT name FROM sqlite_master WHERE name = 'extra'").fetchall()


# --- export and delete ---------------------------------------------------------------------------

def test_a_learner_exports_everything_stored_then_deletes_it(app, client, settings):
    client.get("/")
    client.get(f"/chapters/{CHAPTER}")
    answer(client, "lr-meaning")
    learner = client.cookies[COOKIE_NAME]
    with TestClient(app) as other:
        other.get("/")
        other.get(f"/chapters/{CHAPTER}")
    home = client.get("/").text
    assert 'href="/api/progress/export"' in home and 'href="/progress/delete"' in home
    assert 'action="/progress/delete"' in client.get("/progress/delete").text  # asks first

    export = client.get("/api/progress/export")
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    body = export.json()
    assert body["learner"] == learner
    assert {"visits", "quiz_attempts", "quiz_help"} <= set(body["tables"]) and "answers" not in body["tables"]
    assert [r["chapter"] for r in body["tables"]["visits"]] == [CHAPTER]
    assert [(r["question"], r["learner"], r["attempt"]) for r in body["tables"]["quiz_attempts"]] == [
        ("lr-meaning", learner, 1)]

    assert client.post("/progress/delete", follow_redirects=False).status_code == 422  # not confirmed
    assert client.get("/api/progress/export").json()["tables"]["visits"], "nothing deleted without a yes"
    deleted = client.post("/progress/delete", data={"confirm": "yes"}, follow_redirects=False)
    assert deleted.status_code == 303 and deleted.headers["location"] == "/?deleted=1"
    assert 'learner=""' in deleted.headers["set-cookie"] and "Max-Age=0" in deleted.headers["set-cookie"]
    with sqlite3.connect(settings.database_path) as conn:
        for table in body["tables"]:
            assert conn.execute(f"SELECT count(*) FROM {table} WHERE learner = ?", (learner,)).fetchone()[0] == 0
    assert rows(settings.database_path, "visits") == 1, "the other learner's visit is kept"
    client.cookies.set(COOKIE_NAME, learner)  # even with the old id, nothing is left
    assert all(not r for r in client.get("/api/progress/export").json()["tables"].values())


def test_a_visitor_without_a_cookie_exports_nothing_and_gets_no_cookie(client):
    export = client.get("/api/progress/export")
    assert export.json()["tables"] == {} and export.json()["learner"] is None
    assert "set-cookie" not in export.headers
    assert client.post("/progress/delete", data={"confirm": "yes"}, follow_redirects=False).status_code == 303
