"""Static files addressed by their content: every link the templates make carries a hash
of the file (``?v=``), so browsers keep it for a year without asking again, and a changed
file (a new release) has a new address."""
from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Flask, Response, request

YEAR = 365 * 24 * 3600


def init_app(app: Flask) -> None:
    versions: dict[str, tuple[float, str]] = {}  # file name: (modified, hash), read again when it changes

    def version(filename: str) -> str:
        path = Path(app.static_folder or "") / filename
        modified = path.stat().st_mtime if path.is_file() else 0.0
        known = versions.get(filename)
        if known is None or known[0] != modified:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if modified else "missing"
            versions[filename] = known = (modified, digest)
        return known[1]

    @app.url_defaults
    def add_version(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "filename" in values and "v" not in values:
            values["v"] = version(values["filename"])

    @app.after_request
    def cache_versioned(response: Response) -> Response:
        if request.endpoint == "static" and request.args.get("v") and response.status_code == 200:
            response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
        return response
