"""Stop, regenerate, retry, and recovery from a crash: the reply's life cycle."""
import threading

import pytest
import sqlalchemy as sa

from chatbot import create_app
from chatbot.backends import backends
from chatbot.process import this_process
from chatbot.store import COMPLETE, INTERRUPTED, STOPPED, STREAMING, ReplyInProgress
from tests.conftest import make_config, new_chat, owner_id, send, wait_for_reply
from tests.fakes import ScriptedModel

HTMX = {"HX-Request": "true"}


def test_stop_keeps_what_was_written(app, user, store):
    gate = threading.Event()
    backends(app).model = ScriptedModel(pieces=("Once", " upon", " a", " time"), gate=gate)
    chat_id = new_chat(user)
    user.post(f"/chats/{chat_id}/messages", data={"content": "a story"}, headers=HTMX)
    reply = store.messages(owner_id(store), chat_id)[1]
    assert user.post(f"/chats/{chat_id}/messages/{reply.id}/stop", headers=HTMX).status_code == 204
    gate.set()
    assert wait_for_reply(store, backends(app).channel, owner_id(store), reply.id, 5)
    user.post(f"/chats/{chat_id}/messages/{reply.id}/stop")  # again, once it is over: harmless
    done = store.message(owner_id(store), reply.id)
    assert done.status == STOPPED and done.content in ("", "Once")
    html = user.get(f"/chats/{chat_id}").text
    assert "Stopped before the end." in html and 'aria-label="Regenerate"' in html


def test_stop_of_someone_elses_reply_is_not_found(app, user, store):
    chat_id = new_chat(user)
    user.post(f"/chats/{chat_id}/messages", data={"content": "hi"})
    reply = store.messages(owner_id(store), chat_id)[1]
    other = app.test_client()
    other.post("/signup", data={"email": "eve@example.com", "password": "correct horse"})
    assert other.post(f"/chats/{chat_id}/messages/{reply.id}/stop").status_code == 404


def test_streaming_reply_shows_a_stop_button_and_no_regenerate(app, user, store):
    gate = threading.Event()
    backends(app).model = ScriptedModel(gate=gate)
    chat_id = new_chat(user)
    user.post(f"/chats/{chat_id}/messages", data={"content": "hi"}, headers=HTMX)
    html = user.get(f"/chats/{chat_id}").text
    assert 'data-live="stop"' in html and 'aria-label="Regenerate"' not in html  # the reply's own Stop
    gate.set()


def test_regenerate_writes_the_last_reply_again_as_a_new_version(app, user, store):
    chat_id = new_chat(user)
    send(user, chat_id, "hi")
    old = store.messages(owner_id(store), chat_id)[1]
    model = ScriptedModel(pieces=("Something", " new"))
    backends(app).model = model
    response = user.post(f"/chats/{chat_id}/regenerate")
    assert response.status_code == 303  # at once: the page shows the new reply as it is written
    new = store.messages(owner_id(store), chat_id)[1]
    assert response.headers["Location"] == f"/chats/{chat_id}#m-{new.id}"
    assert wait_for_reply(store, backends(app).channel, owner_id(store), new.id, 5)
    messages = store.messages(owner_id(store), chat_id)
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].id != old.id and messages[1].content == "Something new" and messages[1].status == COMPLETE
    assert (messages[1].version, messages[1].versions) == (2, 2) and store.message(owner_id(store), old.id).content == old.content
    assert model.conversations[-1] == [{"role": "user", "content": "hi"}]  # the old reply is not context


def test_htmx_regenerate_shows_the_conversation_anew_with_the_new_reply_streaming(app, user, store):
    gate = threading.Event()
    chat_id = new_chat(user)
    send(user, chat_id, "hi")
    old = store.messages(owner_id(store), chat_id)[1]
    backends(app).model = ScriptedModel(gate=gate)
    html = user.post(f"/chats/{chat_id}/regenerate", headers=HTMX).text
    new = store.messages(owner_id(store), chat_id)[1]
    assert html.startswith('<div hx-swap-oob="innerHTML:#messages">')
    assert f'id="m-{old.id}"' not in html and f'id="m-{new.id}"' in html and "hx-sse:connect" in html
    assert 'aria-label="Version 2 of 2"' in html
    gate.set()


