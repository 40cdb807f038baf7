"""Fixtures in the flaskr manner: an app on a temporary SQLite file, a client, auth actions."""
from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager

import pytest

from chatbot import create_app
from chatbot.backends import backends
from tests.servers import ONE_ADDRESS_MANY_USERS

# Variables a developer may have set that would change what the tests see.
_OUTSIDE = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL", "OPENAI_MODELS", "MODELS_CONFIG", "DATABASE_URL", "SECRET_KEY",
            "CHATBOT_ENV", "INSTANCE_PATH", "CONTEXT_TOKENS", "MESSAGE_MAX_CHARS")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in _OUTSIDE:
        monkeypatch.delenv(name, raising=False)


def make_config(tmp_path, **overrides):
    config = {
        "TESTING": True,
        "CHATBOT_ENV": "development",
        "SECRET_KEY": "test-secret",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'test.sqlite3'}",
        "OFFLINE_TOKEN_DELAY": "0",
        "WTF_CSRF_ENABLED": False,
        **ONE_ADDRESS_MANY_USERS,
    }
    config.update(overrides)
    return config


@pytest.fixture
def app(tmp_path):
    return create_app(make_config(tmp_path))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def store(app):
    return backends(app).store


class AuthActions:
    def __init__(self, client):
        self._client = client

    def signup(self, email="ada@example.com", password="correct horse"):
        return self._client.post("/signup", data={"email": email, "password": password})

    def login(self, email="ada@example.com", password="correct horse", remember=False):
        data = {"email": email, "password": password}
        if remember:
            data["remember"] = "on"
        return self._client.post("/login", data=data)

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def user(client, auth):
    """A client signed in as ada@example.com."""
    auth.signup()
    return client


def owner_id(store, email="ada@example.com"):
    return store.user_by_email(email).id


def new_chat(client) -> str:
    """A chat of the client's signed-in user with no messages yet, and its id. The app makes
    a chat only with its first message; a test that wants to begin with an empty one gets
    it made as the app would make it, in a request of that user's."""
    return empty_chat(client.application, _cookies(client))


def empty_chat(app, cookies: str) -> str:
    """A chat with no messages for the user whose session ``cookies`` (a Cookie header) carry."""
    from chatbot.chats import DEFAULT_TITLE, announce_chats

    with request_of(app, cookies) as user:
        b = backends(app)
        chat = b.store.add_chat(user.id, DEFAULT_TITLE, b.model.name)
        announce_chats(b.channel, user.id)
        return chat.id


def send(client, chat_id: str, content: str, files=(), **data):
    """Send a message (and ``files``) as a browser without JavaScript does, and wait for the
    reply to be written (that browser's page refreshes until it is). The response to the send."""
    response = client.post(f"/chats/{chat_id}/messages", data={"content": content, "files": list(files), **data},
                           content_type="multipart/form-data")
    with request_of(client.application, _cookies(client)) as user:
        store = backends(client.application).store
        wait_until(lambda: all(m.status != "streaming" for m in store.messages(user.id, chat_id)), what="the reply")
    return response


@contextmanager
def request_of(app, cookies: str):
    """A request of the user whose session ``cookies`` (a Cookie header) carry, begun and
    ended as the app's own are (its session saved): the signed-in user inside."""
    from flask_login import current_user

    with app.test_request_context("/", headers={"Cookie": cookies}):
        app.preprocess_request()
        yield current_user
        app.process_response(app.make_response(("", 204)))


def _cookies(client) -> str:
    cookie = client.get_cookie(client.application.config["SESSION_COOKIE_NAME"])
    return f"{cookie.key}={cookie.value}"


def wait_for_reply(store, channel, owner_id: str, message_id: str, timeout: float) -> bool:
    """Block until the reply is finished (True) or ``timeout`` passes (False). The store
    is asked too while the channel is quiet: its last word may have been lost."""
    from chatbot.live import topics
    from chatbot.live.channel import Event, follow
    from chatbot.live.events import ReplyDone
    from chatbot.store import STREAMING

    deadline = time.monotonic() + timeout
    for item in follow(channel, topics.reply(message_id), after=0, timeout=min(timeout, 2.0)):
        if isinstance(item, Event) and isinstance(item.data, ReplyDone):
            return True
        if not isinstance(item, Event):  # quiet, or a gap
            message = store.message(owner_id, message_id)
            if message is None or message.status != STREAMING:
                return True
        if time.monotonic() > deadline:
            return False
    return True


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def wait_until(condition, timeout: float = 15.0, what: str = "condition"):
    """Poll ``condition`` until it is truthy (return it), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return result


def require_service(reason: str):
    """Skip when a service is missing, except in CI, where a skip would hide a gap."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must have it)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def standin():
    """The loopback Supabase (tests/supabase/) over a fresh database shaped like a project's."""
    from tests.databases import supabase_database
    from tests.supabase.server import SupabaseStandin

    with supabase_database() as url:
        if url is None:
            require_service("PostgreSQL is not running on 127.0.0.1:5432")
        with SupabaseStandin(url) as running:
            yield running


# Fixtures of other modules, for every test module. Imported last: they use require_service.
from tests.postgres17 import postgres17_url  # noqa: E402,F401 - the PostgreSQL 17 server, started on first use
