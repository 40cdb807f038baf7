"""Rate limits against the real server: on the socket, open sockets per user, limits shared
by two workers through Redis, the client address behind trusted proxies, and the log."""
from __future__ import annotations

import re
import time

import pytest
import requests
from websockets.exceptions import InvalidStatus

from tests.conftest import csrf_token, require_service, wait_until
from tests.live_client import User
from tests.redis_server import RedisServer
from tests.servers import Gunicorn, embedded_server

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def redis_url():
    if not RedisServer.available():
        require_service("redis-server is not installed")
    with RedisServer() as server:
        yield server.url


def try_login(base: str, email: str, password: str, headers: dict | None = None) -> int:
    """One log-in from a fresh browser (a new connection, so any worker may take it)."""
    browser = requests.Session()
    token = csrf_token(browser.get(base + "/login").text)
    return browser.post(base + "/login", data={"email": email, "password": password, "csrf_token": token},
                        headers=headers or {}, allow_redirects=False).status_code


def test_socket_commands_and_sends_are_limited_on_the_socket(tmp_path):
    with embedded_server(tmp_path, SOCKET_COMMAND_LIMIT="4 per second", SEND_LIMIT_PER_USER="3 per minute",
                         OFFLINE_TOKEN_DELAY="0") as server:
        ada = User(server, "busy@example.com")
        chat_id = ada.new_chat()
        assert ada.post(f"/chats/{chat_id}/messages", content="by form").status_code == 200  # sends count alike
        view = ada.open(chat_id)
        for n in range(10):
            view.command("stop", message_id="00000000-0000-4000-8000-000000000000", csrf_token=ada.token)
        view.send("over the command limit")
        assert view.wait(lambda v: v.composer_error).startswith("Slow down: try again in")
        owner = server.store.user_by_email("busy@example.com").id

        def sent():
            return [m.content for m in server.store.messages(owner, chat_id) if m.role == "user"]

        def settled():  # every reply finished, as the store has it
            return all(m.status != "streaming" for m in server.store.messages(owner, chat_id))

        assert sent() == ["by form"]
        time.sleep(1.1)  # the per-second window passes
        for text in ("two", "three"):
            view.send(text)
            wait_until(lambda: text in sent() and settled())
        updates = view.composer_updates
        view.send("four")
        view.wait(lambda v: v.composer_updates > updates)
        assert "You are sending messages faster than this site allows" in view.composer_error
        assert sent() == ["by form", "two", "three"]
        assert not view.closed



def test_open_sockets_per_user_are_limited_across_workers(redis_url, tmp_path):
    with Gunicorn({"CHATBOT_ENV": "development", "SECRET_KEY": "limits", "INSTANCE_PATH": str(tmp_path),
                   "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.sqlite3'}", "REDIS_URL": redis_url,
                   "MAX_SOCKETS_PER_USER": "2"}, workers=2) as server:
        ada = User(server, "tabs@example.com")
        chat_id = ada.new_chat()
        first, second = ada.open(chat_id), ada.open(chat_id)
        with pytest.raises(InvalidStatus) as refused:
            ada.open(chat_id)
        assert refused.value.response.status_code == 429
        assert int(refused.value.response.headers["Retry-After"]) >= 1
        first.close()
        first.wait(lambda v: v.closed)
        reopened = []

        def reopen():  # the slot comes back as soon as the server sees the close
            try:
                reopened.append(ada.open(chat_id))
            except InvalidStatus:
                return False
            return True

        wait_until(reopen)
        assert not second.closed


def test_two_workers_share_one_log_in_limit_through_redis(redis_url, tmp_path):
    with Gunicorn({"CHATBOT_ENV": "development", "SECRET_KEY": "limits", "INSTANCE_PATH": str(tmp_path),
                   "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.sqlite3'}", "REDIS_URL": redis_url,
                   "LOGIN_LIMIT_PER_ACCOUNT": "4 per minute"}, workers=2) as server:
        assert len(server.worker_pids()) == 2
        User(server, "shared@example.com")
        answers = [try_login(server.url, "shared@example.com", "wrong password") for _ in range(10)]
        assert answers == [422] * 4 + [429] * 6  # one count, whichever worker answered
        assert try_login(server.url, "shared@example.com", "correct horse") == 429


def test_the_client_address_comes_from_trusted_proxies_only(tmp_path):
    limited = {"LOGIN_LIMIT_PER_ADDRESS": "2 per minute"}
    spoof = {"X-Forwarded-For": "198.51.100.1"}
    with embedded_server(tmp_path / "direct", **limited) as server:  # no proxy: the header is anyone's to send
        answers = [try_login(server.url, "x@example.com", "wrong password", {"X-Forwarded-For": f"198.51.100.{n}"})
                   for n in range(3)]
        assert answers == [422, 422, 429]
    with embedded_server(tmp_path / "proxied", TRUSTED_PROXIES="1", **limited) as server:
        answers = [try_login(server.url, "x@example.com", "wrong password", {"X-Forwarded-For": f"198.51.100.{n}"})
                   for n in range(3)]
        assert answers == [422, 422, 422]  # three clients, as the proxy says
        assert [try_login(server.url, "x@example.com", "wrong password", spoof) for _ in range(3)][-1] == 429
        assert "log-in refused" in server.output() and "from 198.51.100.1" in server.output()


def test_auth_events_are_logged_with_account_and_address_and_never_a_secret(tmp_path):
    with embedded_server(tmp_path) as server:
        ada = User(server, "logged@example.com")
        owner = server.store.user_by_email("logged@example.com").id
        ada.post("/logout")
        assert try_login(server.url, "logged@example.com", "a wrong secret") == 422
        assert try_login(server.url, "my secret password", "typed in the wrong box") == 422
        assert try_login(server.url, "logged@example.com", "correct horse") == 302
        log = server.output()
        assert f"signed up: user {owner} (admin) from 127.0.0.1" in log
        assert f"signed out: user {owner} from 127.0.0.1" in log
        assert "log-in refused (That email and password don't match an account.): logged@example.com from 127.0.0.1" \
            in log
        assert "(not an email address)" in log
        assert len(re.findall(f"signed in: user {owner} from 127.0.0.1", log)) == 2
        for secret in ("a wrong secret", "correct horse", "my secret password", "typed in the wrong box"):
            assert secret not in log
        assert "Traceback" not in log and "VerifyMismatchError" not in log
        cookie = ada.http.cookies.get("session") or ""
        assert not cookie or cookie not in log
