"""Fixtures shared by every test.

Fast, in-process:
    settings     app.settings.Settings with the database in tmp_path, no cache warm-up, an
                 in-memory result cache and the in-process engine
    app          create_app(settings), sharing one course loader with the session's other apps
    client       fastapi.testclient.TestClient(app), entered so the lifespan runs

Real browser (mark such tests @pytest.mark.browser; they are also marked automatically):
    live_clock   (session) a file: seconds written to it move the live server's review clock
    live_server  (session) base URL, e.g. "http://127.0.0.1:41234", of uvicorn running
                 `app.main:create_app` in a subprocess, as `make serve` runs it (the embedded
                 engine of worker processes; COURSE_DB and the result cache in a temp dir,
                 no warm-up)
    browser      (session) Playwright Chromium: Debian's /usr/bin/chromium, headless
    page         a fresh Playwright Page whose base URL is live_server, so page.goto("/") works.
                 (The live server's COURSE_TEACHER_TOKEN is TEACHER_TOKEN: the operator's page works.)
                 It records page.console_errors, page.page_errors, page.foreign_requests
                 (requests to any host other than the live server's; they fail at a dead proxy)
                 and page.csp_violations (every securitypolicyviolation event: the
                 Content-Security-Policy refused a script, a style, a frame...).
                 At teardown the test FAILS if any of the lists is not empty; a test
                 that provokes an error on purpose asserts on it, then clears the list.
    new_page     a factory of such pages, each in a browser context of its own (several
                 learners and a teacher at once), all checked the same way at teardown
"""
from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import pytest

os.environ["COURSE_DEVICE"] = "cpu"
os.environ["COURSE_WARM_CACHE"] = "0"
# tests edit chapter and exercise files and read them back at once: servers started for them
# check on every call (a server checks at most once a second; app/course/freshness.py), as the
# `settings` fixture's apps do
os.environ["COURSE_CONTENT_RECHECK_S"] = "0"
# Training workers at nice 10, not SCHED_IDLE (the default, Settings.worker_priority): the
# suite's own processes keep both cores busy at normal priority, and an idle-class worker of a
# live server would then train only when the suite pauses, so a browser test would wait on
# the suite instead of on the app. tests/serving/test_worker_priority.py checks SCHED_IDLE.
os.environ["COURSE_WORKER_PRIORITY"] = "nice"
# One torch thread per process: the suite, the live server and the browser share two cores,
# and spinning OpenMP threads that oversubscribe them make every step many times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# The lab reads no environment: like every process of the app, the test process configures it
# from its settings (the CPU, as COURSE_DEVICE says above; the checkout's corpus)
from app.settings import Settings  # noqa: E402

Settings.from_env().configure_lab()

# Starlette's TestClient prefers the httpx2 package and warns once, at import, when only httpx
# is installed; pyproject turns warnings into errors. Import it here, past that one warning,
# so the `client` fixture works with either package (httpx2 installed: no warning at all).
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    import starlette.testclient  # noqa: F401,E402

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    # every host but loopback goes through a proxy that does not exist, so it cannot be reached
    "--proxy-server=http://127.0.0.1:9",
]
SERVER_START_TIMEOUT_S = 90.0
BROWSER_FIXTURES = {"browser", "page", "new_page"}
TEACHER_TOKEN = "browser-tests-operator-token"  # COURSE_TEACHER_TOKEN of the live server


TRAINING_FOLDERS = {"claims", "widgets", "exercises"}  # under tests/
SHARED = pytest.StashKey[str]()  # xdist's controller: the folder it shares with its workers


@pytest.hookimpl(tryfirst=True)  # before xdist tells its controller the worker has collected
def pytest_collection_finish(session):
    """Read the verdict of the rerun of the claim tests on ATen's unvectorised kernels last
    (tests/other_kernels.py says why). Without xdist this process starts the rerun now, in the
    background at the lowest priority; with xdist the controller does, once (below), and a
    worker lists the tests on the live server for the controller's scheduler."""
    import other_kernels

    shared = getattr(session.config, "workerinput", {}).get(other_kernels.SHARED_FOLDER)
    if shared:
        import xdist_scopes

        xdist_scopes.write_live_tests(shared, session.items)
    verdict = next((item for item in session.items if item.nodeid == other_kernels.VERDICT_TEST), None)
    if verdict is None or session.config.option.collectonly or other_kernels.already_unvectorised():
        return
    session.items.remove(verdict)
    session.items.append(verdict)
    if not hasattr(session.config, "workerinput"):
        session.config.stash[other_kernels.STASH] = other_kernels.Rerun()


