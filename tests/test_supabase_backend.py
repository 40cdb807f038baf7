"""The app on its Supabase backend, against the loopback Supabase stand-in (real HTTP, real
supabase-py, data in PostgreSQL under the project's migrations and RLS): accounts through
Supabase Auth, chats and replies through its REST API as the signed-in user, attachments
in its Storage, and each user's data out of every other user's reach.

The store contract itself runs on the adapter in test_store_contract.py."""
from __future__ import annotations

import io
import json
import logging
import re
import socket
import threading
import time
import uuid
import zipfile
from dataclasses import asdict
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
from postgrest.exceptions import APIError
from websockets.exceptions import InvalidStatus

from chatbot import create_app
from chatbot.accounts import Credentials, SessionEnded
from chatbot.accounts.sessions import hash_token, new_token
from chatbot.backends import backends
from chatbot.supabase_backend import SupabaseProject
from chatbot.supabase_backend import store as supabase_store
from chatbot.supabase_backend.accounts import SupabaseAccounts
from chatbot.accounts.sessions import SignOutAtProvider
from chatbot.supabase_backend.store import SupabaseStore
from tests.conftest import make_config, new_chat
from tests.live_client import User
from tests.servers import Gunicorn

PUBLIC_URL = "http://127.0.0.1:5000"  # where the stand-in's links send users back to
PASSWORD = "correct horse"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))


@pytest.fixture(autouse=True)
def _standin_defaults(standin):
    yield
    standin.auth.autoconfirm = True
    standin.auth.oauth_providers = {}
    standin.project.access_token_lifetime = 3600


def supabase_variables(standin) -> dict[str, str]:
    return {"SUPABASE_URL": standin.url, "SUPABASE_PUBLISHABLE_KEY": standin.project.publishable_key,
            "SUPABASE_SECRET_KEY": standin.project.secret_key}


def supabase_app(tmp_path, standin, **overrides):
    config = make_config(tmp_path, **supabase_variables(standin), PUBLIC_URL=PUBLIC_URL, **overrides)
    del config["DATABASE_URL"]
    return create_app(config)


@pytest.fixture
def app(tmp_path, standin):
    return supabase_app(tmp_path, standin)


