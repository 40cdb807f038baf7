"""Logs an operator can use: one line per request and one per reply's outcome, each with the
request's id (taken from a proxy's X-Request-ID, else made here, and sent back in the
response), which also goes to the model provider (OpenAI's X-Client-Request-Id) so its logs
meet ours; as text, or as JSON lines with LOG_FORMAT=json. Never a secret: a request is
logged by its route's pattern ("/s/<token>"), not its path, so share tokens, search words
and other values in addresses stay out."""
from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from datetime import datetime, timezone

from flask import Flask, Response, g, request
from flask.logging import default_handler
from flask_login import current_user

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")  # what a proxy's id may be; anything else is replaced
# Fields that log calls pass with ``extra=`` and that JSON lines carry as their own keys.
FIELDS = ("request_id", "method", "route", "status", "ms", "bytes", "user", "chat", "reply", "model", "outcome",
          "prompt_tokens", "completion_tokens", "first_token_ms", "tokens_per_second", "seconds")
log = logging.getLogger("chatbot.requests")


def init_app(app: Flask, log_format: str) -> None:
    default_handler.addFilter(_with_request_id)
    default_handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(
        "[%(asctime)s] %(levelname)s in %(module)s: %(message)s%(request_note)s"))
    app.before_request(_begin)
    app.after_request(_logged)


def _begin() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if _VALID_ID.match(given) else uuid.uuid4().hex
    g.request_started = time.monotonic()
    REQUEST_ID.set(g.request_id)


def route() -> str:
    """The request's route as declared ("/s/<token>"), never its address, which may hold secrets."""
    return request.url_rule.rule if request.url_rule else "(no route)"


def _logged(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id is None:
        return response
    response.headers["X-Request-ID"] = request_id
    where = route()
    ms = round((time.monotonic() - g.request_started) * 1000, 1)
    user = current_user.get_id() if current_user and current_user.is_authenticated else None
    log.info("%s %s %s %.1f ms", request.method, where, response.status_code, ms, extra={
        "request_id": request_id, "method": request.method, "route": where, "status": response.status_code, "ms": ms,
        # The length only if already known: working it out would read a stream (an SSE reply) whole.
        "bytes": response.content_length, "user": user})
    return response


def _with_request_id(record: logging.LogRecord) -> bool:
    """Give every line the id of the request (or reply) it was written for, if any."""
    if getattr(record, "request_id", None) is None:
        record.request_id = REQUEST_ID.get()
    record.request_note = f" (request {record.request_id})" if record.request_id else ""
    return True


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the request's id and the line's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        line.update((name, getattr(record, name)) for name in FIELDS if getattr(record, name, None) is not None)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)
