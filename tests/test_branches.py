"""Edit and resend, regenerate, and versions (‹ 2/3 ›): the conversation is a tree, the one
shown (and given to the model) the path to the version chosen. Through plain forms (as
without JavaScript) and htmx; the socket's side is in the browser tests."""
import io
import re
import threading

import pytest

from chatbot.backends import backends
from tests.conftest import new_chat, owner_id, send, wait_for_reply
from tests.fakes import ScriptedModel

HTMX = {"HX-Request": "true"}


def shown(client, chat_id) -> list[str]:
    """The texts of the messages the chat page shows, in order."""
    html = client.get(f"/chats/{chat_id}").text
    return [" ".join(re.sub(r"<[^>]+>", " ", text).split())
            for text in re.findall(r'<div class="message-text[^"]*">(.*?)</div>', html, re.S)]


def versions(client, chat_id) -> list[str]:
    html = client.get(f"/chats/{chat_id}").text
    return re.findall(r'role="group" aria-label="Version (\d+) of (\d+)"', html)


def finish(app, store, message_id):
    assert wait_for_reply(store, backends(app).channel, owner_id(store), message_id, 5)


@pytest.fixture
def model(app):
    model = ScriptedModel(pieces=("Reply",))
    backends(app).model = model
    return model


def test_regenerate_adds_a_version_and_the_old_reply_stays_a_click_away(app, user, store, model):
    chat_id = new_chat(user)
    send(user, chat_id, "hi")
    first = store.messages(owner_id(store), chat_id)[1]
    model.pieces = ("Another",)
    response = user.post(f"/chats/{chat_id}/regenerate", data={"message_id": first.id})
    assert response.status_code == 303
    new = store.messages(owner_id(store), chat_id)[1]
    finish(app, store, new.id)
    assert shown(user, chat_id) == ["hi", "Another"] and versions(user, chat_id) == [("2", "2")]
    assert model.conversations[-1] == [{"role": "user", "content": "hi"}]  # the old reply is no context

    response = user.post(f"/chats/{chat_id}/messages/{new.id}/versions", data={"step": "-1"})
    assert response.status_code == 303 and response.headers["Location"] == f"/chats/{chat_id}"
    assert shown(user, chat_id) == ["hi", "Reply"] and versions(user, chat_id) == [("1", "2")]
    user.post(f"/chats/{chat_id}/messages/{first.id}/versions", data={"step": "1"})
    assert shown(user, chat_id) == ["hi", "Another"]


def test_an_earlier_reply_can_be_regenerated(app, user, store, model):
    chat_id = new_chat(user)
    send(user, chat_id, "one")
    send(user, chat_id, "two")
    early = store.messages(owner_id(store), chat_id)[1]
    model.pieces = ("Again",)
    user.post(f"/chats/{chat_id}/regenerate", data={"message_id": early.id})
    finish(app, store, store.messages(owner_id(store), chat_id)[-1].id)
    assert shown(user, chat_id) == ["one", "Again"]
    assert model.conversations[-1] == [{"role": "user", "content": "one"}]


def test_an_edited_message_goes_on_as_a_new_version_and_the_old_one_stays(app, user, store, model):
    chat_id = new_chat(user)
    send(user, chat_id, "Plan a trip to Lisbon")
    send(user, chat_id, "In May")
    send(user, chat_id, "With a budget")
    second = store.messages(owner_id(store), chat_id)[2]

    form = user.get(f"/chats/{chat_id}/messages/{second.id}/edit")
    assert form.status_code == 200
    assert re.search(rf'<textarea id="edit-{second.id}" name="content"[^>]*>In May</textarea>', form.text)
    model.pieces = ("June it is",)
    response = user.post(f"/chats/{chat_id}/messages/{second.id}/edit", data={"content": "In June"})
    assert response.status_code == 303
    new_reply = store.messages(owner_id(store), chat_id)[-1]
    assert response.headers["Location"] == f"/chats/{chat_id}#m-{new_reply.id}"
    finish(app, store, new_reply.id)
    assert shown(user, chat_id) == ["Plan a trip to Lisbon", "Reply", "In June", "June it is"]
    assert versions(user, chat_id) == [("2", "2")]
    # The model was given the new branch, not the old continuation.
    assert model.conversations[-1] == [{"role": "user", "content": "Plan a trip to Lisbon"},
                                       {"role": "assistant", "content": "Reply"},
                                       {"role": "user", "content": "In June"}]
    edited = store.messages(owner_id(store), chat_id)[2]
    user.post(f"/chats/{chat_id}/messages/{edited.id}/versions", data={"step": "-1"})
    assert shown(user, chat_id) == ["Plan a trip to Lisbon", "Reply", "In May", "Reply", "With a budget", "Reply"]
    assert versions(user, chat_id) == [("1", "2")]


