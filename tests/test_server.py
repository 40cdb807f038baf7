"""The real server: gunicorn with the gevent worker, real HTTP and server-sent events."""
import re

import time

import pytest
import requests

from chatbot.store import COMPLETE
from tests.conftest import wait_until
from tests.live_client import User
from tests.servers import embedded_server
from tests.sse import ShownReply, delta_text, events, shown_text

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with embedded_server(tmp_path_factory.mktemp("server"), OFFLINE_TOKEN_DELAY="0.02") as running:
        yield running


def sign_up(server, email):
    """A signed-in requests session, with the page's CSRF token as ``.token``."""
    user = User(server, email)
    user.http.token, user.http.user = user.token, user
    return user.http


def send(server, session, text):
    """Create a chat and send ``text`` the way htmx does; return (chat_id, reply_id, stream_url)."""
    chat_id = session.user.new_chat()
    response = session.post(f"{server.url}/chats/{chat_id}/messages", data={"content": text, "csrf_token": session.token},
                            headers={"HX-Request": "true"})
    assert response.status_code == 200
    url = re.search(r'hx-sse:connect="([^"]+)"', response.text).group(1).replace("&amp;", "&")
    reply_id = re.search(r"/messages/([^/]+)/events", url).group(1)
    return chat_id, reply_id, server.url + url


def owner(server, email):
    return server.store.user_by_email(email).id


def test_reply_streams_over_sse_then_the_finished_message_arrives(server):
    session = sign_up(server, "stream@example.com")
    chat_id, reply_id, url = send(server, session, "I have been learning to paint with watercolours")
    with session.get(url, stream=True, timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Cache-Control"] == "no-cache" and response.headers["X-Accel-Buffering"] == "no"
        received = list(events(response))
    deltas = [e for e in received if e["id"] is not None]
    assert len(deltas) > 3  # it streamed, in several events
    final = received[-1]["data"]
    assert final.startswith(f'<article id="m-{reply_id}" data-seq="2" class="message assistant status-complete" hx-swap-oob="true">')
    shown = ShownReply()
    for event in deltas:
        shown.apply(event["data"])
    stored = server.store.message(owner(server, "stream@example.com"), reply_id)
    assert stored.status == COMPLETE and shown.text == shown_text(stored.content)
    assert [int(e["id"]) for e in deltas] == sorted(int(e["id"]) for e in deltas)  # ids are offsets


def test_reconnecting_mid_reply_gets_the_rest_exactly_once(server):
    session = sign_up(server, "resume@example.com")
    _, reply_id, url = send(server, session, "Tell me about the history of lighthouses on rocky coasts")
    first, shown = [], ShownReply()
    with session.get(url, stream=True, timeout=30) as response:
        for event in events(response):
            if event["id"] is not None:
                first.append(event)
                shown.apply(event["data"])
            if len(first) == 2:
                break  # the tab goes away mid-reply
    last_id = first[-1]["id"]
    with session.get(url, stream=True, timeout=30, headers={"Last-Event-ID": last_id}) as response:
        rest = [e for e in events(response) if e["id"] is not None]
    assert rest[0]["data"].startswith('<div hx-swap-oob="innerHTML:#t-')  # shown anew from the store...
    for event in rest:
        shown.apply(event["data"])
    stored = server.store.message(owner(server, "resume@example.com"), reply_id)
    assert shown.text == shown_text(stored.content) and stored.status == COMPLETE  # ...then the rest: once


def test_a_view_opened_from_a_checkpoint_offset_gets_only_the_rest(tmp_path):
    with embedded_server(tmp_path, OFFLINE_TOKEN_DELAY="0.1") as slow:  # the reply outlasts a checkpoint
        a_view_opened_from_a_checkpoint_offset_gets_only_the_rest(slow)


def a_view_opened_from_a_checkpoint_offset_gets_only_the_rest(server):
    session = sign_up(server, "offset@example.com")
    _, reply_id, url = send(server, session, "What makes sourdough bread rise?")
    # Both views connect while the reply is being written: the second as a page loaded once
    # the store had its first 10 characters.
    whole_stream = session.get(url, stream=True, timeout=30)
    stored = wait_until(lambda: server.store.message(owner(server, "offset@example.com"), reply_id)
                        if len(server.store.message(owner(server, "offset@example.com"), reply_id).content) >= 10 else None)
    assert stored.status == "streaming"
    later_stream = requests.get(url.replace("offset=0", "offset=10"), cookies=session.cookies, stream=True, timeout=30)
    with whole_stream, later_stream:
        whole = "".join(delta_text(e["data"]) for e in events(whole_stream))
        later = [e["data"] for e in events(later_stream)]
    assert len(whole) > 10 and whole[10:] == "".join(map(delta_text, later)), later  # (one paragraph: all of it is tail)
    assert not any("innerHTML:#t-" in data for data in later)  # carried on from the page, not shown anew


def test_the_reply_finishes_with_no_one_watching(server):
    session = sign_up(server, "away@example.com")
    chat_id, reply_id, _ = send(server, session, "Write me a long story about a fox")
    # Nobody opens the stream; the reply is generated and stored all the same.
    deadline = time.monotonic() + 30
    while server.store.message(owner(server, "away@example.com"), reply_id).status != COMPLETE:
        assert time.monotonic() < deadline, "the reply was never finished"
        time.sleep(0.05)
    response = session.post(f"{server.url}/chats/{chat_id}/messages",
                            data={"content": "and another", "csrf_token": session.token})
    assert response.status_code == 200  # and the chat takes the next message


def test_without_javascript_a_send_answers_at_once_and_the_page_refreshes_until_the_reply_is_done(server):
    session = sign_up(server, "nojs@example.com")
    page = session.post(server.url + "/chats", data={"content": "hello there", "csrf_token": session.token})
    assert page.status_code == 200 and "hello there" in page.text
    assert "status-streaming" in page.text and '<noscript><meta http-equiv="refresh" content="2; url=/chats/' in page.text
    chat_url = page.url.split("#")[0]
    finished = wait_until(lambda: (again := session.get(chat_url).text) and "assistant status-complete" in again and again)
    assert "status-streaming" not in finished and 'http-equiv="refresh"' not in finished
    page = session.post(f"{chat_url}/messages", data={"content": "and again", "csrf_token": session.token})
    assert page.status_code == 200 and page.url.startswith(chat_url + "#m-") and "status-streaming" in page.text


def test_another_users_stream_is_not_found(server):
    owner_session = sign_up(server, "owner@example.com")
    _, _, url = send(server, owner_session, "private thoughts")
    intruder = sign_up(server, "intruder@example.com")
    assert intruder.get(url, timeout=10).status_code == 404
    assert requests.get(url, timeout=10, allow_redirects=False).status_code == 401  # not signed in


def test_a_wrong_password_is_an_answer_not_an_error_in_the_log(tmp_path_factory):
    with embedded_server(tmp_path_factory.mktemp("wrong-password")) as server:
        User(server, "careful@example.com")
        guest = requests.Session()
        token = re.search(r'name="csrf_token" value="([^"]+)"', guest.get(server.url + "/login").text).group(1)
        response = guest.post(server.url + "/login",
                              data={"email": "careful@example.com", "password": "not the password", "csrf_token": token})
        assert response.status_code == 422
        assert "Traceback" not in server.output() and "VerifyMismatchError" not in server.output()
