"""A self-hostable AI chat server: Flask pages enhanced by htmx, replies streamed live."""
from __future__ import annotations

import logging
import os
import uuid
from typing import Mapping

from flask import Flask, render_template
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.middleware.proxy_fix import ProxyFix

from . import assets, backends, compression, logs, metrics, security, streaming_markdown
from .accounts import limits
from .accounts.sessions import ServerSessionInterface, refuse_if_unavailable
from .attachments import MAX_FILES
from .errors import TooMany, Unavailable
from .extensions import csrf, login_manager
from .live.capacity import OpenStreams
from .rendering import render_markdown
from .settings import Settings


def create_app(test_config: Mapping[str, object] | None = None) -> Flask:
    """Build the app. ``test_config`` overrides environment variables and Flask config."""
    if test_config is None:
        from dotenv import load_dotenv

        load_dotenv()  # an optional .env in the working directory; real variables win
    environ = {**os.environ, **{k: str(v) for k, v in (test_config or {}).items()}}
    # INSTANCE_PATH: where the SQLite file and the generated development key live.
    app = Flask(__name__, instance_path=_absolute(environ.get("INSTANCE_PATH")), instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    settings = Settings.from_env(environ, app.instance_path)

    app.config.update(
        SECRET_KEY=settings.secret_key,
        # A message (UTF-8 worst case) with its most and largest files, and the form around them.
        MAX_CONTENT_LENGTH=settings.message_max_chars * 4 + MAX_FILES * settings.attachment_max_bytes + 64 * 1024,
        # "__Host-": the browser takes these cookies only from this very host over HTTPS, for
        # the whole site, so no subdomain (or a plain-HTTP network attacker) can plant or
        # overwrite one. Development serves plain HTTP, which the prefix forbids.
        SESSION_COOKIE_NAME="__Host-session" if settings.is_production else "session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        # flask-login's remember-me cookie is never set ("remember me" is a longer idle time
        # of the server-side session) and never honoured (see extensions.load_user); under
        # this name it is deleted from browsers that still have one.
        REMEMBER_COOKIE_NAME="__Host-remember_token" if settings.is_production else "remember_token",
        REMEMBER_COOKIE_SECURE=settings.is_production,
        # Tokens live as long as the session: a chat tab left open for hours must still send.
        WTF_CSRF_TIME_LIMIT=None,
    )
    if test_config:
        app.config.update({k: v for k, v in test_config.items() if k.isupper()})
    app.extensions["chatbot.settings"] = settings
    # The app's own log lines (sign-ins, limits, provider failures) at INFO, to Flask's
    # handler on stderr, which gunicorn's log collects; unless the host configured otherwise.
    if app.logger.level == logging.NOTSET:
        app.logger.setLevel(logging.INFO)
    logs.init_app(app, settings.log_format)  # a line per request, with its id; text or JSON lines
    metrics.init_app(app)  # /metrics, with METRICS_TOKEN

    backends.init_app(app, settings)
    app.session_interface = ServerSessionInterface(backends.backends(app).sessions, settings.session_policy)
    app.before_request(refuse_if_unavailable)
    if settings.trusted_proxies:
        # The client's address (for limits and the log) from X-Forwarded-For, as set by
        # that many proxies of ours in front; never believed without them, as anyone can send it.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies,  # type: ignore[method-assign]
                                x_proto=settings.trusted_proxies)
    limits.init_app(app, settings)
    app.extensions["chatbot.streams"] = OpenStreams(settings.max_streams)
    csrf.init_app(app)
    login_manager.init_app(app)
    security.init_app(app)
    assets.init_app(app)
    compression.init_app(app)
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.filters["reply_so_far"] = streaming_markdown.shown
    app.jinja_env.globals["new_client_id"] = lambda: str(uuid.uuid4())

    from . import account, admin, auth, chat, health, import_pages, library, preset_pages, search_pages, share_pages
    from .live import views as live

    app.config.setdefault("SOCK_SERVER_OPTIONS", {
        "ping_interval": 25,  # keeps proxies from closing idle sockets; finds dead peers
        "max_message_size": live.MAX_COMMAND_BYTES,
    })
    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(chat.bp)
    app.register_blueprint(preset_pages.bp)
    app.register_blueprint(search_pages.bp)
    app.register_blueprint(library.bp)
    app.register_blueprint(share_pages.bp)
    app.register_blueprint(import_pages.bp)
    app.register_blueprint(live.bp)
    live.sock.init_app(app)

    @app.errorhandler(404)
    def not_found(_error):
        return render_template("errors/404.html"), 404

    @app.errorhandler(413)
    def too_large(_error):
        return render_template("errors/too_large.html", limit=settings.attachment_max_bytes, files=MAX_FILES), 413

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(error):
        return too_many(limits.refusal(error))

    @app.errorhandler(TooMany)
    def too_many(error):
        response = app.make_response((render_template("errors/too_many.html", error=error), 429))
        response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(Unavailable)
    def unavailable(error):
        response = app.make_response((render_template("errors/unavailable.html", error=error), 503))
        response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        return render_template("errors/csrf.html", reason=error.description), 400

    return app


def _absolute(path: str | None) -> str | None:
    return os.path.abspath(path) if path else None
