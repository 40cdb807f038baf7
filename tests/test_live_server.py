"""Live replies against the real server: gunicorn + gevent, real WebSocket clients."""
import base64
import os
import re
import signal
import socket
import struct
import subprocess
import time

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from chatbot.models.offline import compose_title
from chatbot.store import COMPLETE, ERROR, INTERRUPTED, STOPPED, STREAMING
from tests.live_client import User
from tests.openai_stub import API_KEY, REPLY, StubOpenAI
from tests.servers import embedded_server

pytestmark = pytest.mark.server

QUESTION = "Tell me about the history of lighthouses on rocky coasts and the keepers who lived in them"


def start(tmp_path_factory, **env):
    return embedded_server(tmp_path_factory.mktemp("live"), **{"OFFLINE_TOKEN_DELAY": "0.05", **env})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with start(tmp_path_factory) as running:
        yield running


def stored(server, user_email, message_id):
    owner = server.store.user_by_email(user_email).id
    return server.store.message(owner, message_id)


def ask(server, email):
    """A user with a chat open, a long question sent and its reply streaming:
    (user, chat id, the page's view, the reply as the view shows it)."""
    user = User(server, email)
    chat_id = user.new_chat()
    view = user.open(chat_id)
    view.send(QUESTION)
    return user, chat_id, view, streaming_reply(view)


def streaming_reply(view):
    return view.wait(lambda v: next((m for m in v.replies() if m["status"] == "streaming"), None))


def test_two_tabs_of_one_user_both_see_the_reply(server):
    ada = User(server, "tabs@example.com")
    chat_id = ada.new_chat()
    first, second = ada.open(chat_id), ada.open(chat_id)
    first.send(QUESTION)
    for view in (first, second):
        reply = view.wait(lambda v: next((m for m in v.replies() if m["status"] == "complete"), None))
        question = [m for m in view.messages.values() if m["role"] == "user"]
        assert [m["text"] for m in question] == [QUESTION]
        assert reply["text"].strip() == stored(server, "tabs@example.com", reply["id"]).content.strip()
    assert first.composer_error is None
    # Named after its first words, then, live in both tabs, with the title the model wrote.
    for view in (first, second):
        view.wait(lambda v: v.titles[:1] == [compose_title(QUESTION)])


def test_the_reply_streams_in_pieces_over_the_socket(server):
    _, _, view, reply = ask(server, "pieces@example.com")
    view.wait(lambda v: v.messages[reply["id"]]["status"] == "complete")
    deltas = [f for f in view.frames if f"beforeend:#tail-{reply['id']}" in f]
    assert len(deltas) > 3


def test_another_users_socket_sees_nothing_and_cannot_subscribe(server):
    owner = User(server, "owner@example.com")
    chat_id = owner.new_chat()
    intruder = User(server, "intruder@example.com")
    snooping = intruder.open(chat_id)  # someone else's chat: closed at once
    snooping.wait(lambda v: v.closed)
    own = intruder.open(intruder.new_chat())
    view = owner.open(chat_id)
    view.send("private thoughts")
    view.wait(lambda v: any(m["status"] == "complete" for m in v.replies()))
    assert snooping.messages == {} and own.messages == {}
    assert "private thoughts" not in "".join(own.frames + snooping.frames)


def test_the_socket_checks_origin_and_session(server):
    ada = User(server, "origin@example.com")
    chat_id = ada.new_chat()
    with pytest.raises(InvalidStatus) as refused:
        ada.open(chat_id, origin="https://evil.example")
    assert refused.value.response.status_code == 403
    url = server.url.replace("http", "ws") + f"/chats/{chat_id}/live"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, origin=server.url, open_timeout=10)  # no session
    assert refused.value.response.status_code == 401


def test_commands_without_the_csrf_token_are_ignored(server):
    ada = User(server, "csrf@example.com")
    chat_id = ada.new_chat()
    view = ada.open(chat_id)
    view.send("forged", token="not-the-token")
    view.command("send", content="no token at all")
    time.sleep(0.5)
    owner = server.store.user_by_email("csrf@example.com").id
    assert server.store.messages(owner, chat_id) == []
    assert not view.closed


def test_oversized_frames_close_the_socket(server):
    ada = User(server, "big@example.com")
    chat_id = ada.new_chat()
    view = ada.open(chat_id)
    view.send("x" * 300_000)
    view.wait(lambda v: v.closed)
    assert server.store.messages(server.store.user_by_email("big@example.com").id, chat_id) == []


def test_refused_messages_come_back_with_the_reason(server):
    ada = User(server, "refused@example.com")
    view = ada.open(ada.new_chat())
    view.send("   ")
    assert view.wait(lambda v: v.composer_error) == "Write a message first."