def signed_up(app, email=None):
    client = app.test_client()
    email = email or f"{uuid.uuid4().hex[:10]}@example.com"
    response = client.post("/signup", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.text
    return client


def credentials_of(client) -> Credentials:
    with client.session_transaction() as session:
        return Credentials(**session["credentials"])


def project_of(standin) -> SupabaseProject:
    return SupabaseProject(standin.url, standin.project.publishable_key, standin.project.secret_key)


def app_path(link_location: str) -> str:
    """The part of a redirect back to the app that the test client requests."""
    parts = urlsplit(link_location)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_URL
    return f"{parts.path}?{parts.query}"


def follow_email(standin, to: str) -> str:
    """Open the newest email's link as a browser would: Supabase verifies it and redirects
    back to the app with a code."""
    email = [e for e in standin.auth.outbox if e.to == to][-1]
    response = requests.get(email.link, allow_redirects=False)
    assert response.status_code in (302, 303)
    return app_path(response.headers["Location"])


def rows(standin, query, *params):
    with psycopg.connect(standin.project.database_url) as db:
        return db.execute(query, params).fetchall()


# Chats and replies, as the signed-in user

def test_a_conversation_is_stored_in_supabase_as_its_user(app, standin):
    client = signed_up(app, "ada@example.com")
    chat_id = new_chat(client)
    response = client.post(f"/chats/{chat_id}/messages", data={"content": "Tell me about tide pools"})
    assert response.status_code == 303
    page = client.get(f"/chats/{chat_id}").text
    assert "Tell me about tide pools" in page
    # In the database, owned by the Supabase user: the reply was written (by the background
    # task) with the user's own token, through RLS.
    user_id = rows(standin, "select id from auth.users where email = %s", "ada@example.com")[0][0]
    stored = rows(standin, "select role, status, owner_id from public.messages where chat_id = %s order by seq",
                  chat_id)
    assert [(role, status) for role, status, _ in stored] == [("user", "complete"), ("assistant", "complete")]
    assert {owner for *_, owner in stored} == {user_id}


def test_another_users_chat_is_a_404(app):
    owner, stranger = signed_up(app), signed_up(app)
    chat_id = new_chat(owner)
    owner.post(f"/chats/{chat_id}/messages", data={"content": "private"})
    assert stranger.get(f"/chats/{chat_id}").status_code == 404
    assert stranger.post(f"/chats/{chat_id}/messages", data={"content": "injected"}).status_code == 404
    assert stranger.post(f"/chats/{chat_id}/delete").status_code == 404
    assert "private" in owner.get(f"/chats/{chat_id}").text


def test_rls_holds_even_where_the_code_would_let_a_call_through(app, standin):
    """The second lock alone: a store with one user's token that believes it acts for
    another (as a bug might) still reaches nothing of theirs."""
    owner, stranger = signed_up(app), signed_up(app)
    chat_id = new_chat(owner)
    owner.post(f"/chats/{chat_id}/messages", data={"content": "private"})
    owner_id = rows(standin, "select owner_id from public.chats where id = %s", chat_id)[0][0]
    confused = SupabaseStore(project_of(standin).user_client(credentials_of(stranger).access_token), str(owner_id))
    assert confused.chat(str(owner_id), chat_id) is None
    assert confused.messages(str(owner_id), chat_id) == []
    assert confused.delete_chat(str(owner_id), chat_id) is False
    with pytest.raises(LookupError):
        confused.add_turn(str(owner_id), chat_id, "injected", "m", "w")
    assert rows(standin, "select count(*) from public.messages where chat_id = %s", chat_id) == [(2,)]


def real_server(tmp_path, standin) -> Gunicorn:
    return Gunicorn({**supabase_variables(standin), "CHATBOT_ENV": "development", "SECRET_KEY": "server-test",
                     "INSTANCE_PATH": str(tmp_path), "OFFLINE_TOKEN_DELAY": "0.01"})


@pytest.mark.server
def test_the_real_server_streams_replies_over_the_socket_to_every_tab(tmp_path, standin):
    """gunicorn with the gevent worker on Supabase: the reply streams to both tabs of its
    user and is stored as that user; another user's socket cannot open the chat."""
    with real_server(tmp_path, standin) as server:
        ada = User(server, f"{uuid.uuid4().hex[:10]}@example.com")
        chat_id = ada.new_chat()
        first, second = ada.open(chat_id), ada.open(chat_id)
        first.send("Tell me about lighthouses")
        for view in (first, second):
            reply = view.wait(lambda v: next((m for m in v.replies() if m["status"] == "complete"), None))
        [(content, status)] = rows(standin, "select content, status from public.messages where id = %s", reply["id"])
        assert status == "complete" and content.strip() == reply["text"].strip()
        intruder = User(server, f"{uuid.uuid4().hex[:10]}@example.com")
        snooping = intruder.open(chat_id)
        snooping.wait(lambda v: v.closed)
        assert not snooping.messages
        for view in (first, second):
            view.close()  # or gunicorn's graceful stop waits for them


def test_long_lists_are_read_whole_past_the_apis_row_cap(app, standin, monkeypatch):
    """Supabase cuts every answer off at its "Max rows"; the store reads page by page."""
    client = signed_up(app)
    chat_ids = [new_chat(client) for _ in range(3)]
    for n in range(3):
        client.post(f"/chats/{chat_ids[0]}/messages", data={"content": f"question {n}"})
    monkeypatch.setattr(supabase_store, "PAGE", 2)
    credentials = credentials_of(client)
    user_id, store = credentials.user_id, project_of(standin).for_user(credentials)[0]
    assert [m.content for m in store.messages(user_id, chat_ids[0]) if m.role == "user"] == [
        "question 0", "question 1", "question 2"]
    assert {c.id for c in store.chats(user_id)} == set(chat_ids)


@pytest.mark.server
def test_a_socket_waits_for_an_http_request_to_renew_a_due_session(tmp_path, standin):
    """A WebSocket handshake cannot carry a renewed session cookie, so a due session is
    refused there; the page's next HTTP request renews it and the socket opens again."""
    # Due after 4 s; renewed, it lasts 8 s, time enough for the reply on a loaded machine
    # (its store acts with the token of the send).
    standin.project.access_token_lifetime = 8
    with real_server(tmp_path, standin) as server:
        ada = User(server, f"{uuid.uuid4().hex[:10]}@example.com")
        chat_id = ada.new_chat()
        time.sleep(4.1)
        with pytest.raises(InvalidStatus) as refused:
            ada.open(chat_id)
        assert refused.value.response.status_code == 401
        assert ada.http.get(server.url + f"/chats/{chat_id}").status_code == 200  # renews the cookie
        view = ada.open(chat_id)
        view.send("Still there?")
        view.wait(lambda v: next((m for m in v.replies() if m["status"] == "complete"), None))
        view.close()


# Attachments in Supabase Storage

def test_attachments_live_in_the_private_bucket_and_reach_only_their_owner(app, standin):
    owner, stranger = signed_up(app), signed_up(app)
    chat_id = new_chat(owner)
    response = owner.post(f"/chats/{chat_id}/messages", content_type="multipart/form-data", data={
        "content": "a map", "files": [(io.BytesIO(PNG), "map.png"), (io.BytesIO(b"fog\n"), "notes.txt")]})
    assert response.status_code == 303
    (attachment_id, key), (text_id, _) = rows(
        standin, "select id, storage_key from public.attachments where chat_id = %s order by name", chat_id)
    owner_id = rows(standin, "select owner_id from public.chats where id = %s", chat_id)[0][0]
    assert key.startswith(f"{owner_id}/")
    assert rows(standin, "select owner, bucket_id from storage.objects where name = %s", key) == [
        (owner_id, "attachments")]
    image = owner.get(f"/attachments/{attachment_id}")
    assert (image.status_code, image.data, image.mimetype) == (200, PNG, "image/png")
    text = owner.get(f"/attachments/{text_id}")
    assert text.headers["Content-Disposition"].startswith("attachment")
    assert stranger.get(f"/attachments/{attachment_id}").status_code == 404
    owner.post(f"/chats/{chat_id}/delete")
    assert rows(standin, "select count(*) from storage.objects where name = %s", key) == [(0,)]


def send_a_map(client, standin, chat_id):
    """Send a message with an image into the chat, and wait until its reply is written."""
    client.post(f"/chats/{chat_id}/messages", content_type="multipart/form-data", data={
        "content": "a map", "files": [(io.BytesIO(PNG), "map.png")]})
    wait = time.monotonic() + 10
    while rows(standin, "select count(*) from public.messages where chat_id = %s and status = 'streaming'",
               chat_id) != [(0,)] and time.monotonic() < wait:
        time.sleep(0.05)


def test_a_share_link_is_read_as_anyone_and_continued_as_its_reader(app, standin):
    """The owner's link made under RLS; a reader with no account reads it (anon, through
    shared_chat) with its files (the server's key, for a file the snapshot holds only);
    another user continues it into a chat and files of their own; revoked, it is gone."""
    owner, other, reader = signed_up(app), signed_up(app), app.test_client()
    chat_id = new_chat(owner)
    send_a_map(owner, standin, chat_id)
    made = owner.post(f"/chats/{chat_id}/share", data={"with_files": "1"})
    assert made.status_code == 303
    [(share_id, token)] = rows(standin, "select id, token from public.shares where chat_id = %s", chat_id)
    [(attachment_id,)] = rows(standin, "select id from public.attachments where chat_id = %s", chat_id)
    page = reader.get(f"/s/{token}")
    assert page.status_code == 200 and "a map" in page.text and f"/s/{token}/files/{attachment_id}" in page.text
    assert reader.get(f"/s/{token}/files/{attachment_id}").data == PNG
    opened = other.post(f"/s/{token}/continue")
    assert opened.status_code == 303
    copy_id = opened.headers["Location"].rsplit("/", 1)[1]
    other_id = rows(standin, "select owner_id from public.chats where id = %s", copy_id)[0][0]
    [(copied_key,)] = rows(standin, "select storage_key from public.attachments where chat_id = %s", copy_id)
    assert copied_key.startswith(f"{other_id}/") and other_id != rows(
        standin, "select owner_id from public.chats where id = %s", chat_id)[0][0]
    assert other.get(f"/s/{token}").status_code == 200 and "a map" in other.get(f"/chats/{copy_id}").text
    assert owner.post(f"/shares/{share_id}/revoke").status_code == 303
    assert reader.get(f"/s/{token}").status_code == 404
    assert reader.get(f"/s/{token}/files/{attachment_id}").status_code == 404


def test_a_download_imports_into_another_account_with_its_files(app, standin):
    """Export (every message, through the API) and import (one import_chats call, files into
    the importer's own folder of the bucket), each as its user under RLS."""
    owner, other = signed_up(app), signed_up(app)
    chat_id = new_chat(owner)
    send_a_map(owner, standin, chat_id)
    data = owner.get("/account/export").data
    [chat] = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("chatbot-export.json"))["chats"]
    assert [m["role"] for m in chat["messages"]] == ["user", "assistant"]
    preview = other.post("/import", data={"file": (io.BytesIO(data), "download.zip")}, content_type="multipart/form-data")
    assert preview.status_code == 200, preview.text
    upload = re.search(r'name="upload" value="([^"]+)"', preview.text)[1]
    assert other.post("/import/confirm", data={"upload": upload}).status_code == 303
    [(copy_id, other_id)] = rows(standin, "select id, owner_id from public.chats where import_key = %s",
                                 f"chatbot:{chat_id}")
    assert [r[0] for r in rows(standin, "select content from public.messages where chat_id = %s order by seq",
                               copy_id)][0] == "a map"
    [(attachment_id, key)] = rows(standin, "select id, storage_key from public.attachments where chat_id = %s", copy_id)
    assert key.startswith(f"{other_id}/") and other.get(f"/attachments/{attachment_id}").data == PNG
    again = other.post("/import", data={"file": (io.BytesIO(data), "download.zip")}, content_type="multipart/form-data")
    assert "1 is here already" in again.text


