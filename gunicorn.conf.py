"""gunicorn settings for production: gevent workers that hold many long-lived streams.

Run: gunicorn -c gunicorn.conf.py wsgi:app   (every value below can be overridden on the
command line or with GUNICORN_CMD_ARGS).
"""
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
worker_class = "gevent"
# One gevent worker is an event loop serving thousands of connections. The embedded live
# channel is in-process, so several workers need a shared channel (Redis) to see each
# other's replies stream; until that is configured, keep one.
workers = int(os.environ.get("WEB_CONCURRENCY", 1))
# A hard cap on open connections per worker, streams and sockets included; past it new
# clients hang in the handshake. ~145 kB per idle socket: 2000 is ~300 MB per worker.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", 2000))
# On a deploy, give streams this long to finish; browsers then reconnect and catch up.
graceful_timeout = 30
timeout = 30  # the gevent worker heartbeats on its own: this only catches a blocked loop
keepalive = 5
# No preload: loading the app in the master would import ssl before gevent patches it.
preload_app = False
accesslog = "-"
control_socket_disable = True


def on_starting(server):
    """Check the configuration once, in the master, so a bad variable stops start-up
    with one line instead of every worker failing to boot in a loop."""
    from chatbot.settings import Settings

    Settings.from_env(os.environ, os.environ.get("INSTANCE_PATH") or os.path.abspath("instance"))
