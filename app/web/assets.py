"""Static and vendor files on the wire: versioned URLs, long-lived caching, compression.

Pages link every script and stylesheet through `asset_url` (a Jinja global), which adds the
file's content hash: `/static/course.js?v=3f2a9c1b`, `/vendor/plotly.min.js?v=81c0d6e2`. A
response to a URL whose `v` is the file's current hash may be kept a year (`immutable`): an
edited file gets a new URL. Anything else (no `v`, a stale one) gets the short default.

`Wire` (one middleware) compresses what it answers with gzip when the client accepts it (HTML,
CSS, JavaScript, JSON...), never a text/event-stream (a stream must reach the browser event by
event; Starlette's GZipMiddleware leaves it alone), and sets those cache headers.
"""
from __future__ import annotations

import asyncio
import gzip
import hashlib
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs

from starlette.datastructures import MutableHeaders
from starlette.middleware.gzip import GZipMiddleware

VENDOR_FILES = {
    # third-party front-end files, served from where set-up (npm) installed them under static/
    "htmx.min.js": "node_modules/htmx.org/dist/htmx.min.js",
    # CodeMirror 6 for the exercises, bundled by esbuild at set-up (Makefile: EDITOR_BUNDLE)
    "editor.js": "node_modules/.course-bundle/editor.js",
    # Plotly's cartesian bundle (scatter, bar, contour...: every trace the widgets draw, checked
    # by tests/widgets/test_widgets_contract.py) is a third of the full bundle the plotly wheel
    # carries: 485 KiB on the wire instead of 1,435 KiB, and a third of the script to parse
    "plotly.min.js": "node_modules/plotly.js-cartesian-dist-min/plotly-cartesian.min.js",
}
YEAR = "public, max-age=31536000, immutable"
COMPRESS_MIN_BYTES = 1024
# A page is compressed on every request, a static file once per version. Level 1 costs a
# third of level 6 on a 300 KB chapter (0.9 ms against 2.5 ms here, with the figures' JSON
# it is half of the page's CPU) for a body about a fifth larger: under a class's load the
# web process's CPU is what runs out, not loopback or a classroom's network.
DYNAMIC_LEVEL = 1


def vendor_path(name: str, static_dir: Path) -> Path:
    return static_dir / VENDOR_FILES[name]


@lru_cache(maxsize=64)
def _hash(path: Path, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def file_version(path: Path) -> str | None:
    """The file's content hash (recomputed only when its size or time changes); None if missing."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _hash(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def asset_path(url_path: str, static_dir: Path) -> Path | None:
    """The file behind /static/<name> or /vendor/<name>; None for any other path (kept: a page
    links a dozen assets, and resolving each one's path was a tenth of a chapter's render)."""
    if url_path.startswith("/vendor/"):
        name = url_path[len("/vendor/"):]
        return vendor_path(name, static_dir) if name in VENDOR_FILES else None
    if url_path.startswith("/static/"):
        path = (static_dir / url_path[len("/static/"):]).resolve()
        return path if path.is_relative_to(static_dir.resolve()) else None
    return None


def asset_url(url_path: str, static_dir: Path) -> str:
    """url_path with its content version: "/static/course.js" -> "/static/course.js?v=3f2a9c1b7e04"."""
    path = asset_path(url_path, static_dir)
    version = file_version(path) if path is not None else None
    return f"{url_path}?v={version}" if version else url_path


class Wire:
    """gzip (never for event streams) and a year's caching for current versioned URLs.

    A static or vendor file is compressed once per version, in a thread, and kept (Plotly takes
    over a second of CPU to compress here; a class would pay it once per learner). Everything
    else goes through Starlette's GZipMiddleware, which compresses large bodies in a thread."""

    def __init__(self, app, static_dir: Path):
        self.app = app
        self.static_dir = Path(static_dir)
        self.gzip = GZipMiddleware(app, minimum_size=COMPRESS_MIN_BYTES, compresslevel=DYNAMIC_LEVEL)  # skips event streams
        self.compressed: dict[Path, tuple[str, bytes]] = {}  # file -> (version, gzip body)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = asset_path(scope.get("path", ""), self.static_dir)
        version = file_version(path) if path is not None else None
        if version is not None and _wanted(scope, "v") == version:
            send = _with_header(send, "cache-control", YEAR)
        if version is not None and _accepts_gzip(scope) and scope["method"] == "GET" and not _header(scope, b"range"):
            return await self._file(scope, receive, send, path, version)
        await self.gzip(scope, receive, send)

    async def _file(self, scope, receive, send, path: Path, version: str) -> None:
        """The file's response with its body gzipped (compressed on its version's first request)."""
        messages = []

        async def hold(message):
            messages.append(message)

        await self.app(scope, receive, hold)
        start, body = messages[0], b"".join(m.get("body", b"") for m in messages[1:])
        if start["status"] != 200:
            for message in messages:
                await send(message)
            return
        cached = self.compressed.get(path)
        if cached is None or cached[0] != version:
            cached = (version, await asyncio.to_thread(gzip.compress, body, 9))
            self.compressed[path] = cached
        headers = MutableHeaders(scope=start)
        headers["content-length"] = str(len(cached[1]))
        headers["content-encoding"] = "gzip"
        headers.add_vary_header("Accept-Encoding")
        if "etag" in headers and not headers["etag"].startswith("W/"):  # another encoding of the same file
            headers["etag"] = "W/" + headers["etag"]
        await send(start)
        await send({"type": "http.response.body", "body": cached[1], "more_body": False})


def _header(scope, name: bytes) -> bytes | None:
    return next((v for k, v in scope.get("headers", []) if k.lower() == name), None)


def _accepts_gzip(scope) -> bool:
    return b"gzip" in (_header(scope, b"accept-encoding") or b"").lower()


def _wanted(scope, key: str) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(key)
    return values[0] if values else None


def _with_header(send, name: str, value: str):
    async def sending(message):
        if message["type"] == "http.response.start" and message["status"] == 200:
            MutableHeaders(scope=message)[name] = value
        await send(message)
    return sending