# Accounts through Supabase Auth

def test_log_in_and_log_out_end_the_session_at_supabase_too(app):
    signed_up(app, "grace@example.com")
    client = app.test_client()
    assert client.post("/login", data={"email": "grace@example.com", "password": "wrong one"}).status_code == 422
    assert client.post("/login", data={"email": "grace@example.com", "password": PASSWORD}).status_code == 302
    refresh_token = credentials_of(client).refresh_token
    client.post("/logout")
    assert "/login" in client.get("/").headers["Location"]
    with pytest.raises(SessionEnded):  # the refresh token is dead at Supabase
        backends(app).accounts._refresh_now(refresh_token)


def test_sign_up_with_email_confirmation(app, standin):
    standin.auth.autoconfirm = False
    client = app.test_client()
    response = client.post("/signup", data={"email": "lin@example.com", "password": PASSWORD})
    assert response.status_code == 200 and "Check your email" in response.text
    refused = client.post("/login", data={"email": "lin@example.com", "password": PASSWORD})
    assert refused.status_code == 422 and "Confirm your email address first" in refused.text
    finished = client.get(follow_email(standin, "lin@example.com"))
    assert finished.status_code == 302 and finished.headers["Location"] == "/"
    assert "Your email address is confirmed" in client.get("/", follow_redirects=True).text


