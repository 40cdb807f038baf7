"""Account self-service: change the password, see and end sessions, download everything,
delete the account; and passwords nobody should choose."""
from __future__ import annotations

import io
import json
import zipfile

import pytest

from chatbot.accounts.passwords import LIKE_EMAIL, TOO_COMMON
from chatbot.backends import backends
from tests.conftest import new_chat, send

PASSWORD = "correct horse"


def second_browser(app, email="ada@example.com", password=PASSWORD):
    other = app.test_client()
    assert other.post("/login", data={"email": email, "password": password},
                      headers={"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0) Safari/604.1"}).status_code == 302
    return other


def test_the_account_page_lists_where_one_is_signed_in(app, user):
    second_browser(app)
    page = user.get("/account").text
    assert "Safari on iPhone" in page and "This browser" in page
    assert page.count('action="/account/sessions/') >= 4  # two sessions, and the two "log out" buttons


def test_changing_the_password_ends_the_other_sessions(app, user):
    other = second_browser(app)
    response = user.post("/account/password", data={"current_password": PASSWORD, "new_password": "battery staple"})
    assert response.status_code == 302
    assert "1 other session logged out" in user.get("/account").text
    assert other.get("/").status_code == 302  # logged out
    assert user.get("/").status_code == 200  # this one stays
    assert app.test_client().post("/login", data={"email": "ada@example.com", "password": "battery staple"}
                                  ).status_code == 302


@pytest.mark.parametrize("current, new, field, message", [
    ("wrong password", "battery staple", "current_password", "That is not your current password."),
    (PASSWORD, "short", "new_password", "Use at least 8 characters."),
    (PASSWORD, "password123", "new_password", TOO_COMMON),
])
def test_a_refused_password_change_says_why_beside_the_field(app, user, current, new, field, message):
    other = second_browser(app)
    response = user.post("/account/password", data={"current_password": current, "new_password": new})
    assert response.status_code == 422
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in response.text
    assert other.get("/").status_code == 200  # nothing changed, nobody logged out


def test_ending_one_other_session(app, user):
    other = second_browser(app)
    sessions = backends(app).sessions.user_sessions(backends(app).store.user_by_email("ada@example.com").id)
    iphone = next(s for s in sessions if "iPhone" in s.user_agent)
    user.post(f"/account/sessions/{iphone.id}/end")
    assert other.get("/").status_code == 302
    assert user.get("/").status_code == 200


def test_nobody_ends_someone_elses_session(app, user):
    bob = app.test_client()
    bob.post("/signup", data={"email": "bob@example.com", "password": PASSWORD})
    bobs = backends(app).sessions.user_sessions(backends(app).store.user_by_email("bob@example.com").id)
    user.post(f"/account/sessions/{bobs[0].id}/end")
    assert bob.get("/").status_code == 200


def test_log_out_other_sessions_and_everywhere(app, user):
    other, third = second_browser(app), second_browser(app)
    user.post("/account/sessions/end-others")
    assert other.get("/").status_code == 302 and third.get("/").status_code == 302
    assert user.get("/").status_code == 200
    fourth = second_browser(app)
    response = user.post("/account/sessions/end-all")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert user.get("/").status_code == 302 and fourth.get("/").status_code == 302


def test_a_password_reset_ends_every_session(app, user):
    from chatbot.accounts.local import _fingerprint

    other = second_browser(app)
    accounts = backends(app).accounts
    ada = backends(app).store.user_by_email("ada@example.com")
    token = accounts.reset_tokens.dumps({"user": ada.id, "hash": _fingerprint(ada.password_hash)})
    fresh = app.test_client()
    assert fresh.post(f"/reset/{token}", data={"password": "battery staple"}).status_code == 302
    assert other.get("/").status_code == 302 and user.get("/").status_code == 302
    assert fresh.get("/").status_code == 200  # the reset signs in anew


def test_download_all_ones_data(app, user):
    chat_id = new_chat(user)
    send(user, chat_id, "What is a lighthouse?", files=[(io.BytesIO(b"keeper's log"), "log.txt")])
    user.post(f"/chats/{chat_id}/settings", data={"system_prompt": "Be brief.", "temperature": "0.5"})
    user.post("/presets", data={"name": "Keeper", "system_prompt": "You keep a lighthouse.", "max_tokens": "300"})
    user.post(f"/chats/{chat_id}/archive")  # an archived chat is the user's too
    response = user.get("/account/export")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    document = json.loads(archive.read("chatbot-export.json"))
    assert document["account"] == {"email": "ada@example.com"}
    [chat] = document["chats"]
    assert (chat["system_prompt"], chat["parameters"]) == ("Be brief.", {"temperature": 0.5})
    [preset] = document["presets"]
    assert (preset["name"], preset["system_prompt"], preset["parameters"]) == ("Keeper", "You keep a lighthouse.",
                                                                               {"max_tokens": 300})
    question, answer = chat["messages"]
    assert question["content"] == "What is a lighthouse?" and answer["status"] == "complete" and answer["content"]
    [file] = question["attachments"]
    assert archive.read(file["file"]) == b"keeper's log"


def test_deleting_ones_account_needs_the_password_and_takes_everything(app, user):
    bob = app.test_client()
    bob.post("/signup", data={"email": "bob@example.com", "password": PASSWORD})
    chat_id = new_chat(bob)
    send(bob, chat_id, "hello", files=[(io.BytesIO(b"data"), "d.txt")])
    assert bob.post("/presets", data={"name": "Bob's", "system_prompt": "Mine."}).status_code == 303
    store, files = backends(app).store, backends(app).files
    owner = store.user_by_email("bob@example.com").id
    [attachment] = store.chat_attachments(owner, chat_id)
    other = second_browser(app, "bob@example.com")
    refused = bob.post("/account/delete", data={"delete_password": "not the password"})
    assert refused.status_code == 422 and "That is not your current password." in refused.text
    response = bob.post("/account/delete", data={"delete_password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/signup"
    assert store.user_by_email("bob@example.com") is None and store.chats(owner) == [] and store.presets(owner) == []
    with pytest.raises(FileNotFoundError):
        files.get(attachment.storage_key)
    assert other.get("/").status_code == 302
    assert backends(app).sessions.user_sessions(owner) == []
    assert user.get("/").status_code == 200  # nobody else's account is touched


def test_the_only_admin_cannot_delete_their_account(user):
    response = user.post("/account/delete", data={"delete_password": PASSWORD})
    assert response.status_code == 422 and "You are the only admin" in response.text


@pytest.mark.parametrize("password, message", [("password123", TOO_COMMON), ("12345678", TOO_COMMON),
                                               ("Qwertyuiop", TOO_COMMON), ("ada@example.com", LIKE_EMAIL)])
def test_common_passwords_are_refused_with_a_clear_message(client, password, message):
    response = client.post("/signup", data={"email": "ada@example.com", "password": password})
    assert response.status_code == 422
    assert f'<p class="field-error" id="password-error">{message}</p>' in response.text