def pytest_configure(config):
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        import tempfile

        config.stash[SHARED] = tempfile.mkdtemp(prefix="course-tests-")  # removed at sessionfinish


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist's controller: a folder shared with every worker (the rerun's verdict, the list of
    the tests on the live server)."""
    import other_kernels

    node.workerinput[other_kernels.SHARED_FOLDER] = node.config.stash[SHARED]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadscope` (make test): a module's tests on one worker, and every test on the
    live server on one worker (tests/xdist_scopes.py)."""
    if config.getvalue("dist") != "loadscope":
        return None
    import xdist_scopes

    return xdist_scopes.ModulesAndTheLiveServer(config, log, config.stash[SHARED])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    """xdist's controller: the first worker to have collected the verdict test starts the rerun."""
    import other_kernels

    config = node.config
    if other_kernels.STASH in config.stash or config.option.collectonly or other_kernels.already_unvectorised():
        return
    if other_kernels.VERDICT_TEST in ids:
        config.stash[other_kernels.STASH] = other_kernels.Rerun(other_kernels.rerun_folder(config.stash[SHARED]))


def pytest_sessionfinish(session):
    import other_kernels

    rerun = session.config.stash.get(other_kernels.STASH, None)
    if rerun is not None:  # stopped early (-x, Ctrl-C) or finished: nothing left running
        rerun.stop()
    if SHARED in session.config.stash:
        shutil.rmtree(session.config.stash[SHARED], ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Any test that uses the browser is a browser test, and any test in a module that starts
    real services (tests/services.py: redis-server, a Dask scheduler and workers, uvicorn) is
    a serving test, marked or not; a test in tests/claims, tests/widgets or tests/exercises
    trains real runs or grades in the sandbox, and is marked `trains`. `make test-fast` leaves
    all of these out, and the slow ones."""
    for item in items:
        if TRAINING_FOLDERS & set(Path(str(item.fspath)).relative_to(ROOT).parts[:2]):
            item.add_marker(pytest.mark.trains)
        if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)
        module = getattr(item, "module", None)
        if module is not None and getattr(getattr(module, "services", None), "Stack", None) is not None:
            item.add_marker(pytest.mark.serving)


# --- in-process ---------------------------------------------------------------------------

@pytest.fixture
def settings(tmp_path):
    from app.settings import Settings

    # Dask workers as threads of this process, started on the first run and shared by every
    # test (tests/test_engine_*.py start the real embedded and cluster engines), and a cache
    # of this test's own
    return Settings(database_path=tmp_path / "progress.sqlite3", warm_cache=False,
                    scheduler="inprocess", cache_url="memory://", content_recheck_s=0.0)


@pytest.fixture(scope="session")
def course_loader():
    """One loader of content/ for the session's apps: each parses the course once, not per test
    (it re-checks the files on every call, so an edit is still seen at once)."""
    from app.course.loader import CourseLoader
    from app.settings import Settings

    return CourseLoader(Settings().content_dir, recheck_s=0.0)


@pytest.fixture
def app(settings, course_loader):
    from app.main import create_app

    shared = course_loader if settings.content_dir == course_loader.content_dir else None
    return create_app(settings, course=shared)


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as test_client:
        yield test_client


# --- a real server and a real browser -----------------------------------------------------

@pytest.fixture(scope="session")
def live_clock(tmp_path_factory):
    """The live server's review clock: write a number of seconds to this file to move the
    server's review schedule that far ahead (app/learning/clock.py); reset it when done."""
    return tmp_path_factory.getbasetemp() / "live_server_clock"


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, live_clock):
    """Base URL of the course served by uvicorn in a subprocess, as `make serve` does."""
    from app.tools.bench.server import ServerFailed, start

    workdir = tmp_path_factory.mktemp("live_server")
    env = {"COURSE_DB": str(workdir / "progress.sqlite3"),
           "COURSE_CACHE_URL": f"sqlite:///{workdir / 'results.sqlite3'}",
           "COURSE_WARM_CACHE": "0", "COURSE_TEACHER_TOKEN": TEACHER_TOKEN,
           "COURSE_DEVICE": "cpu", "PYTHONUNBUFFERED": "1",
           "COURSE_CLOCK_FILE": str(live_clock)}
    try:
        server = start(env, log_path=workdir / "uvicorn.log", ready_path="/", timeout=SERVER_START_TIMEOUT_S,
                       uvicorn_args=("--no-proxy-headers",))
    except ServerFailed as failure:
        pytest.fail(f"the live server did not start: {failure}", pytrace=False)
    try:
        yield server.base
    finally:
        server.stop(timeout=15)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright. Missing Chromium is an error, never a skip."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get update && apt-get "
                    f"install -y chromium` (make test does this), or point COURSE_CHROMIUM "
                    f"at a Chromium binary", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: run `make test`, or pip install -e '.[test]'",
                    pytrace=False)

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


