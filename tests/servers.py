"""Start the real thing: gunicorn with the gevent worker, on a free loopback port."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


# Every test's users come from one address, 127.0.0.1: the per-address limits would count
# them as one stranger. Tests of those limits set their own.
ONE_ADDRESS_MANY_USERS = {"SIGNUP_LIMIT_PER_ADDRESS": "100000 per hour", "LOGIN_LIMIT_PER_ADDRESS": "100000 per hour"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def embedded_server(base: Path, **env: str) -> "Gunicorn":
    """A server on embedded defaults in folder ``base``, with ``.store`` to look inside."""
    from chatbot.database import make_engine
    from chatbot.sqlstore import SQLStore

    env = {"CHATBOT_ENV": "development", "SECRET_KEY": "server-test", "INSTANCE_PATH": str(base),
           "DATABASE_URL": f"sqlite:///{base / 'chat.sqlite3'}", **env}
    server = Gunicorn(env)
    server.store = SQLStore(make_engine(env["DATABASE_URL"]))
    return server


def app_like(server):
    """An app in this process with the configuration of ``server`` (a Gunicorn, or a
    cluster of them): the same database, channel and session store. Made once per server."""
    server = getattr(server, "a", server)  # a cluster: its first instance
    if getattr(server, "app", None) is None:
        from chatbot import create_app

        server.app = create_app({**server.app_env, "TESTING": True})
    return server.app


class Gunicorn:
    """``with Gunicorn(env) as server:`` runs ``gunicorn -c gunicorn.conf.py wsgi:app``."""

    def __init__(self, env: dict[str, str], workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app_env = {**ONE_ADDRESS_MANY_USERS, **env}  # what the app is configured with
        self.env = {**os.environ, **self.app_env, "PYTHONUNBUFFERED": "1"}
        self.app = None  # an in-process app like it, once asked for (app_like)
        self.workers = workers
        self.log_path = Path(env["INSTANCE_PATH"]) / "gunicorn.log"

    def __enter__(self) -> Gunicorn:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.workers), "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.close()
                raise RuntimeError(f"gunicorn exited:\n{self.log_path.read_text()}")
            try:
                requests.get(self.url + "/login", timeout=5)
                return self
            except requests.RequestException:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"gunicorn did not start:\n{self.log_path.read_text()}")

    def __exit__(self, *exc) -> None:
        self.stop(signal.SIGQUIT)  # at once: a finished test has nothing to wait for
        self._close_app()

    def _close_app(self) -> None:
        """Close what the in-process app like this server opened (app_like): its channel's
        tasks and connections, its database pool."""
        if self.app is None:
            return
        from chatbot.backends import backends

        b, self.app = backends(self.app), None
        b.runner.shutdown()
        b.channel.shutdown()
        for holder in (b._store, b.sessions, b.directory):  # the SQL backends' engines (none on Supabase)
            engine = getattr(holder, "engine", None)
            if engine is not None:
                engine.dispose()

    def stop(self, how: signal.Signals) -> None:
        """SIGTERM as a deploy stops it (open connections get graceful_timeout), SIGQUIT at once."""
        self.process.send_signal(how)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def restart(self) -> None:
        """Stop as a deploy does (SIGTERM) and start again on the same port."""
        self.stop(signal.SIGTERM)
        self.__enter__()

    def worker_pids(self) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in found.split()]

    def kill(self) -> None:
        """``kill -9`` the whole instance, master and workers: nothing gets to clean up."""
        for pid in [self.process.pid, *self.worker_pids()]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text()
