"""Share links: a read-only snapshot at an unguessable address, read without an account (or
JavaScript), revoked at once, files only when included, continued into the reader's own chats."""
from __future__ import annotations

import io
import re
import threading

import pytest

from chatbot.backends import backends
from tests.conftest import AuthActions, new_chat, owner_id, send
from tests.fakes import ScriptedModel

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))


def share(client, chat_id, **form):
    """Make a link to the chat as its owner does: its address (as the page shows it to copy)."""
    made = client.post(f"/chats/{chat_id}/share", data=form)
    assert made.status_code == 303, made.text
    page = client.get(made.headers["Location"])
    assert "Your link is ready" in page.text
    return re.search(r'id="made-link" class="share-address" type="text" readonly value="([^"]+)"', page.text)[1] \
        .removeprefix("http://localhost")


@pytest.fixture
def reader(app):
    """Someone with the link and no account here."""
    return app.test_client()


@pytest.fixture
def other(app):
    """Another user of this server, signed in."""
    client = app.test_client()
    AuthActions(client).signup("bo@example.com")
    return client


@pytest.fixture
def chat(user):
    chat_id = new_chat(user)
    send(user, chat_id, "What is a lighthouse for?")
    send(user, chat_id, "And a **foghorn**?")
    return chat_id


def test_anyone_with_the_link_reads_the_conversation_as_it_was(user, store, chat, reader):
    link = share(user, chat)
    assert re.fullmatch(r"/s/[A-Za-z0-9_-]{32}", link)
    send(user, chat, "Said after the link was made")
    page = reader.get(link)
    assert page.status_code == 200
    assert "What is a lighthouse for?" in page.text and "And a <strong>foghorn</strong>?" not in page.text
    assert "And a **foghorn**?" in page.text  # a user's words as written; replies rendered
    assert "Said after the link was made" not in page.text
    assert page.text.count('class="message ') == 4 and "A copy of 4 messages" in page.text
    # Read-only, scriptless, not for search engines, its address never sent on as a referrer.
    assert "<script" not in page.text and "<form" not in page.text.split('<footer class="shared-footer">')[0]
    assert '<meta name="robots" content="noindex, nofollow">' in page.text
    assert page.headers["X-Robots-Tag"] == "noindex, nofollow" and page.headers["Referrer-Policy"] == "no-referrer"
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "private, no-store"
    assert "Log in to continue this chat" in page.text and f"next={link}" in page.text


def test_replies_are_rendered_with_the_same_sanitising(app, user, store, reader):
    backends(app).model = ScriptedModel(pieces=("# Title\n\n<script>alert(1)</script><img src=x onerror=alert(1)>",))
    chat_id = new_chat(user)
    send(user, chat_id, "hi")
    page = reader.get(share(user, chat_id)).text
    assert "<h1>Title</h1>" in page and "<script>alert" not in page and "<img src=x" not in page


def test_a_link_can_stop_at_a_chosen_reply(user, store, chat, reader):
    first_reply = store.messages(owner_id(store), chat)[1]
    form = user.get(f"/chats/{chat}/share").text
    assert f'<option value="{first_reply.id}">' in form
    page = reader.get(share(user, chat, upto=first_reply.id)).text
    assert "What is a lighthouse for?" in page and "foghorn" not in page and "A copy of 2 messages" in page


def test_a_wrong_choice_is_refused_beside_its_field(user, store, chat, other):
    theirs = new_chat(other)
    send(other, theirs, "not yours")
    foreign = store.messages(owner_id(store, "bo@example.com"), theirs)[1].id
    refused = user.post(f"/chats/{chat}/share", data={"upto": foreign})
    assert refused.status_code == 422
    assert '<p class="field-error" id="upto-error">That message is not in the conversation shown.' in refused.text
    empty = new_chat(user)
    assert "nothing to share yet" in user.post(f"/chats/{empty}/share").text
    assert store.shares(owner_id(store)) == []


def test_a_reply_being_written_is_left_out(app, user, store, reader):
    gate = threading.Event()
    backends(app).model = ScriptedModel(pieces=("half",), gate=gate)
    chat_id = new_chat(user)
    user.post(f"/chats/{chat_id}/messages", data={"content": "Tell me"}, content_type="multipart/form-data")
    link = share(user, chat_id)
    gate.set()
    page = reader.get(link).text
    assert "Tell me" in page and "A copy of 1 message," in page


def test_a_revoked_link_is_gone_at_once(user, store, chat, reader, other):
    link = share(user, chat)
    [made] = store.shares(owner_id(store))
    assert made.id in user.get("/shares").text and link in user.get("/shares").text
    assert other.post(f"/shares/{made.id}/revoke").status_code == 404  # not theirs to end
    assert reader.get(link).status_code == 200
    revoked = user.post(f"/shares/{made.id}/revoke", data={"back": chat})
    assert revoked.status_code == 303 and revoked.headers["Location"] == f"/chats/{chat}/share"
    gone = reader.get(link)
    assert gone.status_code == 404 and gone.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert user.post(f"/shares/{made.id}/revoke").status_code == 404


