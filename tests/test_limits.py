"""Rate limits, in one process: a limited request gets 429 with Retry-After and a page or
the composer saying when to come back, and a refused message never reaches the model.
(Across workers, with Redis, and on the socket: tests/test_limits_server.py.)"""
from __future__ import annotations

import threading

import pytest

from chatbot import create_app
from chatbot.backends import backends
from tests.conftest import make_config, new_chat, send
from tests.fakes import ScriptedModel

PASSWORD = "correct horse"


def make_app(tmp_path, **limits):
    return create_app(make_config(tmp_path, **limits))


def signup(client, email):
    return client.post("/signup", data={"email": email, "password": PASSWORD})


def login(client, email, password, address="192.0.2.1"):
    return client.post("/login", data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": address})


def assert_limited(response, words="Try again in"):
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert words in response.text


def test_failed_log_ins_to_one_account_are_limited_from_any_address(tmp_path):
    app = make_app(tmp_path, LOGIN_LIMIT_PER_ACCOUNT="3 per minute")
    signup(app.test_client(), "ada@example.com")
    signup(app.test_client(), "bob@example.com")
    client = app.test_client()
    for n in range(3):
        assert login(client, "ada@example.com", "wrong password", f"192.0.2.{n}").status_code == 422
    refused = login(client, "Ada@Example.com ", PASSWORD, "198.51.100.7")  # even the right one, from elsewhere
    assert_limited(refused)
    assert "Too many tries" in refused.text and "Too many log-in attempts. Try again in" in refused.text
    assert login(client, "bob@example.com", PASSWORD).status_code == 302  # other accounts are not locked


def test_successful_log_ins_do_not_count_against_the_account(tmp_path):
    app = make_app(tmp_path, LOGIN_LIMIT_PER_ACCOUNT="2 per minute")
    signup(app.test_client(), "ada@example.com")
    for _ in range(4):
        assert login(app.test_client(), "ada@example.com", PASSWORD).status_code == 302


def test_log_in_attempts_from_one_address_are_limited(tmp_path):
    app = make_app(tmp_path, LOGIN_LIMIT_PER_ADDRESS="4 per minute")
    client = app.test_client()
    for n in range(4):
        assert login(client, f"user{n}@example.com", "wrong password", "203.0.113.9").status_code == 422
    assert_limited(login(client, "user9@example.com", "wrong password", "203.0.113.9"))
    assert login(client, "user9@example.com", "wrong password", "203.0.113.10").status_code == 422


def test_sign_ups_from_one_address_are_limited(tmp_path):
    app = make_app(tmp_path, SIGNUP_LIMIT_PER_ADDRESS="2 per hour")
    for n in range(2):
        assert signup(app.test_client(), f"user{n}@example.com").status_code == 302
    refused = signup(app.test_client(), "third@example.com")
    assert_limited(refused, "minutes")
    assert backends(app).store.user_by_email("third@example.com") is None


def test_password_reset_requests_from_one_address_are_limited(tmp_path):
    app = make_app(tmp_path, RESET_LIMIT_PER_ADDRESS="2 per hour")
    client = app.test_client()
    for _ in range(2):
        assert client.post("/forgot", data={"email": "ada@example.com"}).status_code == 200
    assert_limited(client.post("/forgot", data={"email": "ada@example.com"}))


def test_sends_per_user_are_limited_and_the_model_is_not_called(tmp_path):
    app = make_app(tmp_path, SEND_LIMIT_PER_USER="2 per minute")
    model = backends(app).model = ScriptedModel(["ok"])
    client = app.test_client()
    signup(client, "ada@example.com")
    chat_id = new_chat(client)
    for text in ("one", "two"):
        assert send(client, chat_id, text).status_code == 303
    refused = client.post(f"/chats/{chat_id}/messages", data={"content": "three"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "You are sending messages faster than this site allows" in refused.text
    assert ">three</textarea>" in refused.text  # the draft is kept
    assert len(model.conversations) == 2
    owner = backends(app).store.user_by_email("ada@example.com").id
    assert [m.content for m in backends(app).store.messages(owner, chat_id) if m.role == "user"] == ["one", "two"]
    htmx = client.post(f"/chats/{chat_id}/messages", data={"content": "four"}, headers={"HX-Request": "true"})
    assert htmx.status_code == 429 and htmx.headers["HX-Retarget"] == "#composer" and "Retry-After" in htmx.headers
    assert client.post(f"/chats/{chat_id}/regenerate").status_code == 429


def test_replies_written_at_once_per_user_are_limited(tmp_path):
    app = make_app(tmp_path, MAX_REPLIES_PER_USER="1")
    held = threading.Event()  # the first reply goes on being written until the test ends
    backends(app).model = ScriptedModel(["slow"], gate=held)
    client = app.test_client()
    signup(client, "ada@example.com")
    first, second = new_chat(client), new_chat(client)
    assert client.post(f"/chats/{first}/messages", data={"content": "one"}).status_code == 303
    refused = client.post(f"/chats/{second}/messages", data={"content": "two"})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "5"
    assert "You already have 1 reply being written" in refused.text
    held.set()


def test_limits_are_settings_and_bad_ones_stop_start_up(tmp_path):
    with pytest.raises(SystemExit, match="SEND_LIMIT_PER_USER: must be a rate like"):
        make_app(tmp_path, SEND_LIMIT_PER_USER="often")
    with pytest.raises(SystemExit, match="MAX_SOCKETS_PER_USER: must be at least 1"):
        make_app(tmp_path, MAX_SOCKETS_PER_USER="0")


def test_with_redis_a_users_sends_are_counted_once_across_processes(tmp_path):
    """Two apps on one database and one Redis, as two workers are: one count per user."""
    from tests.conftest import require_service
    from tests.redis_server import RedisServer

    if not RedisServer.available():
        require_service("redis-server is not installed")
    with RedisServer() as redis:
        shared = dict(REDIS_URL=redis.url, SEND_LIMIT_PER_USER="2 per minute",
                      DATABASE_URL=f"sqlite:///{tmp_path / 'shared.sqlite3'}")
        first, second = make_app(tmp_path / "a", **shared), make_app(tmp_path / "b", **shared)
        for app in (first, second):
            backends(app).model = ScriptedModel(["ok"])
        here = first.test_client()
        signup(here, "ada@example.com")
        there = second.test_client()
        assert login(there, "ada@example.com", PASSWORD).status_code == 302
        chat_id = new_chat(here)
        assert here.post(f"/chats/{chat_id}/messages", data={"content": "one"}).status_code == 303
        assert there.post(f"/chats/{chat_id}/messages", data={"content": "two"}).status_code == 303
        assert here.post(f"/chats/{chat_id}/messages", data={"content": "three"}).status_code == 429
        for app in (first, second):
            backends(app).runner.shutdown()
            backends(app).channel.shutdown()
