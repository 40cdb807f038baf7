"""Server-side sessions: the cookie is a random token for a record the server can end."""
from __future__ import annotations

import hashlib
from datetime import timedelta

from flask.sessions import SecureCookieSessionInterface

from chatbot import create_app
from chatbot.accounts.sessions import hash_token
from chatbot.backends import backends
from tests.conftest import make_config, owner_id


def session_cookie(client):
    return client.get_cookie("session")


def signed_cookie(app, data: dict) -> str:
    """A session cookie as Flask signs one with the app's key (as before server-side sessions)."""
    interface = SecureCookieSessionInterface()
    return interface.get_signing_serializer(app).dumps(data)


def test_the_cookie_carries_only_a_random_token(app, client, auth):
    auth.signup()
    token = session_cookie(client).value
    assert len(token) == 43 and "." not in token  # 256 random bits, nothing signed, nothing readable
    record = backends(app).sessions.load(hash_token(token))
    assert record.user_id == owner_id(backends(app).store)
    assert "_user_id" in record.data and "csrf_token" not in token
    # The database keeps only the token's hash: a copy of it signs nobody in.
    with backends(app).store.engine.connect() as db:
        stored = db.exec_driver_sql("SELECT token_hash FROM sessions").scalar()
    assert stored == hashlib.sha256(token.encode()).hexdigest() and token not in stored


def test_signing_in_makes_a_new_token(client, auth):
    auth.signup()
    first = session_cookie(client).value
    auth.logout()
    auth.login()
    assert session_cookie(client).value != first


def test_a_token_saved_before_logout_opens_nothing_after_it(client, auth):
    auth.signup()
    saved = session_cookie(client).value
    assert client.get("/").status_code == 200
    auth.logout()
    client.set_cookie("session", saved)
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_an_old_signed_cookie_with_a_user_id_opens_nothing(app, client, auth, store):
    """Before server-side sessions, the signed cookie held the user id: such a cookie, or a
    forged one made with a leaked key, is no longer a credential."""
    auth.signup()
    user_id = owner_id(store)
    auth.logout()
    client.set_cookie("session", signed_cookie(app, {"_user_id": user_id, "_fresh": True}))
    assert client.get("/").status_code == 302


def test_a_remember_me_cookie_opens_nothing(app, client, auth, store):
    """flask-login's remember-me cookie is not a second credential: it is never honoured."""
    from flask_login.utils import _cookie_digest

    auth.signup()
    user_id = owner_id(store)
    auth.logout()
    with app.test_request_context():
        forged = f"{user_id}|{_cookie_digest(user_id)}"
    client.set_cookie("remember_token", forged)
    assert client.get("/").status_code == 302
    assert client.get_cookie("remember_token") is None  # and it is cleared away


def test_remember_me_is_a_longer_idle_time_of_the_same_session(app, client, auth):
    auth.signup()
    auth.logout()
    auth.login(remember=False)
    assert session_cookie(client).expires is None  # gone with the browser
    record = backends(app).sessions.load(hash_token(session_cookie(client).value))
    assert not record.remember
    assert timedelta(hours=11) < record.expires_at - record.last_seen_at <= timedelta(hours=12)
    auth.logout()
    auth.login(remember=True)
    cookie = session_cookie(client)
    assert cookie.expires is not None and cookie.http_only
    record = backends(app).sessions.load(hash_token(cookie.value))
    assert record.remember
    assert timedelta(days=29) < record.expires_at - record.last_seen_at <= timedelta(days=30)
    assert client.get_cookie("remember_token") is None


def test_an_idle_session_ends(tmp_path):
    app = create_app(make_config(tmp_path))
    client = app.test_client()
    client.post("/signup", data={"email": "ada@example.com", "password": "correct horse"})
    assert client.get("/").status_code == 200
    sessions = backends(app).sessions
    token = hash_token(session_cookie(client).value)
    with sessions.engine.begin() as db:  # as if its last request were a while ago
        db.exec_driver_sql("UPDATE sessions SET expires_at = '2000-01-01 00:00:00.000000'")
    assert sessions.load(token) is None
    response = client.get("/")
    assert response.status_code == 302
    assert session_cookie(client) is None or session_cookie(client).value != token


def test_a_session_ends_at_its_absolute_limit_however_busy(tmp_path):
    app = create_app(make_config(tmp_path, SESSION_MAX_DAYS="0.001"))  # 86.4 seconds
    client = app.test_client()
    client.post("/signup", data={"email": "ada@example.com", "password": "correct horse"})
    record = backends(app).sessions.load(hash_token(session_cookie(client).value))
    limit = record.created_at + timedelta(seconds=86.4)
    assert record.expires_at <= limit
    sessions = backends(app).sessions
    sessions.save(hash_token(session_cookie(client).value), None, idle=3600)  # activity never extends it
    assert sessions.load(hash_token(session_cookie(client).value)).expires_at <= limit


def test_activity_moves_the_idle_end(app, client, auth):
    auth.signup()
    sessions = backends(app).sessions
    token = hash_token(session_cookie(client).value)
    with sessions.engine.begin() as db:
        db.exec_driver_sql("UPDATE sessions SET last_seen_at = '2026-01-01 00:00:00.000000'")
    before = sessions.load(token).expires_at
    assert client.get("/").status_code == 200
    after = sessions.load(token)
    assert after.expires_at >= before and after.last_seen_at.year > 2026 - 1


def test_strangers_leave_no_records(app, client):
    for _ in range(5):
        assert client.get("/login").status_code == 200
        client.post("/login", data={"email": "nobody@example.com", "password": "wrong password"})
    with backends(app).store.engine.connect() as db:
        assert db.exec_driver_sql("SELECT count(*) FROM sessions").scalar() == 0
