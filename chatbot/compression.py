"""Compressed transfer of pages, htmx fragments, stylesheets and scripts: brotli, or gzip,
whichever the browser's Accept-Encoding prefers, with ``Vary: Accept-Encoding``.

Our own ``after_request`` rather than Flask-Compress (1.25), whose rules do not fit ours.
It counts a static file (``send_file``'s body is a file, not a list) as a stream: with
COMPRESS_STREAMS off, as streamed pages need, it never compresses the scripts and
stylesheets, most of the bytes; with it on, a streamed page goes through a compressor that
holds chunks back (in a trial, all of them until the generator ended). And its
COMPRESS_CACHE is asked for every response, pages included, with no bound. Ours is this file.

Compressed: a whole body (a list, not a generator) of a textual type, 500 bytes or more.
Passed through untouched, chunk by chunk: streams (the reply's events, a streamed page),
WebSocket handshakes, downloads (``Content-Disposition``: attachments, exports), partial
content. Static files are compressed once per version, at the best level, and kept in
memory (the set is small); pages at a fast level on every request (a 34 kB chat page:
under a millisecond of CPU).

A compressed variant's strong ETag is made weak, as nginx does: a cache never takes it for
the byte-identical original (strong comparison fails), and If-None-Match (a weak
comparison) still matches, so revalidation answers 304 as before.
"""
from __future__ import annotations

import gzip
import mimetypes

import brotli
from flask import Flask, Response, request

MIN_SIZE = 500  # smaller bodies gain less than the CPU and the header cost
CODINGS = ("br", "gzip")  # ours first when the browser takes both alike
TEXT_TYPES = frozenset({
    "text/html", "text/css", "text/javascript", "application/javascript", "application/json",
    "application/manifest+json", "image/svg+xml",
})
# Levels: (gzip, brotli). Pages are made per request; a static file once per version.
FAST, BEST = (6, 4), (9, 11)

# Not every system's mime.types knows the web app manifest (chatbot/static/manifest.webmanifest).
mimetypes.add_type("application/manifest+json", ".webmanifest")


def init_app(app: Flask) -> None:
    app.extensions["chatbot.compression"] = compression = Compression()
    app.after_request(compression.after_request)


class Compression:
    """The after_request hook, with its cache of compressed static files."""

    def __init__(self) -> None:
        # (file name, coding): (the file's ETag, its compressed bytes); one version per file
        self.files: dict[tuple[str, str], tuple[str, bytes]] = {}

    def after_request(self, response: Response) -> Response:
        # One of our files, as send_file serves it: a stream of the open file, "inline".
        static = request.endpoint == "static" and response.direct_passthrough
        if (response.mimetype not in TEXT_TYPES or "Content-Encoding" in response.headers
                or "Upgrade" in request.headers  # a WebSocket handshake
                or (not static and (response.is_streamed or "Content-Disposition" in response.headers))):
            return response  # a stream goes out as written, each chunk when it is yielded
        response.vary.add("Accept-Encoding")
        coding = request.accept_encodings.best_match(CODINGS)
        size = response.content_length if static else len(response.get_data())
        if (coding is None or size is None or size < MIN_SIZE
                or response.status_code < 200 or response.status_code in (204, 206)):
            return response  # a 206 is a range of the uncompressed bytes: it stays so
        _weaken_etag(response)  # a 304's too: it carries the ETag that the 200 would have
        if response.status_code == 304:
            return response
        body = self._static(response, coding) if static else _compress(response.get_data(), coding, FAST)
        response.direct_passthrough = False
        response.set_data(body)
        response.headers["Content-Encoding"] = coding
        response.headers.pop("Accept-Ranges", None)  # ranges are served of the uncompressed file only
        return response

    def _static(self, response: Response, coding: str) -> bytes:
        """The file's compressed bytes, made on its first request after each change (a new
        ETag: modified time and size). Only files that exist get here: the cache is bounded."""
        key = ((request.view_args or {}).get("filename", request.path), coding)
        etag = response.get_etag()[0] or ""
        try:
            known = self.files.get(key)
            if known is None or known[0] != etag or not etag:
                known = (etag, _compress(b"".join(response.iter_encoded()), coding, BEST))
                if etag:
                    self.files[key] = known
        finally:
            close = getattr(response.response, "close", None)
            if close is not None:
                close()  # the opened file: its body is replaced
        return known[1]


def _compress(data: bytes, coding: str, levels: tuple[int, int]) -> bytes:
    if coding == "br":
        packed: bytes = brotli.compress(data, quality=levels[1])
        return packed
    return gzip.compress(data, compresslevel=levels[0], mtime=0)


def _weaken_etag(response: Response) -> None:
    etag, weak = response.get_etag()
    if etag and not weak:
        response.set_etag(etag, weak=True)
