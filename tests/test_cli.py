"""The ``chatbot`` command as an operator runs it, installed with the package: serve (a real
gunicorn with gevent workers), check (against real PostgreSQL, Redis and a model provider
on loopback, up and down), db upgrade, admin create and promote, backup (while the server
writes), each with --help."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import require_service
from tests.databases import postgres_database
from tests.live_client import User
from tests.openai_stub import API_KEY, StubOpenAI
from tests.redis_server import RedisServer
from tests.servers import embedded_server, free_port

pytestmark = pytest.mark.server
CHATBOT = Path(sys.executable).with_name("chatbot")  # the console script pip installed


def run(*arguments: str, env: dict[str, str] | None = None, cwd: Path | None = None, stdin: str | None = None):
    """``chatbot ARGUMENTS`` with ``env`` on top of a clean environment: its output and status."""
    done = subprocess.run([str(CHATBOT), *arguments], env=_env(env), cwd=cwd, input=stdin, capture_output=True,
                          text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REDIS_", "DATABASE_", "SUPABASE_",
                                                                      "MODELS_", "LIVE_", "CHATBOT_", "PORT"))}
    return {**kept, **(extra or {})}


@pytest.fixture
def embedded(tmp_path):
    """The variables of a fresh install on embedded defaults, its instance folder in tmp_path."""
    return {"CHATBOT_ENV": "development", "INSTANCE_PATH": str(tmp_path / "instance")}


@pytest.mark.parametrize("command", [[], ["serve"], ["check"], ["db"], ["db", "upgrade"], ["admin"],
                                     ["admin", "create"], ["admin", "promote"], ["backup"]])
def test_every_command_says_what_it_does(command):
    status, output = run(*command, "--help")
    assert status == 0 and output.startswith(f"Usage: chatbot {' '.join(command)}".rstrip()), output
    if not command:
        assert all(name in output for name in ("serve", "check", "db", "admin", "backup"))


def test_serve_runs_gunicorn_with_gevent_workers_on_the_port_asked(embedded, tmp_path):
    port = free_port()
    server = subprocess.Popen([str(CHATBOT), "serve"], env=_env({**embedded, "PORT": str(port)}),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(f"http://127.0.0.1:{port}/login", server)
        assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json() == {"status": "ready"}
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=30)[0]
    assert f"Serving on http://localhost:{port}/" in output and "Using worker: gevent" in output
    assert (tmp_path / "instance" / "chatbot.sqlite3").exists() and server.returncode == 0


def test_serve_stops_on_a_bad_setting_with_its_name(tmp_path):
    status, output = run("serve", env={"INSTANCE_PATH": str(tmp_path)})  # production, without a SECRET_KEY
    assert status == 1 and "SECRET_KEY" in output and "Traceback" not in output


def test_check_on_embedded_defaults(embedded):
    status, output = run("check", env=embedded)
    assert status == 0, output
    assert "✓ configuration: development" in output and "✓ database: SQLite, empty" in output
    assert "✓ live channel: in this process" in output and "✓ models: the built-in offline responder" in output


def test_check_names_what_is_down_in_plain_words(embedded):
    if not RedisServer.available():
        require_service("redis-server is not installed")
    with RedisServer() as redis, StubOpenAI() as provider:
        env = {**embedded, "REDIS_URL": redis.url, "OPENAI_BASE_URL": provider.base_url, "OPENAI_API_KEY": API_KEY}
        status, output = run("check", env=env)
        assert status == 0, output
        assert "✓ live channel: Redis answers, shared by every worker" in output
        assert f"✓ models: openai: {provider.base_url} serves 5 models" in output
        redis.stop()
        status, output = run("check", env=env)
    assert status == 1 and "✗ live channel: Redis cannot be reached" in output and "(REDIS_URL)" in output
    status, output = run("check", env={**embedded, "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1"})
    assert status == 1 and "✗ models: openai: " in output and "could not be reached" in output
    status, output = run("check", env={**embedded, "DATABASE_URL": f"postgresql://nobody@127.0.0.1:{free_port()}/x"})
    assert status == 1 and "✗ database: PostgreSQL at postgresql+psycopg://nobody@127.0.0.1" in output
    status, output = run("check", env={**embedded, "LIVE_CHANNEL": "carrier-pigeon"})
    assert status == 1 and "LIVE_CHANNEL" in output


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_db_upgrade_brings_the_schema_to_the_newest(embedded, tmp_path, backend):
    with postgres_database() as url:
        if backend == "postgresql":
            if url is None:
                require_service("PostgreSQL is not running on 127.0.0.1:5432")
            embedded = {**embedded, "DATABASE_URL": url}
        status, output = run("check", env=embedded)
        assert status == 0 and "empty" in output
        status, output = run("db", "upgrade", env=embedded)
        assert status == 0 and "The database is at revision 0013, the newest." in output
        status, output = run("check", env=embedded)
        assert status == 0 and "schema revision 0013 (the newest)" in output
        assert run("db", "upgrade", env=embedded)[0] == 0  # again: nothing to do


def test_admin_create_and_promote(embedded):
    status, output = run("admin", "create", "root@example.com", env=embedded, stdin="correct horse battery\n" * 2)
    assert status == 0 and "root@example.com is an admin (active)." in output
    status, output = run("admin", "create", "root@example.com", "--password", "another good one", env=embedded)
    assert status == 1 and "chatbot admin promote root@example.com" in output
    status, output = run("admin", "create", "weak@example.com", "--password", "password123", env=embedded)
    assert status == 1 and "most commonly used" in output
    assert run("admin", "create", "second@example.com", "--password", "a fine passphrase", env=embedded)[0] == 0
    status, output = run("admin", "demote", "second@example.com", env=embedded)
    assert status == 0 and "second@example.com is not an admin" in output
    status, output = run("admin", "promote", "nobody@example.com", env=embedded)
    assert status == 1 and "no account has the email nobody@example.com" in output
    # The account signs in on the server, as an admin.
    from chatbot import create_app

    client = create_app({**embedded, "TESTING": True, "WTF_CSRF_ENABLED": False}).test_client()
    assert client.post("/login", data={"email": "root@example.com", "password": "correct horse battery"}
                       ).status_code == 302
    assert client.get("/admin").status_code == 200


def test_backup_copies_sqlite_while_the_server_writes(tmp_path):
    with embedded_server(tmp_path / "instance", OFFLINE_TOKEN_DELAY="0") as server:
        user = User(server, "ada@example.com")
        for n in range(3):
            assert user.post("/chats", content=f"Backed-up message {n}").status_code == 200
        env = {k: v for k, v in server.app_env.items() if k in ("CHATBOT_ENV", "INSTANCE_PATH", "DATABASE_URL",
                                                               "SECRET_KEY")}
        status, output = run("backup", env=env, cwd=tmp_path)
        assert status == 0, output
        copy = Path(output.split(" to ", 1)[1].split(" (", 1)[0])
        assert copy.parent == tmp_path and copy.name.startswith("chatbot-") and "bytes" in output
        with sqlite3.connect(copy) as db:
            texts = {row[0] for row in db.execute("select content from messages where role = 'user'")}
        assert texts == {f"Backed-up message {n}" for n in range(3)}
        assert run("backup", str(copy), env=env)[0] == 1  # never over an existing file
        status, output = run("backup", str(tmp_path / "named.sqlite3"), env=env)
        assert status == 0 and (tmp_path / "named.sqlite3").stat().st_size > 0


def test_backup_on_postgresql_gives_the_pg_dump_command_without_the_password(embedded):
    status, output = run("backup", env={**embedded, "DATABASE_URL": "postgresql://chat:s3cret@db.internal:5432/chat"})
    assert status == 0 and "pg_dump --format=custom --no-owner" in output
    assert '"postgresql://chat@db.internal:5432/chat"' in output and "s3cret" not in output


def test_serve_dev_needs_no_secret_and_reloads_on_a_code_change(tmp_path):
    import chatbot.errors

    port, log = free_port(), tmp_path / "serve.log"
    env = _env({"INSTANCE_PATH": str(tmp_path / "instance")})  # no CHATBOT_ENV: --dev makes it development
    with open(log, "w") as output:
        server = subprocess.Popen([str(CHATBOT), "serve", "--dev", "--port", str(port)], env=env, stdout=output,
                                  stderr=subprocess.STDOUT)
    try:
        _wait_for(f"http://127.0.0.1:{port}/login", server)
        deadline = time.monotonic() + 20
        while "errors.py modified" not in log.read_text():
            assert time.monotonic() < deadline, "no reload after a change to the code"
            Path(chatbot.errors.__file__).touch()  # (again, until the reloader has had its first look)
            time.sleep(0.5)
        _wait_for(f"http://127.0.0.1:{port}/login", server)  # served by the new worker
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert "Reloader is on" in log.read_text() and "Worker reloading: " in log.read_text()


def _wait_for(url: str, server: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
        time.sleep(0.2)


def test_check_and_admin_on_supabase(embedded, standin):
    env = {**embedded, "SUPABASE_URL": standin.url, "SUPABASE_PUBLISHABLE_KEY": standin.project.publishable_key,
           "SUPABASE_SECRET_KEY": standin.project.secret_key}
    status, output = run("check", env=env)
    assert status == 0 and f"✓ database: Supabase at {standin.url}, both keys accepted" in output, output
    assert standin.project.secret_key not in output
    status, output = run("check", env={**env, "SUPABASE_SECRET_KEY": "sb_secret_not-the-key"})
    assert status == 1 and "✗ database: Supabase refused the secret key" in output and "(SUPABASE_SECRET_KEY)" in output
    status, output = run("admin", "create", "root@example.com", "--password", "correct horse battery", env=env)
    assert status == 0 and "root@example.com is an admin (active)." in output, output
    status, output = run("db", "upgrade", env=env)
    assert status == 0 and "supabase db push" in output