def test_an_edited_message_keeps_its_files_and_the_model_sees_them(app, user, store, model):
    chat_id = new_chat(user)
    send(user, chat_id, "Summarise this", files=[(io.BytesIO(b"The lamp was lit at dusk."), "log.txt")])
    question = store.messages(owner_id(store), chat_id)[0]
    [original] = question.attachments
    user.post(f"/chats/{chat_id}/messages/{question.id}/edit", data={"content": "Summarise this in French"})
    edited, reply = store.messages(owner_id(store), chat_id)
    finish(app, store, reply.id)
    [copy] = edited.attachments
    assert edited.id != question.id and (copy.name, copy.content_type, copy.size) == ("log.txt", "text/plain", 25)
    assert copy.storage_key != original.storage_key  # a copy: each version's files go with it
    assert "The lamp was lit at dusk." in str(model.conversations[-1][-1]["content"])
    assert user.get(f"/attachments/{copy.id}").data == b"The lamp was lit at dusk."
    assert "log.txt" in user.get(f"/chats/{chat_id}").text
    assert "Sent as a new version, with its file;" in user.get(f"/chats/{chat_id}/messages/{edited.id}/edit").text


def test_an_empty_edit_is_refused_next_to_its_field_and_nothing_is_stored(app, user, store, model):
    chat_id = new_chat(user)
    send(user, chat_id, "hello")
    question = store.messages(owner_id(store), chat_id)[0]
    response = user.post(f"/chats/{chat_id}/messages/{question.id}/edit", data={"content": "  "})
    assert response.status_code == 422
    assert f'<p class="field-error" id="edit-error-{question.id}">Write a message first.</p>' in response.text
    assert f'aria-describedby="edit-error-{question.id}"' in response.text
    assert len(store.messages(owner_id(store), chat_id)) == 2 and len(model.conversations) == 1


def test_htmx_gets_the_edit_form_and_the_conversation_anew(app, user, store, model):
    chat_id = new_chat(user)
    send(user, chat_id, "hello")
    question, answer = store.messages(owner_id(store), chat_id)
    form = user.get(f"/chats/{chat_id}/messages/{question.id}/edit", headers=HTMX).text
    assert form.startswith(f'<article id="m-{question.id}"') and "<textarea" in form and "<html" not in form
    cancel = user.get(f"/chats/{chat_id}/messages/{question.id}", headers=HTMX).text
    assert cancel.startswith(f'<article id="m-{question.id}"') and "<textarea" not in cancel
    fragment = user.post(f"/chats/{chat_id}/messages/{question.id}/edit", data={"content": "hello again"},
                         headers=HTMX).text
    assert fragment.startswith('<div hx-swap-oob="innerHTML:#messages">') and "hello again" in fragment
    new = store.messages(owner_id(store), chat_id)[-1]
    finish(app, store, new.id)
    gate = threading.Event()
    backends(app).model = ScriptedModel(gate=gate)
    regenerated = user.post(f"/chats/{chat_id}/regenerate", data={"message_id": new.id}, headers=HTMX).text
    assert regenerated.startswith('<div hx-swap-oob="innerHTML:#messages">') and "hx-sse:connect" in regenerated
    gate.set()
    finish(app, store, store.messages(owner_id(store), chat_id)[-1].id)
    switched = user.post(f"/chats/{chat_id}/messages/{question.id}/versions", data={"step": "1"}, headers=HTMX)
    assert switched.status_code == 200 and "innerHTML:#messages" in switched.text


def test_another_users_messages_cannot_be_edited_or_switched(app, client, auth, store, model):
    auth.signup("ada@example.com")
    chat_id = new_chat(client)
    send(client, chat_id, "private")
    question, answer = store.messages(owner_id(store), chat_id)
    auth.logout()
    auth.signup("eve@example.com")
    assert client.get(f"/chats/{chat_id}/messages/{question.id}/edit").status_code == 404
    assert client.post(f"/chats/{chat_id}/messages/{question.id}/edit", data={"content": "x"}).status_code == 404
    assert client.post(f"/chats/{chat_id}/messages/{question.id}/versions", data={"step": "1"}).status_code == 404
    assert client.post(f"/chats/{chat_id}/regenerate", data={"message_id": answer.id}).status_code == 404
    eve_chat = new_chat(client)
    send(client, eve_chat, "mine")
    # Ada's message named inside Eve's own chat: not found either.
    assert client.get(f"/chats/{eve_chat}/messages/{question.id}/edit").status_code == 404
    assert client.post(f"/chats/{eve_chat}/messages/{question.id}/edit", data={"content": "x"}).status_code == 404
    assert client.post(f"/chats/{eve_chat}/regenerate", data={"message_id": answer.id}).status_code == 422
    assert [m.content for m in store.messages(owner_id(store), chat_id)] == ["private", "Reply"]


def test_a_reply_cannot_be_edited_and_there_is_nothing_past_the_last_version(app, user, store, model):
    chat_id = new_chat(user)
    send(user, chat_id, "hello")
    question, answer = store.messages(owner_id(store), chat_id)
    assert user.get(f"/chats/{chat_id}/messages/{answer.id}/edit").status_code == 404
    assert user.post(f"/chats/{chat_id}/messages/{answer.id}/versions", data={"step": "1"}).status_code == 404
