"""CSRF on every state change, strict cookies, a CSP with no inline allowances."""
import io
import re

import pytest

from chatbot import create_app
from tests.conftest import csrf_token, make_config, new_chat, wait_until


@pytest.fixture
def csrf_app(tmp_path):
    return create_app(make_config(tmp_path, WTF_CSRF_ENABLED=True))


@pytest.fixture
def signed_in(csrf_app):
    """A client signed in through the real forms, CSRF tokens and all; and one chat id."""
    client = csrf_app.test_client()
    token = csrf_token(client.get("/signup").text)
    response = client.post("/signup", data={"email": "ada@example.com", "password": "correct horse", "csrf_token": token})
    assert response.status_code == 302
    token = csrf_token(client.get("/").text)
    response = client.post("/chats", data={"content": "hello", "csrf_token": token})  # the first message makes it
    chat_id = response.headers["Location"].split("#")[0].rsplit("/", 1)[1]
    from chatbot.backends import backends

    store = backends(csrf_app).store
    owner = store.user_by_email("ada@example.com").id
    # Its reply written, so that a test's own send is never refused as "still being written".
    wait_until(lambda: all(m.status != "streaming" for m in store.messages(owner, chat_id)), what="the reply")
    return client, token, chat_id


STATE_CHANGES = [
    ("/chats", {"content": "a new chat"}),
    ("/chats/{id}/rename", {"title": "x"}),
    ("/chats/{id}/settings", {"system_prompt": "x"}),
    ("/chats/{id}/messages", {"content": "x"}),
    ("/chats/{id}/preset", {"name": "From a chat"}),
    ("/chats/{id}/pin", {}),
    ("/chats/{id}/archive", {}),
    ("/folders", {"name": "Work"}),
    ("/chats/{id}/folder", {"folder": ""}),
    ("/presets", {"name": "New"}),
    ("/presets/{preset}", {"name": "Changed"}),
    ("/presets/{preset}/delete", {}),
    ("/chats/{id}/share", {}),
    ("/s/{token}/continue", {}),
    ("/shares/{share}/revoke", {}),
    ("/import/cancel", {"upload": "00000000-0000-4000-8000-000000000000"}),
    ("/chats/{id}/delete", {}),
    ("/logout", {}),
]


@pytest.fixture
def preset_id(csrf_app, signed_in):
    """A preset of the signed-in user's."""
    from chatbot.backends import backends
    from chatbot.models.parameters import Parameters

    store = backends(csrf_app).store
    owner = store.user_by_email("ada@example.com").id
    return store.add_preset(owner, "Mine", "", backends(csrf_app).models.pick().name, Parameters()).id


@pytest.fixture
def shared(csrf_app, signed_in):
    """A share link to the signed-in user's chat: the share."""
    from chatbot.backends import backends

    store = backends(csrf_app).store
    owner = store.user_by_email("ada@example.com").id
    chat_id = signed_in[2]
    return store.add_share(owner, chat_id, "Shared", store.messages(owner, chat_id), False)


@pytest.mark.parametrize("path, data", STATE_CHANGES)
@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true"}])
def test_state_changes_without_a_token_are_refused(signed_in, preset_id, shared, path, data, headers):
    client, _, chat_id = signed_in
    response = client.post(path.format(id=chat_id, preset=preset_id, share=shared.id, token=shared.token), data=data,
                           headers=headers)
    assert response.status_code == 400
    assert "That form has expired" in response.text
    assert client.get(f"/chats/{chat_id}").status_code == 200  # still signed in, chat untouched


@pytest.mark.parametrize("path, data", STATE_CHANGES)
def test_state_changes_with_the_token_succeed(signed_in, preset_id, shared, path, data):
    client, token, chat_id = signed_in
    response = client.post(path.format(id=chat_id, preset=preset_id, share=shared.id, token=shared.token),
                           data={**data, "csrf_token": token})
    assert response.status_code in (302, 303)


