"""Resetting a forgotten password on local accounts: a link by email (a real SMTP server on
loopback), or in the server log in development."""
from __future__ import annotations

import email
import email.policy
import logging
import re
import socket
import time

import pytest
from aiosmtpd.controller import Controller
from itsdangerous import URLSafeTimedSerializer

from chatbot import create_app
from chatbot.backends import backends
from chatbot.settings import ConfigError, Settings
from tests.conftest import make_config

LINK = re.compile(r"https?://\S+/reset/\S+")


class Inbox:
    """aiosmtpd's handler: keeps every message the server accepted."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []  # (recipient, text)

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.rcpt_tos[0], message.get_content()))
        return "250 OK"

    def wait(self, count: int = 1, timeout: float = 5.0) -> list[tuple[str, str]]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages


@pytest.fixture
def inbox():
    handler = Inbox()
    with socket.socket() as probe:  # a free port (the controller checks it can connect to it)
        probe.bind(("127.0.0.1", 0))
        handler.port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    yield handler
    controller.stop()


@pytest.fixture
def mail_app(tmp_path, inbox):
    return create_app(make_config(tmp_path, SMTP_HOST="127.0.0.1", SMTP_PORT=str(inbox.port), SMTP_SECURITY="none",
                                  SMTP_FROM="chatbot@example.com", PUBLIC_URL="https://chat.example.com"))


@pytest.fixture
def mail_client(mail_app):
    client = mail_app.test_client()
    client.post("/signup", data={"email": "ada@example.com", "password": "old password"})
    client.post("/logout")
    return client


def reset_link(inbox) -> str:
    (recipient, text), = inbox.wait()
    assert recipient == "ada@example.com"
    return LINK.search(text).group(0)


def test_the_login_page_offers_a_reset(client):
    assert b'href="/forgot"' in client.get("/login").data


def test_a_reset_link_by_email_sets_a_new_password(mail_client, inbox):
    page = mail_client.post("/forgot", data={"email": " Ada@Example.com "})
    assert b"we have sent it a link" in page.data
    link = reset_link(inbox)
    assert link.startswith("https://chat.example.com/reset/")  # PUBLIC_URL, not the request's host
    path = link.removeprefix("https://chat.example.com")
    assert b'name="password"' in mail_client.get(path).data
    response = mail_client.post(path, data={"password": "new password"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert b"Your password has been changed." in mail_client.get("/", follow_redirects=True).data
    mail_client.post("/logout")
    assert mail_client.post("/login", data={"email": "ada@example.com", "password": "old password"}).status_code == 422
    assert mail_client.post("/login", data={"email": "ada@example.com", "password": "new password"}).status_code == 302


def test_a_link_works_once(mail_client, inbox):
    mail_client.post("/forgot", data={"email": "ada@example.com"})
    path = reset_link(inbox).removeprefix("https://chat.example.com")
    mail_client.post(path, data={"password": "new password"})
    mail_client.post("/logout")
    again = mail_client.post(path, data={"password": "third password"})
    assert again.status_code == 400 and b"expired or has been used already" in again.data
    assert mail_client.get(path).status_code == 400


def test_an_expired_or_forged_link_is_refused(mail_app, mail_client):
    user = backends(mail_app).store.user_by_email("ada@example.com")

    class Yesterday(URLSafeTimedSerializer):
        def get_timestamp(self):
            return int(time.time()) - 86_400

    old = Yesterday(mail_app.config["SECRET_KEY"], salt="password-reset").dumps({"user": user.id, "hash": "x"})
    forged = URLSafeTimedSerializer("not-our-key", salt="password-reset").dumps({"user": user.id})
    for token in (old, forged, "garbage"):
        response = mail_client.post(f"/reset/{token}", data={"password": "new password"})
        assert response.status_code == 400 and b"Ask for a new one" in response.data
    assert mail_client.post("/login", data={"email": "ada@example.com", "password": "old password"}).status_code == 302


def test_a_short_new_password_is_refused_beside_the_field(mail_client, inbox):
    mail_client.post("/forgot", data={"email": "ada@example.com"})
    path = reset_link(inbox).removeprefix("https://chat.example.com")
    response = mail_client.post(path, data={"password": "short"})
    assert response.status_code == 422
    assert re.search(rb'id="password-error">Use at least 8 characters', response.data)


def test_an_unknown_email_gets_the_same_answer_and_no_mail(mail_client, inbox):
    known = mail_client.post("/forgot", data={"email": "ada@example.com"})
    unknown = mail_client.post("/forgot", data={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert _without_csrf(known.data) == _without_csrf(unknown.data)
    time.sleep(0.3)
    assert [to for to, _ in inbox.wait()] == ["ada@example.com"]


def _without_csrf(html: bytes) -> bytes:
    return re.sub(rb'value="[^"]*"', b"", html)


def test_in_development_without_smtp_the_link_goes_to_the_log(client, auth, caplog):
    auth.signup()
    auth.logout()
    with caplog.at_level(logging.WARNING, logger="chatbot.mail"):
        client.post("/forgot", data={"email": "ada@example.com"})
        deadline = time.monotonic() + 5
        while not LINK.search(caplog.text) and time.monotonic() < deadline:
            time.sleep(0.02)
    path = "/reset/" + LINK.search(caplog.text).group(0).split("/reset/", 1)[1]
    assert client.post(path, data={"password": "new password"}).status_code == 302


def test_in_production_without_smtp_the_page_says_resets_are_off(tmp_path):
    app = create_app(make_config(tmp_path, CHATBOT_ENV="production"))
    page = app.test_client().get("/forgot")
    assert b"not set up on this server" in page.data and b'name="email"' not in page.data


@pytest.mark.parametrize("environ, variable", [
    ({"SMTP_HOST": "smtp.example.com"}, "SMTP_FROM"),
    ({"SMTP_HOST": "smtp.example.com", "SMTP_FROM": "a@example.com", "SECRET_KEY": "k"}, "PUBLIC_URL"),
    ({"SMTP_SECURITY": "tls"}, "SMTP_SECURITY"),
    ({"SMTP_PORT": "smtp"}, "SMTP_PORT"),
    ({"PUBLIC_URL": "chat.example.com"}, "PUBLIC_URL"),
])
def test_mail_settings_are_checked_at_start_up(tmp_path, environ, variable):
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"CHATBOT_ENV": "production", "SECRET_KEY": "k", **environ}, str(tmp_path))
    assert error.value.variable == variable


# With a real mail server, an open sign-up confirms its email first, so that its answer is
# the same for an email that has an account already (whose owner gets a note instead).

CONFIRM_LINK = re.compile(r"https://chat\.example\.com/confirm/(\S+)")


def test_with_a_mail_server_sign_up_answers_the_same_whether_or_not_the_email_is_taken(mail_app, inbox):
    first = mail_app.test_client()  # the first account: the admin, signed in at once
    assert first.post("/signup", data={"email": "root@example.com", "password": "correct horse"}).status_code == 302
    new = mail_app.test_client().post("/signup", data={"email": "ada@example.com", "password": "correct horse"})
    taken = mail_app.test_client().post("/signup", data={"email": "root@example.com", "password": "battery staple"})
    assert new.status_code == taken.status_code == 200
    strip = lambda html: re.sub(r'value="[^"]*"|<strong>[^<]*</strong>', "", html)  # noqa: E731
    assert "Check your email" in new.text and strip(new.text) == strip(taken.text)
    messages = dict(inbox.wait(2))
    assert CONFIRM_LINK.search(messages["ada@example.com"])
    assert "has an account already" in messages["root@example.com"]
    assert "https://chat.example.com/forgot" in messages["root@example.com"]
    login = mail_app.test_client().post("/login", data={"email": "root@example.com", "password": "correct horse"})
    assert login.status_code == 302  # the account that exists is untouched


def test_an_unconfirmed_account_cannot_sign_in_until_its_link_is_followed(mail_app, inbox):
    mail_app.test_client().post("/signup", data={"email": "root@example.com", "password": "correct horse"})
    mail_app.test_client().post("/signup", data={"email": "ada@example.com", "password": "correct horse"})
    token = CONFIRM_LINK.search(dict(inbox.wait(1))["ada@example.com"]).group(1)
    client = mail_app.test_client()
    refused = client.post("/login", data={"email": "ada@example.com", "password": "correct horse"})
    assert refused.status_code == 422 and "Confirm your email address first" in refused.text
    page = client.get(f"/confirm/{token}")  # a mail scanner opening the link confirms nothing
    assert page.status_code == 200 and "Confirm and sign in" in page.text
    assert backends(mail_app).store.user_by_email("ada@example.com").status == "unconfirmed"
    response = client.post(f"/confirm/{token}")
    assert response.status_code == 302 and client.get("/").status_code == 200
    assert backends(mail_app).store.user_by_email("ada@example.com").status == "active"
    again = mail_app.test_client().post(f"/confirm/{token}")
    assert again.status_code == 400 and "expired or has been used" in again.text
    assert mail_app.test_client().get("/confirm/not-a-token").status_code == 400
