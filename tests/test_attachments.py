"""Files attached to messages: accepted by content, stored under server-made names, served
only to their owner, and passed to the model (text into the context, images as image parts)."""
from __future__ import annotations

import base64
import io
import json
import re
from contextlib import contextmanager
from pathlib import Path

import pytest

from chatbot import create_app
from chatbot.backends import backends
from tests.conftest import AuthActions, make_config, new_chat, owner_id
from tests.conftest import send as send_and_wait
from tests.openai_stub import API_KEY, StubOpenAI

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
NOTES = "Lighthouse keepers' log ✓\nday 1: fog\n".encode()


def upload(name: str, data: bytes):
    return (io.BytesIO(data), name)


def send(client, chat_id, content="Here you go", *files):
    return send_and_wait(client, chat_id, content, files)


def question(store, chat_id):
    return store.messages(owner_id(store), chat_id)[0]


def test_files_are_stored_and_shown_with_the_message(user, store, app):
    chat_id = new_chat(user)
    response = send(user, chat_id, "Have a look", upload("map.png", PNG), upload("notes.txt", NOTES))
    assert response.status_code == 303
    image, text = question(store, chat_id).attachments
    assert (image.name, image.content_type, image.size) == ("map.png", "image/png", len(PNG))
    assert (text.name, text.content_type) == ("notes.txt", "text/plain")
    owner = owner_id(store)
    for attachment in (image, text):  # stored under names the server made, not the uploads'
        assert re.fullmatch(rf"{owner}/[0-9a-f-]{{36}}", attachment.storage_key)
        assert (Path(app.instance_path) / "files" / attachment.storage_key).is_file()
    page = user.get(f"/chats/{chat_id}").text
    assert f'<img src="/attachments/{image.id}" alt="map.png"' in page
    assert f'href="/attachments/{text.id}" download>' in page and '<span>notes.txt</span>' in page


def test_files_are_served_to_their_owner_safely(user, store):
    chat_id = new_chat(user)
    send(user, chat_id, "x", upload("map.png", PNG), upload("page.html", b"<script>alert(1)</script>"))
    image, html = question(store, chat_id).attachments
    shown = user.get(f"/attachments/{image.id}")
    assert shown.status_code == 200 and shown.data == PNG and shown.mimetype == "image/png"
    assert shown.headers["Content-Disposition"].startswith("inline")
    downloaded = user.get(f"/attachments/{html.id}")
    assert downloaded.mimetype == "text/plain"  # what it is, not what its name says
    assert downloaded.headers["Content-Disposition"] == "attachment; filename*=UTF-8''page.html"
    for response in (shown, downloaded):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_another_users_files_are_not_found(client, store):
    auth = AuthActions(client)
    auth.signup()
    chat_id = new_chat(client)
    send(client, chat_id, "mine", upload("notes.txt", NOTES))
    attachment = question(store, chat_id).attachments[0]
    auth.logout()
    auth.signup("bob@example.com")
    assert client.get(f"/attachments/{attachment.id}").status_code == 404
    assert client.get("/attachments/not-an-id").status_code == 404
    auth.logout()
    assert client.get(f"/attachments/{attachment.id}").status_code == 302  # to the login page


@pytest.mark.parametrize("files, message", [
    ([("cat.png", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(range(256)))],
     "cat.png is neither an image (PNG, JPEG, GIF, WebP) nor a text file."),
    ([("empty.txt", b"")], "empty.txt is empty."),
    ([(f"n{i}.txt", b"x") for i in range(6)], "Attach at most 5 files to a message."),
    ([("big.txt", b"x" * 2001)], "big.txt is 2,001 bytes; files can be at most 2,000."),
])
def test_refused_files_are_explained_beside_the_field_and_nothing_is_stored(tmp_path, files, message):
    client = create_app(make_config(tmp_path, ATTACHMENT_MAX_BYTES="2000")).test_client()
    AuthActions(client).signup()
    chat_id = new_chat(client)
    response = send(client, chat_id, "keep this draft", *(upload(n, d) for n, d in files))
    assert response.status_code == 422
    assert f'<p class="field-error" id="files-error">{message}</p>' in response.text.replace("&#39;", "'")
    assert "keep this draft" in response.text
    store = backends(client.application).store
    assert store.messages(owner_id(store), chat_id) == []
    assert not (tmp_path / "instance" / "files").exists()


def test_an_upload_larger_than_any_message_is_refused_early(tmp_path):
    client = create_app(make_config(tmp_path, ATTACHMENT_MAX_BYTES="1000")).test_client()
    AuthActions(client).signup()
    chat_id = new_chat(client)
    response = send(client, chat_id, "x", upload("huge.txt", b"x" * 400_000))
    assert response.status_code == 413 and "too large to send" in response.text


def test_names_are_for_display_only(user, store):
    chat_id = new_chat(user)
    send(user, chat_id, "", upload("../../etc/passwd\x07", b"root:x:0:0\n"))
    attachment = question(store, chat_id).attachments[0]
    assert attachment.name == "passwd" and ".." not in attachment.storage_key
    assert store.chat(owner_id(store), chat_id).title == "passwd"  # a file alone is a message too


def test_deleting_the_chat_deletes_its_files(user, store, app):
    chat_id = new_chat(user)
    send(user, chat_id, "x", upload("notes.txt", NOTES))
    path = Path(app.instance_path) / "files" / question(store, chat_id).attachments[0].storage_key
    assert path.is_file()
    user.post(f"/chats/{chat_id}/delete")
    assert not path.exists()


@contextmanager
def echoing_chat(tmp_path):
    """A signed-in client with a new chat, its model the stub that echoes what it was sent:
    (stub, app, client, chat id)."""
    with StubOpenAI() as stub:
        app = create_app(make_config(tmp_path, OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=stub.base_url,
                                     OPENAI_MODEL="stub-echo"))
        client = app.test_client()
        AuthActions(client).signup()
        yield stub, app, client, new_chat(client)


def test_the_model_gets_text_files_in_context_and_images_as_image_parts(tmp_path):
    with echoing_chat(tmp_path) as (stub, app, client, chat_id):
        send(client, chat_id, "What do these say?", upload("notes.txt", NOTES), upload("map.png", PNG))
    sent = stub.requests[-1]["messages"]
    parts = sent[-1]["content"]
    assert parts[0]["type"] == "text"
    assert parts[0]["text"].startswith("What do these say?\n\nAttached file notes.txt:\n```\nLighthouse keepers' log ✓")
    assert parts[1] == {"type": "image_url", "image_url": {
        "url": "data:image/png;base64," + base64.b64encode(PNG).decode()}}
    store = backends(app).store
    assert json.loads(store.messages(owner_id(store), chat_id)[1].content) == sent


def test_the_offline_responder_answers_a_message_with_files(user, store):
    chat_id = new_chat(user)
    send(user, chat_id, "Look", upload("map.png", PNG))
    reply = store.messages(owner_id(store), chat_id)[1]
    assert reply.status == "complete" and reply.content


def test_files_stay_in_the_context_of_later_messages(tmp_path):
    with echoing_chat(tmp_path) as (stub, _app, client, chat_id):
        send(client, chat_id, "Read this", upload("notes.txt", NOTES))
        send(client, chat_id, "And what was on day 1?")
    first_turn = stub.requests[-1]["messages"][0]
    assert first_turn["role"] == "user" and "day 1: fog" in first_turn["content"]
