"""Prometheus metrics at ``/metrics``: requests by route and status, open sockets and reply
streams, replies by outcome, the model's time to first text and tokens per second and its
errors, by provider, and requests refused by a limit. Counted in each worker and added up
across gunicorn's workers when scraped (prometheus_client's multiprocess mode, whose folder
chatbot/gunicorn_conf.py makes). Served only with METRICS_TOKEN set, to a bearer of it."""
from __future__ import annotations

import hmac
import os
import time
from functools import cache
from types import SimpleNamespace

from flask import Blueprint, Flask, Response, abort, g, request

from . import logs

bp = Blueprint("metrics", __name__)


@cache
def _metrics() -> SimpleNamespace:
    """The metrics, made on first use, in the worker: prometheus_client decides as it is
    imported whether it counts for several processes (PROMETHEUS_MULTIPROC_DIR, which
    gunicorn's master sets before its workers start), so nothing imports it sooner."""
    from prometheus_client import Counter, Gauge, Histogram

    return SimpleNamespace(
        requests=Counter("chatbot_http_requests_total", "HTTP requests answered, by route (its pattern) and status.",
                         ["method", "route", "status"]),
        request_seconds=Histogram("chatbot_http_request_seconds", "Time to answer a request (a stream: to its start).",
                                  ["route"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)),
        refused=Counter("chatbot_rate_limited_total", "Requests refused by a limit (429), by route.", ["route"]),
        open=Gauge("chatbot_open_live_connections", "Chat sockets and reply event streams open now.", ["kind"],
                   multiprocess_mode="livesum"),
        replies=Counter("chatbot_replies_total", "Replies ended, by outcome (complete, stopped, error) and provider.",
                        ["outcome", "provider"]),
        first_text=Histogram("chatbot_reply_first_token_seconds", "From asking the model to its first text.",
                             ["provider"], buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)),
        tokens_per_second=Histogram("chatbot_reply_tokens_per_second", "A reply's tokens over the time it was written.",
                                    ["provider"], buckets=(1, 5, 10, 20, 40, 80, 160, 320, 640)),
        model_errors=Counter("chatbot_model_errors_total", "Replies the model provider failed.", ["provider"]),
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.after_request(_count)


def provider(model: str) -> str:
    """A model id's provider: "openai" of "openai/gpt-4o" (the offline responder is its own)."""
    return model.split("/", 1)[0] if "/" in model else model


def _count(response: Response) -> Response:
    metrics, route = _metrics(), logs.route()
    metrics.requests.labels(request.method, route, str(response.status_code)).inc()
    if "request_started" in g:  # (logs.py's)
        metrics.request_seconds.labels(route).observe(time.monotonic() - g.request_started)
    if response.status_code == 429:
        metrics.refused.labels(route).inc()
    return response


def connection_opened(kind: str) -> None:
    _metrics().open.labels(kind).inc()


def connection_closed(kind: str) -> None:
    _metrics().open.labels(kind).dec()


def reply_ended(outcome: str, model: str, first_text_seconds: float | None, tokens_per_second: float | None,
                failed_at_provider: bool) -> None:
    metrics, source = _metrics(), provider(model)
    metrics.replies.labels(outcome, source).inc()
    if first_text_seconds is not None:
        metrics.first_text.labels(source).observe(first_text_seconds)
    if tokens_per_second is not None:
        metrics.tokens_per_second.labels(source).observe(tokens_per_second)
    if failed_at_provider:
        metrics.model_errors.labels(source).inc()


@bp.get("/metrics")
def scrape():
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

    from .backends import settings  # (backends imports the runner, which counts here)

    token = settings().metrics_token
    if not token:
        abort(404)  # off unless asked for
    if not hmac.compare_digest(request.headers.get("Authorization", "").encode(), f"Bearer {token}".encode()):
        return Response("A bearer token is needed.\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'})
    _metrics()  # (so that a scrape before any request still lists them)
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # under gunicorn: every worker's counts
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