@pytest.mark.parametrize("path", ["/import", "/import/confirm"])
def test_an_import_needs_a_token(signed_in, path):
    client, _, _ = signed_in
    response = client.post(path, data={"file": (io.BytesIO(b"[]"), "c.json"), "upload": "x"},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and "That form has expired" in response.text


def test_login_and_signup_need_a_token(csrf_app):
    client = csrf_app.test_client()
    assert client.post("/signup", data={"email": "a@example.com", "password": "correct horse"}).status_code == 400
    assert client.post("/login", data={"email": "a@example.com", "password": "correct horse"}).status_code == 400


def test_every_form_carries_the_token(signed_in):
    client, _, chat_id = signed_in
    for path in (f"/chats/{chat_id}", f"/chats/{chat_id}/delete"):
        html = client.get(path).text
        for form in re.findall(r'<form[^>]*method="post".*?</form>', html, re.S):
            assert 'name="csrf_token"' in form


def test_content_security_policy_allows_no_inline_code(client):
    policy = client.get("/login").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy


def test_pages_have_no_inline_scripts_styles_or_handlers(client, auth):
    auth.signup()
    chat_id = new_chat(client)
    client.post(f"/chats/{chat_id}/messages", data={"content": "hello"})
    client.post("/presets", data={"name": "Haiku", "system_prompt": "In haiku."})
    for path in ("/login", "/signup", f"/chats/{chat_id}", f"/chats/{chat_id}/delete", "/presets", "/"):
        if path in ("/login", "/signup"):
            html = client.application.test_client().get(path).text
        else:
            html = client.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert "<style" not in html and " style=" not in html, path
        assert not re.search(r"\son[a-z]+=", html) and "hx-on" not in html, path
        assert "https://" not in html and "http://" not in html, path  # no CDN, nothing off-site


def test_other_protective_headers(client):
    headers = client.get("/login").headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "private, no-store"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_no_get_or_head_of_any_route_changes_anything(csrf_app, signed_in, preset_id, shared):
    """Every route that answers GET (and so HEAD, which CSRF does not cover) is walked
    with both, as the signed-in owner: the database is the same afterwards."""
    import sqlalchemy as sa

    from chatbot.backends import backends

    client, token, chat_id = signed_in  # the chat's first message sent
    store = backends(csrf_app).store
    owner = store.user_by_email("ada@example.com").id
    question, answer = store.messages(owner, chat_id)
    wait_until(lambda: store.message(owner, answer.id).status != "streaming")
    values = {"chat_id": chat_id, "message_id": answer.id, "attachment_id": question.id, "token": shared.token,
              "filename": "app.css", "user_id": owner, "kind": "json",
              "preset_id": preset_id}  # the first account: an admin, who sees every page

    def everything():
        with store.engine.connect() as db:
            return {table: sorted(map(tuple, db.execute(sa.text(f"select * from {table}"))))
                    for table in ("users", "chats", "messages", "attachments", "presets", "folders", "shares",
                                  "app_settings", "invitations")}
    before = everything()
    walked = []
    for rule in csrf_app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        path = rule.build({name: values[name] for name in rule.arguments})[1]
        for method in ("HEAD", "GET"):
            response = client.open(path, method=method)
            response.close()
            assert response.status_code < 500, (method, path)
        walked.append(rule.endpoint)
    assert {"chat.confirm_delete", "chat.show", "live.reply_events", "account.index", "account.download",
            "admin.index", "admin.member", "admin.confirm_delete", "presets.index", "presets.edit_form",
            "library.folder_list", "library.archived", "search.index", "shares.new", "shares.index", "shares.read",
            "shares.file", "library.export_chat", "imports.index", "auth.logout"} - set(walked) == {"auth.logout"}
    assert everything() == before
    assert client.get(f"/chats/{chat_id}").status_code == 200


@pytest.mark.parametrize("env, secure, prefix", [("development", False, ""), ("production", True, "__Host-")])
def test_session_cookies_are_strict(tmp_path, env, secure, prefix):
    app = create_app(make_config(tmp_path, CHATBOT_ENV=env))
    client = app.test_client()
    client.post("/signup", data={"email": "ada@example.com", "password": "correct horse"})
    client.post("/logout")
    response = client.post("/login", data={"email": "ada@example.com", "password": "correct horse", "remember": "on"})
    cookies = response.headers.getlist("Set-Cookie")
    assert [cookie.split("=", 1)[0] for cookie in cookies] == [f"{prefix}session"]  # remember me is the same one
    for cookie in cookies:
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        assert ("Secure" in cookie) is secure and "Domain=" not in cookie and "Max-Age=" in cookie
