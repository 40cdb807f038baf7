"""gunicorn settings for production: gevent workers that hold many long-lived streams.

Run: ``chatbot serve`` (or, from a checkout, ``gunicorn -c gunicorn.conf.py wsgi:app``). Every
value below can be overridden on gunicorn's command line or with GUNICORN_CMD_ARGS.
"""
import glob
import multiprocessing
import os
import shutil
import tempfile
import time

from chatbot.settings import live_channel_named  # settings only: the app itself loads in each worker

bind = os.environ.get("BIND", "127.0.0.1:8000")
worker_class = "gevent"
# One gevent worker is an event loop serving thousands of connections, on one core. With a
# shared live channel (Redis or PostgreSQL) workers see each other's replies: one per core.
# The embedded in-process channel cannot be shared, so it runs one (on_starting refuses more).
_shared_channel = live_channel_named(os.environ) != "memory"
workers = int(os.environ.get("WEB_CONCURRENCY") or (multiprocessing.cpu_count() if _shared_channel else 1))
# A hard cap on open connections per worker, streams and sockets included; past it new
# clients hang in the handshake. ~145 kB per idle socket: 2000 is ~300 MB per worker.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", 2000))
# On a deploy, give streams this long to finish; browsers then reconnect and catch up.
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", 30))
timeout = int(os.environ.get("WORKER_TIMEOUT", 30))  # the gevent worker heartbeats on its own: this only catches a blocked loop
keepalive = 5
# No preload: loading the app in the master would import ssl before gevent patches it.
preload_app = False
# No access log of gunicorn's: the app logs each request itself (chatbot/logs.py), by its
# route's pattern rather than its path (no share token or search words in the log), with its id.
accesslog = None
control_socket_disable = True
# Prometheus metrics are counted in each worker and added up when scraped: each worker writes
# its counts into files in this folder (a new one per start, unless the operator names one).
_METRICS_FOLDER = "chatbot-metrics-"
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=_METRICS_FOLDER)


def on_starting(server):
    """Check the configuration once, in the master, so a bad variable stops start-up
    with one line instead of every worker failing to boot in a loop."""
    from chatbot.settings import ConfigError, Settings

    settings = Settings.from_env(os.environ, os.environ.get("INSTANCE_PATH") or os.path.abspath("instance"))
    if settings.live_channel == "memory" and server.cfg.workers > 1:
        raise ConfigError("WEB_CONCURRENCY", f"{server.cfg.workers} workers need a shared live channel: the "
                                             "in-process one shows a reply only to views in its own process. "
                                             "Set REDIS_URL (or LIVE_CHANNEL=postgres), or run one worker")


def when_ready(server):
    """A folder of metrics kept from an earlier run would add its counts to this one's."""
    for stale in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(stale)


def on_exit(server):
    if os.path.basename(os.environ["PROMETHEUS_MULTIPROC_DIR"]).startswith(_METRICS_FOLDER):  # ours: made above
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def child_exit(server, worker):
    """A worker gone: its live gauges (open sockets and streams) no longer count."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Hold this worker's lease and sweep dead processes' replies from the start, not only
    once it writes a reply: an idle instance still cleans up after a dead one. And watch
    for the worker being told to stop (SIGTERM, a deploy)."""
    if runner := _runner(worker):
        runner.start_background()
        import gevent

        gevent.spawn(_drain_when_stopping, worker)


def _drain_when_stopping(worker):
    """Once the worker stops taking connections, its open chat sockets are told to go (1012:
    their pages reconnect to another instance and catch up), so they do not hold it;
    replies being written go on (worker_exit waits for them)."""
    import gevent

    while worker.alive:
        gevent.sleep(0.2)
    worker.stopping_since = time.monotonic()
    worker.wsgi.extensions["chatbot.streams"].drain()


def worker_exit(server, worker):
    """A worker leaving on purpose lets the replies it is writing finish within the graceful
    timeout (their event streams and other instances' views follow them to the end), stops
    and keeps the rest, marked interrupted with their text, then ends its lease."""
    if runner := _runner(worker):
        started = getattr(worker, "stopping_since", time.monotonic())
        runner.finish(until=started + worker.cfg.graceful_timeout - FINISH_MARGIN)
        runner.shutdown()


# Seconds of the graceful timeout kept for saving the replies cut short, before the master's SIGKILL.
FINISH_MARGIN = 3


def _runner(worker):
    """The chat app's reply runner (None for another app run with these settings, such as
    the benchmark's reference relay)."""
    backends = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("chatbot")
    return backends.runner if backends else None