@pytest.mark.parametrize("token", ["x" * 32, "short", "../../etc", "%25", "A" * 65])
def test_no_other_address_finds_anything(user, chat, reader, token):
    share(user, chat)
    assert reader.get(f"/s/{token}").status_code == 404


def test_deleting_the_chat_ends_its_links(user, chat, reader):
    link = share(user, chat)
    user.post(f"/chats/{chat}/delete")
    assert reader.get(link).status_code == 404


def test_only_the_owner_shares_a_chat_or_sees_its_links(user, store, chat, other):
    share(user, chat)
    assert other.get(f"/chats/{chat}/share").status_code == 404
    assert other.post(f"/chats/{chat}/share").status_code == 404
    assert store.shares(owner_id(store, "bo@example.com")) == [] and "not shared any chats" in other.get("/shares").text


def test_files_are_left_out_unless_included(user, store, reader):
    chat_id = new_chat(user)
    send(user, chat_id, "See the map", [(io.BytesIO(PNG), "map.png"), (io.BytesIO(b"fog at dawn"), "log.txt")])
    image, text = store.messages(owner_id(store), chat_id)[0].attachments
    assert 'name="with_files"' in user.get(f"/chats/{chat_id}/share").text
    without = reader.get(share(user, chat_id))
    assert "See the map" in without.text and "map.png" not in without.text and "/files/" not in without.text
    link = share(user, chat_id, with_files="1")
    page = reader.get(link).text
    assert f'<img src="{link}/files/{image.id}" alt="map.png"' in page and f'href="{link}/files/{text.id}" download' in page
    shown = reader.get(f"{link}/files/{image.id}")
    assert shown.status_code == 200 and shown.data == PNG and shown.mimetype == "image/png"
    assert shown.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert shown.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert reader.get(f"{link}/files/{text.id}").headers["Content-Disposition"].startswith("attachment")
    # The first link's files stay out; a file not in the snapshot is not reached through a link.
    first = without.request.path
    assert reader.get(f"{first}/files/{image.id}").status_code == 404
    later = new_chat(user)
    send(user, later, "Another", [(io.BytesIO(PNG), "other.png")])
    elsewhere = store.messages(owner_id(store), later)[0].attachments[0]
    assert reader.get(f"{link}/files/{elsewhere.id}").status_code == 404


def test_a_reader_continues_the_chat_as_their_own(app, user, store, chat, reader, other):
    link = share(user, chat)
    # Not signed in: the way is through the log-in, which comes back to the link.
    assert reader.post(f"{link}/continue").status_code in (302, 401)
    page = other.get(link).text
    assert "Continue this chat" in page and 'name="csrf_token"' in page
    opened = other.post(f"{link}/continue")
    assert opened.status_code == 303
    copy_id = opened.headers["Location"].rsplit("/", 1)[1]
    bo = owner_id(store, "bo@example.com")
    copied = store.messages(bo, copy_id)
    assert [m.content for m in copied][:3] == ["What is a lighthouse for?", store.messages(owner_id(store), chat)[1].content,
                                               "And a **foghorn**?"]
    assert store.chat(bo, copy_id).title == store.chat(owner_id(store), chat).title
    assert store.chat(owner_id(store), copy_id) is None  # the copy is theirs; the original untouched
    # It goes on like any chat of theirs.
    send(other, copy_id, "Go on")
    assert [m.content for m in store.messages(bo, copy_id)][4] == "Go on"
    # Continued again: the same chat, not another.
    assert other.post(f"{link}/continue").headers["Location"] == opened.headers["Location"]
    assert len([c for c in store.chats(bo) if c.title == store.chat(bo, copy_id).title]) == 1


def test_a_continued_chat_takes_the_files_a_link_includes(user, store, other):
    chat_id = new_chat(user)
    send(user, chat_id, "See the map", [(io.BytesIO(PNG), "map.png")])
    link = share(user, chat_id, with_files="1")
    copy_id = other.post(f"{link}/continue").headers["Location"].rsplit("/", 1)[1]
    bo = owner_id(store, "bo@example.com")
    [copied] = store.messages(bo, copy_id)[0].attachments
    original = store.messages(owner_id(store), chat_id)[0].attachments[0]
    assert copied.storage_key.startswith(f"{bo}/") and copied.id != original.id
    assert other.get(f"/attachments/{copied.id}").data == PNG  # theirs now, whatever becomes of the link
    user.post(f"/chats/{chat_id}/delete")
    assert other.get(f"/attachments/{copied.id}").data == PNG


def test_the_list_of_links_and_the_menu_lead_to_them(user, chat):
    assert f'href="/chats/{chat}/share"' in user.get(f"/chats/{chat}").text
    assert 'href="/shares"' in user.get(f"/chats/{chat}").text
