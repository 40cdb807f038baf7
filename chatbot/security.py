"""Response headers that hold for every page: CSP, no sniffing, no framing, no opener, caching."""
from __future__ import annotations

from flask import Flask, Response

# No 'unsafe-inline' and no 'unsafe-eval': every script and style is a file under /static.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",  # blob: the composer's thumbnails of images about to be sent
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


def init_app(app: Flask) -> None:
    app.after_request(secure_headers)


def secure_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    # A page this one opens (a link in a reply) gets no handle on it, and another site's
    # window cannot reach into ours.
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if response.mimetype == "text/html":
        # Pages hold private chats: never let a shared cache keep them. And the same URL
        # answers a page or an htmx fragment, so caches must key on the headers deciding it.
        response.headers.setdefault("Cache-Control", "private, no-store")
        response.vary.update(("HX-Request", "HX-History-Restore-Request"))
    return response