def test_a_failed_reply_offers_retry(app, user, store):
    backends(app).model = ScriptedModel(pieces=("Par",), error="The model provider had an internal error (500).")
    chat_id = new_chat(user)
    send(user, chat_id, "hi")
    assert 'aria-label="Retry"' in user.get(f"/chats/{chat_id}").text
    backends(app).model = ScriptedModel()
    user.post(f"/chats/{chat_id}/regenerate")
    reply = store.messages(owner_id(store), chat_id)[1]
    assert wait_for_reply(store, backends(app).channel, owner_id(store), reply.id, 5)
    reply = store.messages(owner_id(store), chat_id)[1]
    assert (reply.status, reply.content) == (COMPLETE, "Hi there")


def test_nothing_to_regenerate(user):
    chat_id = new_chat(user)
    response = user.post(f"/chats/{chat_id}/regenerate")
    assert response.status_code == 422 and "There is no reply to regenerate." in response.text


def test_regenerate_while_streaming_is_refused(app, user, store):
    gate = threading.Event()
    backends(app).model = ScriptedModel(gate=gate)
    chat_id = new_chat(user)
    user.post(f"/chats/{chat_id}/messages", data={"content": "hi"}, headers=HTMX)
    assert user.post(f"/chats/{chat_id}/regenerate").status_code == 409
    gate.set()


def test_the_database_allows_one_streaming_reply_per_chat(user, store):
    chat_id = new_chat(user)
    owner = owner_id(store)
    store.add_turn(owner, chat_id, "one", "m", this_process())
    with pytest.raises(ReplyInProgress):
        store.add_turn(owner, chat_id, "two", "m", this_process())
    assert [m.content for m in store.messages(owner, chat_id)] == ["one", ""]  # nothing half-stored


def test_start_up_marks_replies_of_processes_without_a_lease_interrupted(tmp_path):
    config = make_config(tmp_path)
    app = create_app(config)
    client = app.test_client()
    client.post("/signup", data={"email": "ada@example.com", "password": "correct horse"})
    store = backends(app).store
    owner = owner_id(store)
    dead = store.add_turn(owner, new_chat(client), "q", "m", "gone-host:999999:1").answer
    store.update_message(owner, dead.id, content="half a rep")
    store.renew_lease("other-host:1:1", 60)  # another machine's process, alive
    elsewhere = store.add_turn(owner, new_chat(client), "q", "m", "other-host:1:1").answer

    create_app(config)  # a process starts

    recovered = store.message(owner, dead.id)
    assert (recovered.status, recovered.content) == (INTERRUPTED, "half a rep")
    assert store.message(owner, elsewhere.id).status == STREAMING  # its lease still runs
    html = client.get(f"/chats/{dead.chat_id}").text
    assert "The server stopped while this reply was being written." in html and 'aria-label="Retry"' in html


def test_a_reply_being_written_keeps_its_lease_and_is_never_swept(app, user, store):
    gate = threading.Event()
    backends(app).model = ScriptedModel(gate=gate)
    chat_id = new_chat(user)
    user.post(f"/chats/{chat_id}/messages", data={"content": "hi"}, headers=HTMX)
    runner = backends(app).runner
    assert runner.sweep() == 0  # this process holds its lease: its reply is left alone
    reply = store.messages(owner_id(store), chat_id)[1]
    assert reply.status == STREAMING and reply.worker == runner.worker
    gate.set()
    assert wait_for_reply(store, runner.channel, owner_id(store), reply.id, 5)
    runner.shutdown()


def test_migration_adds_the_one_streaming_reply_index(app):
    engine = backends(app).store.engine
    indexes = {i["name"]: i for i in sa.inspect(engine).get_indexes("messages")}
    assert indexes["messages_one_streaming_per_chat"]["unique"]
