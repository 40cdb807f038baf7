"""Local accounts: sign up, log in, log out, remember me; chat pages need a login."""
import subprocess
import sys

import pytest

from chatbot import accounts
from tests.servers import ROOT


def test_signup_page_has_labelled_fields(client):
    html = client.get("/signup").text
    assert '<label for="email">Email</label>' in html
    assert '<label for="password">Password</label>' in html
    assert ">Sign up</button>" in html


def test_signup_creates_an_account_and_signs_in(client, auth, store):
    response = auth.signup("Ada@Example.com ", "correct horse")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    user = store.user_by_email("ada@example.com")
    assert user.password_hash.startswith("$argon2id$")
    assert "correct horse" not in user.password_hash
    assert client.get("/").status_code == 200  # signed in: the empty start page


@pytest.mark.parametrize("email, password, field, message", [
    ("", "correct horse", "email", "Enter a valid email address."),
    ("not-an-email", "correct horse", "email", "Enter a valid email address."),
    ("ada@example.com", "short", "password", "Use at least 8 characters."),
    ("ada@example.com", "x" * 2000, "password", "Use at most 1024 characters."),
])
def test_signup_errors_show_beside_the_field(client, store, email, password, field, message):
    response = client.post("/signup", data={"email": email, "password": password})
    assert response.status_code == 422
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in response.text
    assert f'aria-describedby="{field}-error"' in response.text
    assert store.user_by_email("ada@example.com") is None


def test_signup_keeps_the_email_but_never_the_password(client):
    html = client.post("/signup", data={"email": "ada@example.com", "password": "short"}).text
    assert 'value="ada@example.com"' in html
    assert 'value="short"' not in html


def test_duplicate_signup_does_not_say_the_email_is_taken(client, auth):
    auth.signup()
    auth.logout()
    response = auth.signup("ADA@example.com", "another password")
    assert response.status_code == 422
    assert accounts.SIGNUP_REFUSED.replace("'", "&#39;") in response.text
    for telltale in ("exists", "taken", "registered", "already in use"):
        assert telltale not in response.text.lower()


def test_wrong_password_and_unknown_email_look_the_same(client, auth):
    auth.signup()
    auth.logout()
    wrong_password = auth.login("ada@example.com", "wrong password")
    unknown_email = auth.login("nobody@example.com", "wrong password")
    assert wrong_password.status_code == unknown_email.status_code == 422
    assert "match an account" in wrong_password.text

    def error_of(html):
        return html[html.index('<p class="field-error"'):].split("</p>")[0]
    assert error_of(wrong_password.text) == error_of(unknown_email.text)


def test_login_and_logout(client, auth):
    auth.signup()
    auth.logout()
    assert client.get("/").status_code == 302
    response = auth.login()
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    assert auth.logout().headers["Location"] == "/login"
    assert client.get("/").status_code == 302


def test_logout_needs_a_post(client, auth):
    auth.signup()
    assert client.get("/logout").status_code == 405


@pytest.mark.parametrize("path", ["/", "/chats/00000000-0000-4000-8000-000000000000"])
def test_chat_pages_require_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("target, expected", [
    ("/chats/abc", "/chats/abc"),
    ("//evil.example/", "/"),
    ("https://evil.example/", "/"),
    ("/\\evil.example", "/"),
])
def test_login_returns_only_to_this_site(client, auth, target, expected):
    auth.signup()
    auth.logout()
    response = client.post(f"/login?next={target}", data={"email": "ada@example.com", "password": "correct horse"})
    assert response.headers["Location"] == expected


def test_password_hashing_runs_off_the_event_loop():
    """Under gevent, another greenlet keeps running while a password is hashed."""
    code = """
from gevent import monkey; monkey.patch_all()
import gevent, time
from argon2 import PasswordHasher
from chatbot.offload import offload
_hasher = PasswordHasher()
ticks = []
def ticker():
    while True:
        ticks.append(time.monotonic()); gevent.sleep(0.005)
gevent.spawn(ticker)
gevent.sleep(0.01)
before = len(ticks)
for _ in range(3):
    offload(_hasher.hash, "correct horse")
print(len(ticks) - before)
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 5  # a blocking hash would have let it tick at most once or twice
