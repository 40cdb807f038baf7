"""The one place that decides between a full page and an htmx fragment."""
from __future__ import annotations

from flask import request


def is_htmx() -> bool:
    """True when htmx made the request (it sends ``HX-Request: true``) for a fragment;
    responses vary on that header (see security.secure_headers). Going back to an address
    htmx pushed into the history, it asks for the whole page again."""
    return (request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-History-Restore-Request") != "true")
