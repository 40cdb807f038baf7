"""A send repeated (a form resubmitted, a request retried, a socket message sent twice)
carries the same client id as the first, which the store recognises: one turn, one model
call. Every composer the page shows carries a new id."""
from __future__ import annotations

import re

from chatbot.backends import backends
from tests.conftest import new_chat, owner_id
from tests.fakes import ScriptedModel
from tests.live_client import User
from tests.servers import embedded_server


def client_id_of(html: str) -> str:
    return re.search(r'name="client_id" value="([0-9a-f-]{36})"', html).group(1)


def test_a_resubmitted_form_stores_one_turn_and_asks_the_model_once(app, user):
    model = backends(app).model = ScriptedModel(["Once."])
    chat_id = new_chat(user)
    client_id = client_id_of(user.get(f"/chats/{chat_id}").text)
    for _ in range(3):  # the first post, then the browser resubmitting it
        response = user.post(f"/chats/{chat_id}/messages", data={"content": "Only once?", "client_id": client_id})
        assert response.status_code == 303
    store = backends(app).store
    assert [m.content for m in store.messages(owner_id(store), chat_id)] == ["Only once?", "Once."]
    assert len(model.conversations) == 1


def test_an_htmx_retry_gets_the_same_messages_back(app, user):
    backends(app).model = ScriptedModel(["Same."])
    chat_id = new_chat(user)
    client_id = client_id_of(user.get(f"/chats/{chat_id}").text)
    answers = [user.post(f"/chats/{chat_id}/messages", headers={"HX-Request": "true"},
                         data={"content": "Retry me", "client_id": client_id}) for _ in range(2)]
    ids = [set(re.findall(r'<article id="m-([0-9a-f-]{36})"', a.text)) for a in answers]
    assert all(a.status_code == 200 for a in answers) and ids[0] == ids[1] and len(ids[0]) == 2
    assert client_id_of(answers[0].text) != client_id_of(answers[1].text) != client_id  # a new one for the next send
    store = backends(app).store
    assert len(store.messages(owner_id(store), chat_id)) == 2


def test_every_composer_shown_has_a_new_client_id(app, user):
    chat_id = new_chat(user)
    assert client_id_of(user.get(f"/chats/{chat_id}").text) != client_id_of(user.get(f"/chats/{chat_id}").text)


def test_a_socket_message_sent_twice_makes_one_turn(tmp_path):
    with embedded_server(tmp_path, OFFLINE_TOKEN_DELAY="0") as server:
        ada = User(server, "twice@example.com")
        chat_id = ada.new_chat()
        page = ada.http.get(f"{server.url}/chats/{chat_id}").text
        view = ada.open(chat_id)
        client_id = client_id_of(page)
        for _ in range(2):
            view.command("send", content="socket twice", client_id=client_id, csrf_token=ada.token)
        view.wait(lambda v: v.composer_updates >= 2 and any(m["status"] == "complete" for m in v.replies()))
        owner = server.store.user_by_email("twice@example.com").id
        assert [m.role for m in server.store.messages(owner, chat_id)] == ["user", "assistant"]
        fresh = [client_id_of(frame) for frame in view.frames if 'name="client_id"' in frame]
        assert client_id not in fresh and len(set(fresh)) == len(fresh)