def test_a_link_opened_in_another_browser_is_explained(app, standin):
    standin.auth.autoconfirm = False
    app.test_client().post("/signup", data={"email": "kay@example.com", "password": PASSWORD})
    elsewhere = app.test_client().get(follow_email(standin, "kay@example.com"))
    assert elsewhere.status_code == 400 and "Open it in the browser where you asked for it" in elsewhere.text


def test_password_recovery_through_supabases_email(app, standin):
    signed_up(app, "mae@example.com")
    client = app.test_client()
    assert client.post("/forgot", data={"email": "mae@example.com"}).status_code == 200
    finished = client.get(follow_email(standin, "mae@example.com"))
    assert finished.headers["Location"] == "/password"
    short = client.post("/password", data={"password": "short"})
    assert short.status_code == 422 and "at least 8 characters" in short.text
    assert client.post("/password", data={"password": "a brand new one"}).status_code == 302
    assert client.get("/password").status_code == 404  # once per recovery link
    client.post("/logout")
    fresh = app.test_client()
    assert fresh.post("/login", data={"email": "mae@example.com", "password": PASSWORD}).status_code == 422
    assert fresh.post("/login", data={"email": "mae@example.com", "password": "a brand new one"}).status_code == 302


def test_a_session_alone_cannot_change_the_password(app):
    """Only a recovery link opens the new-password form: whoever borrows a signed-in
    session must not be able to lock its owner out."""
    client = signed_up(app)
    assert client.get("/password").status_code == 404
    assert client.post("/password", data={"password": "taken over"}).status_code == 404


