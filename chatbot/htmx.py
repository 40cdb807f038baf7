"""The one place that decides between a full page and an htmx fragment."""
from __future__ import annotations

from flask import request


def is_htmx() -> bool:
    """True when htmx made the request (it sends ``HX-Request: true``); responses
    vary on that header (see security.secure_headers)."""
    return request.headers.get("HX-Request") == "true"
