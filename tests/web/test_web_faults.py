"""Faults on real servers (uvicorn subprocesses on loopback ports, stopped by their pids):
a kill -9 in the middle of a burst of answers loses none that was acknowledged; two server
processes writing one database never show a learner "database is locked"; a body sent
without a length is refused at the cap, not read to its end.

The servers run the in-process engine (no worker processes: nothing here trains) and no
cache warm-up, so each starts in a few seconds; every burst is bounded in count and time.
"""
from __future__ import annotations

import http.client
import json
import secrets
import select
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest

import services

pytestmark = pytest.mark.slow  # each test starts one to three servers (seconds each)

FAST_SERVER = {"COURSE_SCHEDULER": "inprocess", "COURSE_WARM_CACHE": "0", "COURSE_CACHE_URL": "memory://"}
BURST_THREADS = 6
BURST_SECONDS = 20.0  # an upper bound: a burst stops long before, at its count


def connection(base: str) -> http.client.HTTPConnection:
    parts = urlsplit(base)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)


def questions(base: str) -> list[tuple[str, str, int]]:
    """(chapter, question id, an option's authored index) for every question of the course."""
    conn = connection(base)
    found = []
    try:
        conn.request("GET", "/api/chapters")
        slugs = [c["slug"] for c in json.loads(conn.getresponse().read())]
        for slug in slugs:
            conn.request("GET", f"/api/chapters/{slug}")
            chapter = json.loads(conn.getresponse().read())
            found += [(slug, q["id"], q["options"][0]["index"]) for q in chapter["quizzes"]]
    finally:
        conn.close()
    assert found, "the course has questions to answer"
    return found


def post_answer(conn, chapter: str, question: str, index: int, learner: str) -> tuple[int, bytes]:
    conn.request("POST", f"/api/quiz/{chapter}/{question}", body=json.dumps({"selected": [index]}),
                 headers={"Content-Type": "application/json", "Cookie": f"learner={learner}"})
    response = conn.getresponse()
    return response.status, response.read()


def exported(base: str, learner: str) -> dict[str, list[dict]]:
    """Every table's rows kept about `learner`, as the server exports them."""
    conn = connection(base)
    try:
        conn.request("GET", "/api/progress/export", headers={"Cookie": f"learner={learner}"})
        response = conn.getresponse()
        assert response.status == 200
        return json.loads(response.read())["tables"]
    finally:
        conn.close()


def stored_answers(base: str, learner: str) -> list[dict]:
    return exported(base, learner)["quiz_attempts"]


class Burst:
    """Threads posting answers, each under a fresh learner id, until `stop` is set or
    `total` were acknowledged. `acked` holds (learner, chapter, question, index) for every
    200 received; `statuses` counts every status; `broken` counts requests that got no answer."""

    def __init__(self, bases: list[str], asked: list[tuple[str, str, int]], total: int, visit_every: int = 0):
        self.bases, self.asked, self.total, self.visit_every = bases, asked, total, visit_every
        self.visits: list[tuple[str, str]] = []
        self.acked: list[tuple[str, str, str, int]] = []
        self.statuses: dict[int, int] = {}
        self.bodies_5xx: list[bytes] = []
        self.broken = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(BURST_THREADS)]

    def _run(self, number: int) -> None:
        base = self.bases[number % len(self.bases)]
        conn = connection(base)
        deadline = time.monotonic() + BURST_SECONDS
        sent = 0
        while not self.stop.is_set() and time.monotonic() < deadline:
            chapter, question, index = self.asked[(number + sent * BURST_THREADS) % len(self.asked)]
            sent += 1
            learner = secrets.token_urlsafe(18)
            try:
                status, body = post_answer(conn, chapter, question, index, learner)
                if status == 200 and self.visit_every and sent % self.visit_every == 0:
                    # a chapter view by a learner with the cookie: a visit row, another write
                    conn.request("GET", f"/chapters/{chapter}", headers={"Cookie": f"learner={learner}"})
                    response = conn.getresponse()
                    response.read()
                    with self.lock:
                        self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
                        if response.status == 200:
                            self.visits.append((learner, chapter))
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.broken += 1
                conn.close()
                if self.stop.is_set():
                    return
                time.sleep(0.05)
                conn = connection(base)
                continue
            with self.lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1
                if status == 200:
                    self.acked.append((learner, chapter, question, index))
                    if len(self.acked) >= self.total:
                        self.stop.set()
                elif status >= 500:
                    self.bodies_5xx.append(body[:300])
        conn.close()

    def start(self) -> "Burst":
        for thread in self.threads:
            thread.start()
        return self

    def wait_for(self, acked: int, timeout: float = BURST_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < acked and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.acked) >= acked, (len(self.acked), self.statuses)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=BURST_SECONDS + 35)
        assert not any(t.is_alive() for t in self.threads), "every burst thread stops by itself"


