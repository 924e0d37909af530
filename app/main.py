"""The application factory: settings, templates, routers, static files."""
from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from app.web import errors
from app.web import schema
from app.web.learner import LearnerCookie
from app.web.limits import BodyLimit
from app.web.security import SecurityHeaders
from app.settings import Settings
from app.web.templating import make_templates

VENDOR_FILES = {
    # third-party front-end files, served from where set-up installed them
    "htmx.min.js": ("static", "node_modules/htmx.org/dist/htmx.min.js"),
    # CodeMirror 6 for the exercises, bundled by esbuild at set-up (Makefile: EDITOR_BUNDLE)
    "editor.js": ("static", "node_modules/.course-bundle/editor.js"),
    "plotly.min.js": ("plotly", "package_data/plotly.min.js"),
}


def vendor_path(name: str, settings: Settings) -> Path:
    where, relative = VENDOR_FILES[name]
    if where == "static":
        return settings.static_dir / relative
    import plotly

    return Path(plotly.__file__).parent / relative


def routers() -> list:
    """Every router of the app, one per resource (the content checker reads their paths)."""
    from app.web.routes import chapters as routes_chapters
    from app.web.routes import classes as routes_classes
    from app.web.routes import exercises as routes_exercises
    from app.web.routes import glossary as routes_glossary
    from app.web.routes import progress as routes_progress
    from app.web.routes import quiz as routes_quiz
    from app.web.routes import search as routes_search
    from app.web.routes import teach as routes_teach
    from app.web.routes import teach_live as routes_teach_live
    from app.web.routes import widgets as routes_widgets

    return [routes_widgets.router, routes_chapters.router, routes_quiz.router, routes_progress.router,
            routes_glossary.router, routes_search.router, routes_exercises.router, routes_classes.router,
            routes_teach.router, routes_teach_live.router]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    import torch

    torch.set_num_threads(settings.torch_threads)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = app.state.engine
        if engine.mode != "inprocess":  # embedded: start the workers now; cluster: connect now
            engine.start_soon()
        app.state.prerender.start()
        filler = None
        if settings.warm_cache:
            from app.serving.precompute import BackgroundFill

            filler = BackgroundFill(app.state.jobs, settings)
            filler.start()
        try:
            yield
        finally:
            if filler is not None:
                await filler.stop()
            await engine.close()
            await app.state.prerender.stop()
            app.state.cache.close()

    from app.web.pages import store
    from app.learning.progress import ProgressDB

    # every route may reach the learner's store: the dependency opens its one connection only
    # when used, and closes it when the request ends
    app = FastAPI(title="Keeping LLM training stable", lifespan=lifespan, dependencies=[Depends(store)])
    from app.web.teacher_auth import install_log_redaction

    install_log_redaction()  # a teacher link's first visit carries its token: never in a log line
    app.state.settings = settings
    app.state.templates = make_templates(settings)
    app.state.progress_db = ProgressDB(settings.database_path)
    app.state.progress_db.migrate()  # the schema, once, at start-up

    from app.serving.cache import open_cache
    from app.serving.engine import Engine
    from app.serving.jobs import WidgetJobs

    app.state.cache = open_cache(settings.cache_url, settings.cache_bytes)
    app.state.engine = Engine(settings)
    app.state.jobs = WidgetJobs(settings, app.state.engine, app.state.cache)
    from app.serving.cache import BoundedLRU
    from app.web.views.widget import RENDERED_BYTES

    app.state.rendered = BoundedLRU(RENDERED_BYTES)  # rendered results (app/web/views/widget.py)
    from app.web.views.prerender import Prerender

    app.state.prerender = Prerender(app)  # fills app.state.rendered once the server is up
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
    app.mount("/static", StaticFiles(directory=settings.static_dir), name="static")

    @app.get("/vendor/{name}", include_in_schema=False)
    def vendor(name: str):
        """Third-party JavaScript installed at set-up time (never fetched from a CDN)."""
        if name not in VENDOR_FILES:
            raise HTTPException(404, f"no vendor file {name!r}")
        path = vendor_path(name, settings)
        if not path.exists():
            raise HTTPException(500, f"{name} is missing: run the set-up (make serve) first")
        return FileResponse(path, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    return app