CSP_PREFIX = "CSP violation: "
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("%s" + e.effectiveDirective + " refused " + (e.blockedURI || "inline") +
                " at " + e.sourceFile + ":" + e.lineNumber + (e.sample ? " (" + e.sample + ")" : ""));
});
""" % CSP_PREFIX


def _is_foreign(url: str, server_netloc: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "javascript"):
        return False
    return parts.netloc != server_netloc


class CheckedPages:
    """Browser pages on the live server, each in a context of its own (its own cookies: another
    learner), each recording console errors, page errors, requests to other hosts and CSP
    violations; `problems()` lists them all."""

    def __init__(self, browser, live_server: str):
        self.browser = browser
        self.live_server = live_server
        self.server_netloc = urlsplit(live_server).netloc
        self.contexts = []
        self.pages = []

    def new(self):
        context = self.browser.new_context(base_url=self.live_server)
        context.set_default_timeout(30_000)
        # Nothing may leave the machine: requests to other hosts are recorded here and fail at
        # the dead proxy Chromium is launched with (CHROMIUM_ARGS). No request interception:
        # a Python route predicate pauses every request until the test thread runs it, which
        # stalls htmx requests while a training stream is open.
        # Every CSP violation is reported explicitly, with what was refused and where, before
        # any script of the page runs (Chromium's own console line does not say which directive).
        context.add_init_script(CSP_LISTENER)
        new_page = context.new_page()
        new_page.live_server = self.live_server
        new_page.console_errors = []
        new_page.page_errors = []
        new_page.foreign_requests = []
        new_page.csp_violations = []

        def on_console(message):
            if message.type == "error" and message.text.startswith(CSP_PREFIX):
                new_page.csp_violations.append(message.text[len(CSP_PREFIX):])
            elif message.type == "error":
                location = message.location or {}
                where = location.get("url", "")
                if where:
                    where = f" ({where}:{location.get('lineNumber', '?')})"
                new_page.console_errors.append(f"{message.text}{where}")

        def on_request(request):
            if _is_foreign(request.url, self.server_netloc):
                new_page.foreign_requests.append(f"{request.method} {request.url}")

        new_page.on("console", on_console)
        new_page.on("pageerror", lambda error: new_page.page_errors.append(str(error)))
        new_page.on("request", on_request)
        self.contexts.append(context)
        self.pages.append(new_page)
        return new_page

    def close(self) -> None:
        for context in self.contexts:
            context.close()

    def problems(self) -> list[str]:
        problems = []
        for number, checked in enumerate(self.pages, start=1):
            who = f" (page {number})" if len(self.pages) > 1 else ""
            for label, found in (("console errors", checked.console_errors),
                                 ("page errors (uncaught exceptions)", checked.page_errors),
                                 ("requests to other hosts", checked.foreign_requests),
                                 ("Content-Security-Policy violations", checked.csp_violations)):
                if found:
                    problems.append(f"{label}{who}:\n" + "\n".join(f"  {item}" for item in found))
        return problems


@pytest.fixture
def page(browser, live_server):
    """A fresh page on the live server that fails the test on any console error, page
    error or request to another host. See the module docstring."""
    pages = CheckedPages(browser, live_server)
    try:
        yield pages.new()
    finally:
        pages.close()
    problems = pages.problems()
    if problems:
        pytest.fail("the browser page reported problems\n" + "\n".join(problems),
                    pytrace=False)


@pytest.fixture
def new_page(browser, live_server):
    """A factory of checked pages, each in its own browser context (its own learner): for a
    test with several people at once (a teacher and a class). Checked like `page`."""
    pages = CheckedPages(browser, live_server)
    try:
        yield pages.new
    finally:
        pages.close()
    problems = pages.problems()
    if problems:
        pytest.fail("the browser pages reported problems\n" + "\n".join(problems), pytrace=False)