def test_kill_9_during_a_burst_of_answers_loses_no_acknowledged_answer(tmp_path):
    """Two processes take answers; one is SIGKILLed mid-burst while the other keeps going;
    after a restart on the same file every acknowledged answer is there, as sent."""
    db = str(tmp_path / "progress.sqlite3")
    with services.Stack(tmp_path) as stack:
        doomed, survivor = stack.web(COURSE_DB=db, **FAST_SERVER), stack.web(COURSE_DB=db, **FAST_SERVER)
        asked = questions(doomed)
        burst = Burst([doomed, survivor], asked, total=10_000).start()
        burst.wait_for(300)  # well into the burst: every thread has posted many times
        stack.kill(doomed)  # SIGKILL while requests are in flight
        before = len(burst.acked)
        burst.wait_for(before + 100)  # the other process keeps answering meanwhile
        burst.stop.set()
        burst.join()
        assert burst.broken >= 1, "requests were in flight when the server died"
        acked = list(burst.acked)

        restarted = stack.web(COURSE_DB=db, **FAST_SERVER)  # the restart, on the same file
        missing = []
        for learner, chapter, question, index in acked:
            rows = stored_answers(restarted, learner)
            if [(r["chapter"], r["question"], json.loads(r["selected"])) for r in rows] != [(chapter, question, [index])]:
                missing.append((learner, chapter, question, rows))
    print(f"\nkill -9: {len(acked)} answers acknowledged ({before} before the kill), "
          f"{burst.broken} requests cut, {len(missing)} missing after the restart")
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged answers are gone: {missing[:3]}"
    assert set(burst.statuses) == {200}, burst.statuses


def test_two_server_processes_on_one_database_never_show_database_is_locked(tmp_path):
    db = str(tmp_path / "progress.sqlite3")
    with services.Stack(tmp_path) as stack:
        bases = [stack.web(COURSE_DB=db, **FAST_SERVER), stack.web(COURSE_DB=db, **FAST_SERVER)]
        asked = questions(bases[0])
        # threads alternate between the two; answers, and now and then a chapter view (a visit)
        burst = Burst(bases, asked, total=600, visit_every=10).start()
        burst.join()
        logs = "".join(stack.log(base) for base in bases)
        acked = list(burst.acked)
        # every acknowledged answer and visit is in the file, whichever process wrote it
        stored = {learner: stored_answers(bases[1], learner) for learner, *_ in acked[::10]}
        visited = [exported(bases[0], learner)["visits"] for learner, _ in burst.visits]
    print(f"\ntwo processes, one database: statuses {burst.statuses} ({len(acked)} answers, "
          f"{len(burst.visits)} chapter visits), {burst.broken} requests cut")
    assert burst.broken == 0 and set(burst.statuses) == {200}, (burst.statuses, burst.bodies_5xx[:3])
    assert len(acked) >= 600
    assert "database is locked" not in logs and "Traceback" not in logs, logs[-2000:]
    assert all(len(rows) == 1 for rows in stored.values()), stored
    assert len(visited) >= 30 and all(len(rows) == 1 for rows in visited), visited[:3]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(base URL, pid) of one server for the body tests."""
    where = tmp_path_factory.mktemp("faults")
    with services.Stack(where) as stack:
        base = stack.web(**FAST_SERVER)
        yield base, stack.processes[base][0].pid


def peak_memory_kb(pid: int) -> int:
    """The process's peak resident memory so far (Linux: VmHWM)."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def raw_post(base: str, path: str, head: str) -> socket.socket:
    parts = urlsplit(base)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.sendall((f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
                  f"{head}\r\n").encode())
    return sock


def read_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


@pytest.mark.parametrize("path", ["/api/quiz/learning-rate/lr-meaning", "/quiz/learning-rate/lr-meaning",
                                  "/widgets/config-reader"])
def test_a_chunked_body_is_refused_at_the_cap_not_read_to_its_end(server, path):
    """50 MB offered without a Content-Length (a JSON body, and the two form routes): the server
    answers 413 once it has counted past its 256 KiB cap and stops reading; the client never gets
    to send it all, and the server's peak memory barely moves (it grew by 1.26 GB for one 50 MB
    form before the cap)."""
    base, pid = server
    peak_before = peak_memory_kb(pid)
    sock = raw_post(base, path, "Transfer-Encoding: chunked\r\n")
    chunk = b"choice=0&" * 7000
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    offered, sent, answered = 50 * 1024 * 1024, 0, False
    sock.setblocking(False)
    try:
        while sent < offered:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable:
                answered = True
                break
            if not writable:
                break
            try:
                sent += sock.send(framed[sent % len(framed):])  # whole chunks, however split
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                answered = True
                break
        assert answered, f"the server read {sent:,} bytes without answering"
        sock.setblocking(True)
        status = read_status(sock)
    finally:
        sock.close()
    grown_kb = peak_memory_kb(pid) - peak_before
    print(f"\n{path}: 413 after {sent:,} of {offered:,} bytes left the client; server peak memory +{grown_kb:,} kB")
    assert status == 413
    assert sent < 16 * 1024 * 1024, f"{sent:,} bytes went out before the 413 (of {offered:,} offered)"
    assert grown_kb < 64 * 1024, f"the server's peak memory grew by {grown_kb:,} kB"


def test_a_declared_50_mb_body_is_refused_before_a_byte_is_sent(server):
    sock = raw_post(server[0], "/api/quiz/learning-rate/lr-meaning", f"Content-Length: {50 * 1024 * 1024}\r\n")
    try:
        assert read_status(sock) == 413
    finally:
        sock.close()
