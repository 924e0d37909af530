"""Security headers on every response, and whether a request came over HTTPS.

The Content-Security-Policy allows scripts from this origin only: no inline script, no
inline event handler, no eval. Every script the course runs is a file (static/course.js,
/vendor/htmx.min.js, /vendor/plotly.min.js); the JSON a chart needs travels in
<script type="application/json"> blocks, which are data and never executed. htmx is told in
base.html's htmx-config meta tag not to inject its indicator <style> and never to eval.

    style-src 'self' 'unsafe-inline'   Plotly draws charts by writing style attributes
                 (style-src-attr) and <style> elements with rules in them (style-src-elem);
                 neither takes a nonce. Tried in Chromium: with style-src 'self' (even with the
                 hash of the empty <style> Plotly starts with) every chart logs dozens of
                 violations and loses its hover and mode-bar styling. Inline style runs no
                 code, so scripts stay locked to this origin.
    img-src 'self' data: blob:   Plotly's "download plot as a png" renders the chart to a data:
                 URL first, and its mode bar draws icons from data: URIs.

`Secure` on the learner cookie: when the request itself came over HTTPS (uvicorn serving
TLS), or, with COURSE_TRUST_PROXY=1 only, when the proxy in front says so in
X-Forwarded-Proto. Without that setting the header is ignored: anyone can send it.
"""
from __future__ import annotations

from fastapi import Request

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # chapter URLs hold widget settings: keep them here
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate it
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]


class SecurityHeaders:
    """ASGI middleware adding HEADERS to every HTTP response (pages, JSON, static files, errors)."""

    def __init__(self, app):
        self.app = app
        self.names = {name for name, _ in HEADERS}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self.names]
                message = {**message, "headers": kept + HEADERS}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def is_https(request: Request) -> bool:
    """Whether the learner reached us over HTTPS (see the module docstring)."""
    if request.url.scheme == "https":
        return True
    if not request.app.state.settings.trust_proxy:
        return False
    forwarded = request.headers.get("x-forwarded-proto", "")
    return forwarded.split(",")[0].strip().lower() == "https"
