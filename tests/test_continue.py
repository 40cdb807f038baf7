"""Continue: a reply the model's length limit cut off (finish_reason "length") is carried
on into the same message, the model given the conversation with the reply so far, last."""
import pytest

from chatbot import create_app
from chatbot.backends import backends
from chatbot.store import COMPLETE
from tests.conftest import make_config, owner_id, wait_until
from tests.openai_stub import API_KEY, REPLY, StubOpenAI

HTMX = {"HX-Request": "true"}


@pytest.fixture(scope="module")
def stub():
    with StubOpenAI(models=("stub", "stub-length")) as server:
        yield server


@pytest.fixture
def app(tmp_path, stub):
    return create_app(make_config(tmp_path, OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=stub.base_url,
                                  OPENAI_MODEL="stub-length"))


def finished(store, chat_id):
    wait_until(lambda: store.messages(owner_id(store), chat_id)[-1].status != "streaming", what="the reply")
    return store.messages(owner_id(store), chat_id)[-1]


def start(client) -> str:
    response = client.post("/chats", data={"content": "Tell me everything"})
    return response.headers["Location"].split("/chats/")[1].split("#")[0]


def test_a_reply_cut_off_at_its_limit_is_carried_on_into_the_same_message(app, user, store, stub):
    chat_id = start(user)
    reply = finished(store, chat_id)
    assert (reply.status, reply.finish_reason, reply.content) == (COMPLETE, "length", "".join(REPLY))
    page = user.get(f"/chats/{chat_id}").text
    assert "Cut off at the longest reply allowed." in page and 'aria-label="Continue"' in page

    response = user.post(f"/chats/{chat_id}/messages/{reply.id}/continue")  # as without JavaScript
    assert response.status_code == 303 and response.headers["Location"] == f"/chats/{chat_id}#m-{reply.id}"
    carried = finished(store, chat_id)
    assert carried.id == reply.id and carried.content == "".join(REPLY) + " And the rest."
    assert (carried.status, carried.finish_reason) == (COMPLETE, "stop")
    assert carried.completion_tokens == len(REPLY) + 2  # both requests' tokens
    asked = stub.requests[-1]["messages"]
    assert asked[-2:] == [{"role": "user", "content": "Tell me everything"},
                          {"role": "assistant", "content": "".join(REPLY)}]
    page = user.get(f"/chats/{chat_id}").text
    assert "Cut off" not in page and 'aria-label="Continue"' not in page
    assert len(store.messages(owner_id(store), chat_id)) == 2


def test_htmx_gets_the_reply_streaming_again_in_place(app, user, store, stub):
    chat_id = start(user)
    reply = finished(store, chat_id)
    html = user.post(f"/chats/{chat_id}/messages/{reply.id}/continue", headers=HTMX).text
    assert '<template hx type="upsert"' in html and f'id="m-{reply.id}"' in html and "status-streaming" in html
    assert finished(store, chat_id).content.endswith("And the rest.")


def test_only_a_reply_cut_off_at_its_limit_can_be_continued(app, user, store, stub):
    chat_id = start(user)
    reply = finished(store, chat_id)
    user.post(f"/chats/{chat_id}/messages/{reply.id}/continue")
    finished(store, chat_id)
    again = user.post(f"/chats/{chat_id}/messages/{reply.id}/continue")  # finished properly now
    assert again.status_code == 422 and "Only a reply cut off at its length limit can be continued." in again.text
    question = store.messages(owner_id(store), chat_id)[0]
    assert user.post(f"/chats/{chat_id}/messages/{question.id}/continue").status_code == 422


def test_another_users_reply_cannot_be_continued(app, client, auth, store, stub):
    auth.signup("ada@example.com")
    chat_id = start(client)
    reply = finished(store, chat_id)
    auth.logout()
    auth.signup("eve@example.com")
    assert client.post(f"/chats/{chat_id}/messages/{reply.id}/continue").status_code == 404
    assert store.message(owner_id(store), reply.id).content == "".join(REPLY)