def test_reconnecting_mid_reply_gets_the_full_text_exactly_once(server):
    ada, chat_id, first, reply = ask(server, "reconnect@example.com")
    first.wait(lambda v: len(v.messages[reply["id"]]["text"]) > 10)
    first.close()  # the connection drops mid-reply
    again = ada.open(chat_id, since=reply["seq"])  # and the page reconnects
    seen = []

    def finished(view):
        message = view.messages.get(reply["id"])
        if message and message["status"] == "streaming":
            seen.append(message["text"])
        return message and message["status"] == "complete"
    again.wait(finished)
    final = stored(server, "reconnect@example.com", reply["id"]).content
    assert seen, "the second view should have joined mid-reply"
    assert all(final.startswith(text) for text in seen)  # never a doubled or missing piece
    assert again.messages[reply["id"]]["text"].strip() == final.strip()


def test_stop_keeps_the_partial_reply(server):
    ada, chat_id, view, reply = ask(server, "stop@example.com")
    view.wait(lambda v: len(v.messages[reply["id"]]["text"]) > 5)
    view.stop(reply["id"])
    view.wait(lambda v: v.messages[reply["id"]]["status"] == "stopped")
    message = stored(server, "stop@example.com", reply["id"])
    assert message.status == STOPPED and message.content
    page = ada.http.get(f"{server.url}/chats/{chat_id}").text  # and after a reload
    assert "status-stopped" in page and "Stopped before the end." in page


def test_stop_over_http_without_javascript(server):
    ada, chat_id, view, reply = ask(server, "stophttp@example.com")
    response = ada.post(f"/chats/{chat_id}/messages/{reply['id']}/stop")
    assert response.status_code == 200 and f"m-{reply['id']}" in response.url
    view.wait(lambda v: v.messages[reply["id"]]["status"] == "stopped")


def test_a_regenerated_reply_replaces_the_last_one_in_every_view_and_the_old_stays_a_version(server):
    ada = User(server, "again@example.com")
    chat_id = ada.new_chat()
    view = ada.open(chat_id)
    view.send("hello")
    first = view.wait(lambda v: next((m for m in v.replies() if m["status"] == "complete"), None))
    page = ada.post(f"/chats/{chat_id}/regenerate")  # no JavaScript: the page, the new reply in it
    assert page.status_code == 200 and f"m-{first['id']}" not in page.text
    assert 'aria-label="Version 2 of 2"' in page.text
    new = view.wait(lambda v: first["id"] not in v.messages and
                    next((m for m in v.replies() if m["status"] == "complete"), None))
    assert new["id"] != first["id"] and len(view.replies()) == 1


def test_a_reply_finishes_after_the_sender_disconnects(server):
    ada, chat_id, view, reply = ask(server, "gone@example.com")
    view.close()
    owner = server.store.user_by_email("gone@example.com").id
    deadline = time.monotonic() + 20
    while server.store.message(owner, reply["id"]).status == STREAMING and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.store.message(owner, reply["id"]).status == COMPLETE


def test_parallel_sends_do_not_interleave(server):
    ada = User(server, "parallel@example.com")
    chat_id = ada.new_chat()
    first, second = ada.open(chat_id), ada.open(chat_id)
    first.send("one")
    second.send("two")
    refused = [v for v in (first, second) if v.wait(lambda v: v.composer_updates) and v.composer_error]
    owner = server.store.user_by_email("parallel@example.com").id
    messages = server.store.messages(owner, chat_id)
    assert len(refused) == 1 and "still being written" in refused[0].composer_error
    assert [m.role for m in messages] == ["user", "assistant"]


def test_chat_list_changes_reach_every_tab(server):
    ada = User(server, "list@example.com")
    chat_id = ada.new_chat()
    view = ada.open(chat_id)
    ada.post(f"/chats/{chat_id}/rename", title="Renamed elsewhere")
    view.wait(lambda v: v.titles == ["Renamed elsewhere"])
    other = ada.post("/chats", content="A second chat").url.split("#")[0].rsplit("/", 1)[1]  # made by its message
    view.wait(lambda v: v.titles == ["A second chat", "Renamed elsewhere"])
    ada.post(f"/chats/{other}/delete")
    view.wait(lambda v: v.titles == ["Renamed elsewhere"])
    ada.post(f"/chats/{chat_id}/delete")
    view.wait(lambda v: v.gone)


@pytest.fixture(scope="module")
def stub():
    with StubOpenAI() as running:
        yield running


def test_a_reply_cut_by_the_provider_keeps_its_partial_text(tmp_path_factory, stub):
    with start(tmp_path_factory, OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=stub.base_url,
               OPENAI_MODEL="stub-drop") as server:
        ada = User(server, "cut@example.com")
        chat_id = ada.new_chat()
        view = ada.open(chat_id)
        view.send("hello")
        reply = view.wait(lambda v: next((m for m in v.replies() if m["status"] == "error"), None))
        message = stored(server, "cut@example.com", reply["id"])
        assert (message.status, message.content) == (ERROR, "".join(REPLY[:2]))
        page = ada.http.get(f"{server.url}/chats/{chat_id}").text
        assert "The connection to the model was lost." in page and 'aria-label="Retry"' in page


