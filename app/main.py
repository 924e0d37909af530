"""The application factory: settings, then the services the app owns, then the web layer.

    app = create_app()                              # what uvicorn --factory runs (settings from the env)
    app = create_app(settings, widgets={...})       # a test's app with its own widget set...
    app = create_app(settings, course=loader)       # ...or a course loader it shares between apps

Everything the routes share lives on `app.state`, built here and reached through the
dependencies of app/web/pages.py: the settings, the widget registry, the course loader, the
code version, the templates, the learners' database, the result cache, the engine and the
widget jobs, the start-up pre-render. Building an app changes nothing outside it: what is
process-wide (torch's thread count, the lab's device and corpus) is set by the lifespan,
when the app starts serving.
"""
from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from app.course.loader import CourseLoader
from app.learning.clock import Clock
from app.learning.progress import ProgressDB
from app.serving.cache import open_cache
from app.serving.engine import Engine
from app.serving.jobs import WidgetJobs
from app.serving.keys import code_version
from app.serving.precompute.background import BackgroundFill, Share
from app.settings import Settings
from app.web import errors, schema
from app.web.assets import VENDOR_FILES, Wire, vendor_path
from app.web.learner import LearnerCookie
from app.web.limits import BodyLimit
from app.web.pages import store
from app.web.routes import (chapters, classes, exercises, glossary, learning, progress, quiz, review, search,
                            teach, teach_live)
from app.web.routes import widgets as widget_routes
from app.web.security import SecurityHeaders
from app.web.templating import Kept, make_templates
from app.web.views.prerender import Prerender
from widgets.base import Widget
from widgets.registry import all_widgets

def create_app(settings: Settings | None = None, widgets: dict[str, Widget] | None = None,
               course: CourseLoader | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    settings.check_files()  # an installed wheel without the course's files says which variable to set
    # every route may reach the learner's store: the dependency opens its one connection only
    # when used, and closes it when the request ends
    app = FastAPI(title="Keeping LLM training stable", lifespan=lifespan, dependencies=[Depends(store)])
    from app.web.teacher_auth import install_log_redaction

    install_log_redaction()  # a teacher link's first visit carries its token: never in a log line
    add_services(app, settings, all_widgets() if widgets is None else widgets,
                 course or CourseLoader(settings.content_dir, settings.content_recheck_s))
    add_web_layer(app, settings)
    return app


def add_services(app: FastAPI, settings: Settings, widgets: dict[str, Widget], course: CourseLoader) -> None:
    state = app.state
    state.settings = settings
    state.widgets = widgets
    state.course = course
    state.code_version = code_version(settings.corpus_path)  # part of every run key
    state.templates = make_templates(settings)
    state.kept_questions = Kept()  # untouched questions, in pieces put together per learner (app/web/views/quiz.py)
    state.progress_db = ProgressDB(settings.database_path)
    state.progress_db.migrate()  # the schema, once, at start-up
    state.clock = Clock(settings.clock_file)  # the review schedule's time (a test may move it)
    state.cache = open_cache(settings.cache_url, settings.cache_bytes)
    state.engine = Engine(settings)
    state.jobs = WidgetJobs(settings, state.engine, state.cache, state.code_version)
    state.prerender = Prerender(app)  # renders cached results into the jobs' memo once the server is up


def add_web_layer(app: FastAPI, settings: Settings) -> None:
    for router in routers():
        app.include_router(router)
    errors.install(app)
    schema.install(app)
    # outermost last: headers on every response, the 500 with an error id inside them, no
    # body read past the cap, and the learner's cookie on what the routes answer
    app.add_middleware(LearnerCookie)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(errors.CatchAll)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(Wire, static_dir=settings.static_dir)  # gzip, and a year's cache for versioned files
    app.mount("/static", StaticFiles(directory=settings.static_dir), name="static")
    app.add_api_route("/vendor/{name}", vendor, methods=["GET"], include_in_schema=False)


def routers() -> list:
    """Every router of the app, one per resource (the content checker reads their paths)."""
    return [widget_routes.router, chapters.router, quiz.router, progress.router, glossary.router,
            search.router, exercises.router, classes.router, teach.router, teach_live.router, review.router,
            learning.router]


@asynccontextmanager
async def lifespan(app: FastAPI):
    state, settings = app.state, app.state.settings
    settings.configure_lab()  # process-wide: torch's threads, the lab's device and corpus
    if state.engine.mode != "inprocess":  # embedded: start the workers now; cluster: connect now
        state.engine.start_soon()
    state.prerender.start()
    filler = None
    # several web processes on this machine split the fill between them (Share)
    share = Share.claim(settings.database_path.parent, settings.web_processes) if settings.warm_cache else None
    if share is not None:
        filler = BackgroundFill(state.jobs, state.widgets, state.course.course, share=share)
        filler.start()
    try:
        yield
    finally:
        if filler is not None:
            await filler.stop()
        await state.engine.close()
        await state.prerender.stop()
        state.cache.close()


def vendor(name: str, request: Request):
    """Third-party JavaScript installed at set-up time (never fetched from a CDN)."""
    if name not in VENDOR_FILES:
        raise HTTPException(404, f"no vendor file {name!r}")
    path = vendor_path(name, request.app.state.settings.static_dir)
    if not path.exists():
        raise HTTPException(500, f"{name} is missing: run the set-up (make serve) first")
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})
