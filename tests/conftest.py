"""Fixtures in the flaskr manner: an app on a temporary SQLite file, a client, auth actions."""
from __future__ import annotations

import os
import re
import time

import pytest

from chatbot import create_app
from chatbot.backends import backends
from tests.servers import ONE_ADDRESS_MANY_USERS

# Variables a developer may have set that would change what the tests see.
_OUTSIDE = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL", "DATABASE_URL", "SECRET_KEY",
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
    """Create a chat through the app and return its id."""
    response = client.post("/chats")
    assert response.status_code == 302
    return response.headers["Location"].rsplit("/", 1)[1]


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