def test_a_reply_left_by_a_dead_worker_is_marked_interrupted_once_its_lease_runs_out(tmp_path_factory):
    with start(tmp_path_factory, OFFLINE_TOKEN_DELAY="0.3", REPLY_LEASE_SECONDS="3") as server:
        ada, chat_id, view, reply = ask(server, "crash@example.com")
        owner = server.store.user_by_email("crash@example.com").id
        deadline = time.monotonic() + 10
        while not server.store.message(owner, reply["id"]).content and time.monotonic() < deadline:
            time.sleep(0.1)  # until a checkpoint has stored some text
        worker = int(subprocess.check_output(["pgrep", "-P", str(server.process.pid)]).split()[0])
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while server.store.message(owner, reply["id"]).status == STREAMING and time.monotonic() < deadline:
            try:
                requests.get(server.url + "/login", timeout=1)  # the new worker starts up
            except requests.RequestException:  # refused, or slow while it boots
                pass
            time.sleep(0.2)
        message = server.store.message(owner, reply["id"])
        assert message.status == INTERRUPTED and message.content
        assert "The server stopped while this reply was being written." in ada.http.get(f"{server.url}/chats/{chat_id}").text


def test_stop_aborts_a_model_that_has_gone_quiet(tmp_path_factory, stub):
    with start(tmp_path_factory, OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=stub.base_url,
               OPENAI_MODEL="stub-stall") as server:
        ada = User(server, "quiet@example.com")
        view = ada.open(ada.new_chat())
        view.send("hello")
        reply = streaming_reply(view)
        view.wait(lambda v: v.messages[reply["id"]]["text"] == "".join(REPLY[:2]))  # then silence
        asked = time.monotonic()
        view.stop(reply["id"])
        view.wait(lambda v: v.messages[reply["id"]]["status"] == "stopped", timeout=3)
        assert time.monotonic() - asked < 3  # not the 60 s read timeout, nor the stub's 5 s stall
        message = stored(server, "quiet@example.com", reply["id"])
        assert (message.status, message.content, message.error) == (STOPPED, "".join(REPLY[:2]), None)


def test_a_client_that_drops_right_after_the_handshake_is_no_error(tmp_path_factory):
    with start(tmp_path_factory) as server:
        ada = User(server, "dropper@example.com")
        chat_id = ada.new_chat()
        owner = server.store.user_by_email("dropper@example.com").id
        for _ in range(20):  # a catch-up big enough to need several writes
            turn = server.store.add_turn(owner, chat_id, "lighthouse keepers " * 500, "offline", "seed")
            server.store.update_message(owner, turn.answer.id, content="keepers " * 500, status=COMPLETE, worker=None)
        cookies = "; ".join(f"{k}={v}" for k, v in ada.http.cookies.items())
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", server.port)) as raw:
                raw.sendall((f"GET /chats/{chat_id}/live?since=1 HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                             "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                             f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                             f"Origin: {server.url}\r\nCookie: {cookies}\r\n\r\n").encode())
                assert raw.recv(12) == b"HTTP/1.1 101"
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, not a close
        ada.open(chat_id).wait(lambda v: len(v.messages) == 40)  # the server goes on serving
        log = server.output()
        assert "GET /chats/<chat_id>/live 5" not in log and "Traceback" not in log, log[-2000:]


def test_a_slow_reader_gets_every_frame_whole(server):
    """Frames bigger than the socket's buffers, to a client that does not read for a while:
    each must arrive whole (a partial write would corrupt the stream)."""
    ada = User(server, "slow-reader@example.com")
    chat_id = ada.new_chat()
    owner = server.store.user_by_email("slow-reader@example.com").id
    long_text = "lighthouse keepers " * 5000  # ~95 KB a message
    for _ in range(60):
        turn = server.store.add_turn(owner, chat_id, long_text, "offline", "seed")
        question, answer = turn.question, turn.answer
        server.store.update_message(owner, answer.id, content=long_text, status=COMPLETE, worker=None)
    cookies = "; ".join(f"{k}={v}" for k, v in ada.http.cookies.items())
    url = server.url.replace("http", "ws") + f"/chats/{chat_id}/live?since=1"
    # The client stops reading once 2 messages wait unread, so the server's writes back up.
    with connect(url, additional_headers={"Cookie": cookies}, origin=server.url, max_size=None,
                 max_queue=2) as socket:
        time.sleep(2)
        shown = set()
        while len(shown) < 120:
            frame = socket.recv(timeout=10)
            shown.update(re.findall(r'id="m-([0-9a-f-]{36})"', frame))
    assert len(shown) == 120