def test_recovery_for_an_unknown_email_answers_the_same(app, standin):
    sent = len(standin.auth.outbox)
    response = app.test_client().post("/forgot", data={"email": "nobody@example.com"})
    assert response.status_code == 200 and len(standin.auth.outbox) == sent


@pytest.mark.parametrize("provider, label, other", [("github", "GitHub", "google"), ("google", "Google", "github")])
def test_sign_in_with_a_provider(tmp_path, standin, provider, label, other):
    email = f"{provider}-{uuid.uuid4().hex[:6]}@example.com"
    standin.auth.oauth_providers = {provider: email}
    app = supabase_app(tmp_path, standin, SUPABASE_AUTH_PROVIDERS=provider)
    client = app.test_client()
    assert f"Continue with {label}" in client.get("/login").text
    away = client.post(f"/login/{provider}")
    assert away.status_code == 302 and away.headers["Location"].startswith(f"{standin.url}/auth/v1/authorize?")
    back = requests.get(away.headers["Location"], allow_redirects=False)  # the provider says yes
    assert client.get(app_path(back.headers["Location"])).headers["Location"] == "/"
    assert credentials_of(client).email == email
    assert client.post(f"/login/{other}").status_code == 404  # not offered


# Refreshing rotating tokens

def test_a_due_session_is_refreshed_once_however_many_requests_find_it_due(tmp_path, standin):
    standin.project.access_token_lifetime = 4  # due after half of it
    app = supabase_app(tmp_path, standin)
    client = signed_up(app)
    before = credentials_of(client)
    time.sleep(2.1)
    accounts = backends(app).accounts
    assert before.due_for_refresh()
    refreshes = len(standin.auth.refresh_requests)
    results = []
    threads = [threading.Thread(target=lambda: results.append(accounts.refresh(before))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(standin.auth.refresh_requests) == refreshes + 1
    assert len(set(results)) == 1 and results[0].refresh_token != before.refresh_token


def test_a_request_renews_the_session_before_it_expires(tmp_path, standin):
    standin.project.access_token_lifetime = 4
    app = supabase_app(tmp_path, standin)
    client = signed_up(app)
    before = credentials_of(client)
    time.sleep(2.1)
    assert client.get("/").status_code == 200  # works, and the session now holds renewed credentials
    after = credentials_of(client)
    chat_id = new_chat(client)
    assert after.refresh_token != before.refresh_token and after.expires_at > before.expires_at
    assert client.get(f"/chats/{chat_id}").status_code == 200


def test_a_session_revoked_at_supabase_signs_the_user_out(tmp_path, standin):
    standin.project.access_token_lifetime = 4
    app = supabase_app(tmp_path, standin)
    client = signed_up(app)
    backends(app).accounts.log_out(credentials_of(client))  # as if signed out on another device
    time.sleep(2.1)
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert "Your session has ended" in client.get("/login").text


def test_the_secret_key_never_reaches_a_page_or_the_log(app, standin, caplog):
    client = signed_up(app)
    chat_id = new_chat(client)
    client.post(f"/chats/{chat_id}/messages", data={"content": "hello"})
    pages = [client.get(path).text for path in ("/", f"/chats/{chat_id}", "/login", "/forgot")]
    secret = standin.project.secret_key
    assert not any(secret in page for page in pages)
    assert secret not in caplog.text and secret not in repr(backends(app).accounts.project)


# Server-side session records, and the Supabase sessions they hold

def supabase_sign_in(standin, email=None) -> Credentials:
    """A new user signed in at the stand-in's Auth: the credentials a session record holds."""
    email = email or f"{uuid.uuid4().hex[:10]}@example.com"
    return SupabaseAccounts(project_of(standin)).sign_up(email, PASSWORD, PUBLIC_URL).credentials


def record_holding(sessions, credentials: Credentials) -> str:
    """A session record holding ``credentials``, as sign-in leaves one; its token's hash."""
    token_hash = hash_token(new_token())
    sessions.create(token_hash, credentials.user_id, {"_user_id": credentials.user_id,
                                                      "credentials": asdict(credentials)},
                    idle=3600, absolute=86400, remember=False, user_agent="Firefox", address="192.0.2.7")
    return token_hash


def signing_out(project) -> SignOutAtProvider:
    """The session store as the app assembles it on Supabase: ending a record signs its
    Supabase session out."""
    return SignOutAtProvider(project.sessions(), SupabaseAccounts(project).log_out)


def refresh_fails(standin, credentials: Credentials) -> bool:
    try:
        SupabaseAccounts(project_of(standin))._refresh_now(credentials.refresh_token)
    except SessionEnded:
        return True
    return False


@pytest.mark.parametrize("how", ["end", "end_user_sessions", "end_session"])
def test_ending_a_session_record_signs_its_supabase_session_out(standin, how):
    sessions = signing_out(project_of(standin))
    credentials = supabase_sign_in(standin)
    token_hash = record_holding(sessions, credentials)
    record = sessions.load(token_hash)
    user = credentials.user_id
    ended = {"end": lambda: sessions.end(token_hash) == record.id,
             "end_user_sessions": lambda: sessions.end_user_sessions(user) == [record.id],
             "end_session": lambda: sessions.end_session(user, record.id)}[how]()
    assert ended
    assert refresh_fails(standin, credentials)  # the refresh token died with the record


def test_only_the_ended_records_supabase_sessions_are_signed_out(standin):
    """Scope "local": the same user's other devices, and their records, stay signed in."""
    sessions = signing_out(project_of(standin))
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    laptop = supabase_sign_in(standin, email)
    phone = SupabaseAccounts(project_of(standin)).log_in(email, PASSWORD).credentials
    tablet = SupabaseAccounts(project_of(standin)).log_in(email, PASSWORD).credentials
    kept = sessions.load(record_holding(sessions, laptop))
    record_holding(sessions, phone)
    tablet_hash = record_holding(sessions, tablet)
    assert len(sessions.end_user_sessions(laptop.user_id, keep=kept.id)) == 2
    assert refresh_fails(standin, phone) and refresh_fails(standin, tablet)
    assert not refresh_fails(standin, laptop)
    assert sessions.load(tablet_hash) is None and [r.id for r in sessions.user_sessions(laptop.user_id)] == [kept.id]


def test_an_access_token_that_ran_out_is_refreshed_to_sign_the_session_out(standin):
    lifetime, standin.project.access_token_lifetime = standin.project.access_token_lifetime, 1
    sessions = signing_out(project_of(standin))
    credentials = supabase_sign_in(standin)
    token_hash = record_holding(sessions, credentials)
    time.sleep(1.2)  # Supabase refuses the access token now; the refresh token still works
    standin.project.access_token_lifetime = lifetime  # the renewed one lasts (a busy machine is slow)
    refreshes = len(standin.auth.refresh_requests)
    assert sessions.end(token_hash) is not None
    assert standin.auth.refresh_requests[refreshes:] == [credentials.refresh_token]
    assert refresh_fails(standin, credentials)


def test_a_supabase_session_already_over_is_logged_never_raised(standin, caplog):
    sessions = signing_out(project_of(standin))
    credentials = supabase_sign_in(standin)
    SupabaseAccounts(project_of(standin)).log_out(credentials)  # signed out at Supabase already
    token_hash = record_holding(sessions, credentials)
    with caplog.at_level(logging.INFO, logger="chatbot.supabase_backend.accounts"):
        assert sessions.end(token_hash) is not None
    assert "Supabase sign-out: " in caplog.text
    assert credentials.access_token not in caplog.text and credentials.refresh_token not in caplog.text


def test_supabase_auth_out_of_reach_does_not_keep_a_session_from_ending(standin, caplog):
    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{probe.getsockname()[1]}"
    unreachable = SupabaseProject(nowhere, standin.project.publishable_key, "unused")
    sessions = SignOutAtProvider(project_of(standin).sessions(), SupabaseAccounts(unreachable).log_out)
    credentials = supabase_sign_in(standin)
    token_hash = record_holding(sessions, credentials)
    with caplog.at_level(logging.INFO, logger="chatbot.supabase_backend.accounts"):
        assert sessions.end(token_hash) is not None
    assert sessions.load(token_hash) is None and "Supabase sign-out failed" in caplog.text
    assert {record.levelno for record in caplog.records} == {logging.WARNING}
    assert credentials.access_token not in caplog.text and credentials.refresh_token not in caplog.text
    assert standin.project.secret_key not in caplog.text and standin.project.secret_key not in repr(sessions)


def test_a_user_reads_their_own_session_list_but_never_its_secrets_through_the_api(standin):
    sessions = project_of(standin).sessions()
    ada, bob = supabase_sign_in(standin), supabase_sign_in(standin)
    adas = sessions.load(record_holding(sessions, ada))
    bobs = sessions.load(record_holding(sessions, bob))
    api = project_of(standin).user_client(ada.access_token)
    listed = api.table("sessions").select("id,user_agent,address,last_seen_at").execute().data
    assert [row["id"] for row in listed] == [adas.id]
    for hidden in ("*", "data", "token_hash"):
        with pytest.raises(APIError) as refused:
            api.table("sessions").select(hidden).execute()
        assert refused.value.code == "42501"
    assert api.table("sessions").delete().eq("id", bobs.id).select("id").execute().data == []
    with pytest.raises(APIError):
        api.table("sessions").update({"expires_at": "2100-01-01T00:00:00+00:00"}).eq("id", adas.id).execute()
    with pytest.raises(APIError):
        api.rpc("find_session", {"token_hash": "anything"}).execute()
    anon = project_of(standin).user_client()
    with pytest.raises(APIError):
        anon.table("sessions").select("id").execute()
    assert api.table("sessions").delete().eq("id", adas.id).select("id").execute().data == [{"id": adas.id}]
    assert sessions.user_sessions(bob.user_id) == [bobs]
