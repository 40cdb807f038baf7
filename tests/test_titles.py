"""Titles the model writes: after a chat's first reply, in the background, live in the chat
list, never over a title the user set."""
import logging
import threading

import pytest

from chatbot import create_app
from chatbot.backends import backends
from chatbot.live import topics
from chatbot.live.channel import Event
from chatbot.live.events import ChatsChanged
from chatbot.models import ModelError, titles
from chatbot.models.offline import compose_title
from tests.conftest import make_config, owner_id, send, wait_until
from tests.fakes import ScriptedModel
from tests.openai_stub import API_KEY, StubOpenAI


def start_chat(client, content):
    response = client.post("/chats", data={"content": content})
    assert response.status_code == 303
    return response.headers["Location"].split("/chats/")[1].split("#")[0]


def title_of(store, chat_id):
    return store.chat(owner_id(store), chat_id).title


def test_the_model_names_the_chat_after_its_first_reply(tmp_path):
    with StubOpenAI() as stub:
        app = create_app(make_config(tmp_path, OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=stub.base_url,
                                     OPENAI_MODEL="stub"))
        client, store = app.test_client(), backends(app).store
        client.post("/signup", data={"email": "ada@example.com", "password": "correct horse"})
        chat_id = start_chat(client, "What lives in a rock pool?")
        assert title_of(store, chat_id) == "What lives in a rock pool?"  # at once: the first words
        wait_until(lambda: title_of(store, chat_id) == "Rock pools at low tide", what="the model's title")
        asked = stub.titles[-1]
        assert asked["model"] == "stub" and asked["messages"][0] == {"role": "system", "content": titles.PROMPT}
        assert asked["messages"][1]["content"] == "User: What lives in a rock pool?\n\nAssistant: Hello from the stub model."
        assert "Rock pools at low tide</a>" in client.get(f"/chats/{chat_id}").text
        send(client, chat_id, "And crabs?")  # only the first reply names the chat
        assert len(stub.titles) == 1 and len(stub.requests) == 2


def test_the_title_never_delays_the_reply_and_arrives_live_in_the_list(app, user, store):
    gate = threading.Event()
    model = ScriptedModel(title="Tide pools")
    model.title = _gated(model.title, gate)
    backends(app).model = model
    heard = []
    stop = backends(app).channel.subscribe(topics.user(owner_id(store)), heard.append, after=None)
    try:
        chat_id = start_chat(user, "Tell me everything about tide pools")
        wait_until(lambda: store.messages(owner_id(store), chat_id)[-1].status == "complete", what="the reply")
        assert title_of(store, chat_id) == "Tell me everything about tide pools"  # the title is still being written
        before = len([h for h in heard if isinstance(h, Event) and isinstance(h.data, ChatsChanged)])
        gate.set()
        wait_until(lambda: title_of(store, chat_id) == "Tide pools", what="the title")
        wait_until(lambda: len([h for h in heard if isinstance(h, Event) and isinstance(h.data, ChatsChanged)]) > before,
                   what="the chat list's update")
    finally:
        gate.set()
        stop()
    assert model.titles == [("Tell me everything about tide pools", "Hi there")]


def test_a_title_the_user_set_meanwhile_stays(app, user, store, monkeypatch):
    gate = threading.Event()
    model = ScriptedModel(title="Tide pools")
    model.title = _gated(model.title, gate)
    backends(app).model = model
    retitled = []
    retitle = store.retitle
    monkeypatch.setattr(store, "retitle", lambda *args: retitled.append(retitle(*args)) or retitled[-1])
    chat_id = start_chat(user, "Tell me about tide pools")
    wait_until(lambda: store.messages(owner_id(store), chat_id)[-1].status == "complete", what="the reply")
    user.post(f"/chats/{chat_id}/rename", data={"title": "My rock pools"})
    gate.set()
    wait_until(lambda: retitled, what="the model's title to be offered")
    assert retitled == [False] and title_of(store, chat_id) == "My rock pools"


def test_the_offline_responder_names_chats_too(user, store):
    chat_id = start_chat(user, "Can you tell me about the tide pools of Brittany?")
    wait_until(lambda: title_of(store, chat_id) == "Tide pools of Brittany", what="the offline title")


def test_a_model_that_cannot_name_the_chat_leaves_its_first_title(app, user, store, caplog):
    backends(app).model = ScriptedModel(title=ModelError("The model provider had an internal error (500)."))
    chat_id = start_chat(user, "Tell me about tide pools")
    wait_until(lambda: "no title written for chat" in caplog.text, what="the warning")
    assert title_of(store, chat_id) == "Tell me about tide pools"


@pytest.mark.parametrize("answer", ["", "   ", "Tell me about tide pools"])
def test_an_empty_or_unchanged_title_is_not_written(app, user, store, answer):
    model = ScriptedModel(title=answer)
    backends(app).model = model
    chat_id = start_chat(user, "Tell me about tide pools")
    wait_until(lambda: model.titles, what="the title to be asked for")
    assert title_of(store, chat_id) == "Tell me about tide pools"


def test_a_failed_reply_asks_for_no_title(app, user, store):
    model = ScriptedModel(pieces=(), error="The model provider had an internal error (500).")
    backends(app).model = model
    chat_id = start_chat(user, "Tell me about tide pools")
    wait_until(lambda: store.messages(owner_id(store), chat_id)[-1].status == "error", what="the failure")
    assert model.titles == [] and title_of(store, chat_id) == "Tell me about tide pools"


@pytest.mark.parametrize("written, kept", [
    ("Rock pools at low tide", "Rock pools at low tide"),
    ('"Rock pools at low tide."', "Rock pools at low tide"),
    ("**Title:** Rock pools", "Rock pools"),
    ("# Rock pools\n\nThis conversation is about...", "Rock pools"),
    ("<think>They ask about pools.</think>\nRock pools", "Rock pools"),
    ("«Les mares»", "Les mares"),
    ("\n\n  Crabs   and   anemones  \n", "Crabs and anemones"),
    ("word " * 40, ("word " * 16).strip() + "…"),
    ("", ""),
])
def test_what_is_kept_of_a_title(written, kept):
    assert titles.clean(written) == kept


@pytest.mark.parametrize("said, title", [
    ("Tell me about tide pools", "Tide pools"),
    ("How do I reverse a list in Python?", "Reverse a list in Python"),
    ("hi there, what's the capital of France?", "Capital of France"),
    ("Hello there!", "Hello there"),
    ("What is a monad?", "Monad"),
    ("Plan a three day hiking trip in the Dolomites in late September with my friends",
     "Hiking Dolomites September friends"),
])
def test_the_offline_responder_titles_a_chat_with_its_own_words(said, title):
    assert compose_title(said) == title


def _gated(title, gate):
    def waiting(question, reply):
        gate.wait(10)
        return title(question, reply)
    return waiting


@pytest.fixture
def app(tmp_path):
    return create_app(make_config(tmp_path))


@pytest.fixture(autouse=True)
def _log(caplog):
    caplog.set_level(logging.INFO)
