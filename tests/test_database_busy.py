"""A busy database never freezes the server (the real gunicorn + gevent): SQLite's file
locked by another process, a PostgreSQL table locked by another connection. Requests that
need the database wait cooperatively for a short bound and then get a 503 that says when to
come back, with the typed message kept; everything else goes on being served at once."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import requests

from tests.conftest import require_service, wait_until
from tests.databases import postgres_database
from tests.live_client import User
from tests.servers import Gunicorn, embedded_server

pytestmark = pytest.mark.server

BUSY = "2"  # DATABASE_BUSY_SECONDS for these servers


@contextmanager
def locked_sqlite(path: Path, seconds: float):
    """Another process holding the SQLite file's write lock (a long transaction: a backup, a
    maintenance script) for ``seconds``, or until the block ends. In WAL mode readers go on."""
    script = textwrap.dedent(f"""
        import sqlite3, sys, time
        db = sqlite3.connect({str(path)!r}, isolation_level=None, timeout=30)
        db.execute("BEGIN IMMEDIATE")
        db.execute("CREATE TABLE IF NOT EXISTS busy_test (x)")
        print("locked", flush=True)
        time.sleep({seconds})
        db.execute("ROLLBACK")
        db.close()
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with embedded_server(tmp_path_factory.mktemp("busy"), DATABASE_BUSY_SECONDS=BUSY) as running:
        yield running


def database_file(server) -> Path:
    return Path(server.env["DATABASE_URL"].removeprefix("sqlite:///"))


def test_a_locked_sqlite_file_stalls_no_other_request(server):
    ada = User(server, "stall@example.com")
    chat_id = ada.new_chat()
    with locked_sqlite(database_file(server), seconds=8):
        waiting = {}
        writer = threading.Thread(target=lambda: waiting.update(
            answer=timed(lambda: ada.post(f"/chats/{chat_id}/messages", content="needs a write"))))
        writer.start()  # needs the write lock: waits its bound, cooperatively
        time.sleep(0.3)
        for path in (f"/chats/{chat_id}", "/account"):  # reads: answered at once meanwhile
            response, took = timed(lambda: ada.http.get(server.url + path, timeout=30))
            assert response.status_code == 200 and took < 1.0, (path, took)
        for path in ("/login", "/static/app.css"):
            response, took = timed(lambda: requests.get(server.url + path, timeout=30))
            assert response.status_code == 200 and took < 1.0, (path, took)
        writer.join()
    response, took = waiting["answer"]
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
    assert "cannot reach its database" in response.text
    assert 1.5 < took < 5.0  # its bound (2 s), not the lock's 8 s
    assert ada.post(f"/chats/{chat_id}/messages", content="now").status_code == 200  # and fine at once after


def test_a_send_while_the_database_is_locked_fails_fast_and_keeps_the_text(server):
    ada = User(server, "send-locked@example.com")
    chat_id = ada.new_chat()
    view = ada.open(chat_id)
    with locked_sqlite(database_file(server), seconds=10):
        page, took = timed(lambda: ada.post(f"/chats/{chat_id}/messages", content="my carefully typed question"))
        assert page.status_code == 503 and took < 5.0 and int(page.headers["Retry-After"]) >= 1
        assert ">my carefully typed question</textarea>" in page.text and "Not sent" in page.text
        htmx = ada.http.post(f"{server.url}/chats/{chat_id}/messages", headers={"HX-Request": "true"},
                             data={"content": "typed for htmx", "csrf_token": ada.token})
        assert htmx.status_code == 503 and htmx.headers["HX-Retarget"] == "#composer"
        assert ">typed for htmx</textarea>" in htmx.text
        view.send("typed on the socket")
        assert view.wait(lambda v: v.composer_error, timeout=10).startswith("Not sent")
        assert view.frames[-1].count("typed on the socket") == 1
    owner = server.store.user_by_email("send-locked@example.com").id
    assert server.store.messages(owner, chat_id) == []  # nothing half-stored, no model call


def test_a_short_lock_is_waited_out(server):
    ada = User(server, "short-lock@example.com")
    chat_id = ada.new_chat()
    with locked_sqlite(database_file(server), seconds=0.5):
        page = ada.post(f"/chats/{chat_id}/messages", content="worth the wait")
    assert page.status_code == 200 and "worth the wait" in page.text


def test_a_lock_longer_than_the_worker_timeout_kills_no_worker(tmp_path):
    """gunicorn kills a worker whose loop is blocked past its timeout: a database wait never
    blocks it, so the worker (and every stream it holds) lives on."""
    with embedded_server(tmp_path, DATABASE_BUSY_SECONDS="1", WORKER_TIMEOUT="3") as server:
        ada = User(server, "timeout@example.com")
        chat_id = ada.new_chat()
        [worker] = server.worker_pids()
        with locked_sqlite(database_file(server), seconds=7):
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline:  # send after send, each refused after 1 s
                assert ada.post(f"/chats/{chat_id}/messages", content="again").status_code == 503
        assert server.worker_pids() == [worker]
        assert "WORKER TIMEOUT" not in server.output()
        assert ada.post(f"/chats/{chat_id}/messages", content="at last").status_code == 200


@pytest.fixture
def postgres_url():
    with postgres_database() as url:
        if url is None:
            require_service("PostgreSQL is not running on 127.0.0.1:5432")
        yield url


def test_a_locked_postgres_table_fails_a_send_fast_and_others_go_on(postgres_url, tmp_path):
    env = {"CHATBOT_ENV": "development", "SECRET_KEY": "busy-pg", "INSTANCE_PATH": str(tmp_path),
           "DATABASE_URL": postgres_url}
    with Gunicorn(env) as server:
        ada = User(server, "pg-locked@example.com")
        chat_id = ada.new_chat()
        with psycopg.connect(postgres_url) as holder:
            holder.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")  # until the block ends
            sending = {}
            sender = threading.Thread(target=lambda: sending.update(
                answer=timed(lambda: ada.post(f"/chats/{chat_id}/messages", content="held up"))))
            sender.start()
            time.sleep(0.3)
            for path in ("/static/app.css", "/account"):  # the account page reads no message: served meanwhile
                response, took = timed(lambda: ada.http.get(server.url + path, timeout=30, allow_redirects=False))
                assert response.status_code == 200 and took < 1.0, (path, took)
            sender.join()
            holder.rollback()
        response, took = sending["answer"]
        assert response.status_code == 503 and took < 8.0 and ">held up</textarea>" in response.text
        assert ada.post(f"/chats/{chat_id}/messages", content="free again").status_code == 200


def test_with_postgresql_away_a_send_fails_fast_and_it_recovers(tmp_path):
    """A PostgreSQL server of the test's own, stopped mid-test and started again."""
    from tests.postgres17 import BIN, postgres17_available, running_postgres17

    if not postgres17_available():
        require_service(f"PostgreSQL 17 is not installed in {BIN} (.ci/run installs it)")
    with running_postgres17() as database:
        env = {"CHATBOT_ENV": "development", "SECRET_KEY": "pg-away", "INSTANCE_PATH": str(tmp_path),
               "DATABASE_URL": database.url}
        with Gunicorn(env) as server:
            ada = User(server, "pg-away@example.com")
            chat_id = ada.new_chat()
            database.stop("fast")
            try:
                page, took = timed(lambda: ada.post(f"/chats/{chat_id}/messages", content="while it was away"))
                assert page.status_code == 503 and took < 5.0 and int(page.headers["Retry-After"]) >= 1
                # Not even the session can be read: the page says so, and holds the text to send again.
                assert "cannot reach its database" in page.text and ">while it was away</textarea>" in page.text
                response, took = timed(lambda: requests.get(server.url + "/static/app.css", timeout=30))
                assert response.status_code == 200 and took < 1.0
            finally:
                database.start()
            again = ada.post(f"/chats/{chat_id}/messages", content="back again")
            assert again.status_code == 200, again.text[:2000]


def test_a_reply_finishing_while_the_database_is_locked_is_saved_when_it_returns(tmp_path):
    with embedded_server(tmp_path, DATABASE_BUSY_SECONDS="0.5", OFFLINE_TOKEN_DELAY="0.02") as server:
        ada = User(server, "held@example.com")
        chat_id = ada.new_chat()
        view = ada.open(chat_id)
        view.send("Tell me a long story about lighthouses and the keepers who kept them lit")
        reply = view.wait(lambda v: next((m for m in v.replies() if m["status"] == "streaming" and m["text"]), None))
        held = f"reply {reply['id']} in chat {chat_id} not saved yet"
        with locked_sqlite(database_file(server), seconds=30):
            wait_until(lambda: held in server.output(), timeout=20)  # finished, and held in memory
        owner = server.store.user_by_email("held@example.com").id
        wait_until(lambda: server.store.message(owner, reply["id"]).status == "complete", timeout=20)
        stored = server.store.message(owner, reply["id"])
        view.wait(lambda v: v.messages[reply["id"]]["status"] == "complete")
        assert stored.content and stored.content.strip() == view.messages[reply["id"]]["text"].strip()



def test_a_reply_that_cannot_be_saved_says_so_to_the_user_and_the_log(tmp_path):
    with embedded_server(tmp_path, DATABASE_BUSY_SECONDS="0.5", REPLY_SAVE_SECONDS="1",
                         OFFLINE_TOKEN_DELAY="0.02") as server:
        ada = User(server, "lost@example.com")
        chat_id = ada.new_chat()
        view = ada.open(chat_id)
        view.send("Tell me a long story about lighthouses and the keepers who kept them lit")
        reply = view.wait(lambda v: next((m for m in v.replies() if m["status"] == "streaming" and m["text"]), None))
        with locked_sqlite(database_file(server), seconds=30):
            view.wait(lambda v: v.messages[reply["id"]]["status"] == "error", timeout=20)
            assert any("could not be saved" in frame for frame in view.frames)
            assert view.messages[reply["id"]]["text"]  # the text is on the page, to copy
            assert f"reply {reply['id']} in chat {chat_id} could not be saved" in server.output()
