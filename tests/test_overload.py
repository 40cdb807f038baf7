"""Overload is refused, not queued: past MAX_STREAMS_PER_WORKER live connections a new
socket or event stream gets a quick 503 with Retry-After, while ordinary pages and the
health check are served at once (the real gunicorn + gevent server)."""
from __future__ import annotations

import time

import pytest
import requests
from websockets.exceptions import InvalidStatus

from tests.conftest import wait_until
from tests.live_client import User
from tests.servers import embedded_server
from tests.test_browser import chromium  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.server


def test_past_the_stream_cap_new_streams_are_refused_at_once(tmp_path):
    with embedded_server(tmp_path, MAX_STREAMS_PER_WORKER="3", OFFLINE_TOKEN_DELAY="0") as server:
        ada = User(server, "busy-server@example.com")
        chat_id = ada.new_chat()
        views = [ada.open(chat_id) for _ in range(3)]
        started = time.monotonic()
        with pytest.raises(InvalidStatus) as refused:
            ada.open(chat_id)
        assert refused.value.response.status_code == 503 and time.monotonic() - started < 1.0
        assert int(refused.value.response.headers["Retry-After"]) >= 1
        events = ada.http.get(f"{server.url}/chats/{chat_id}/messages/00000000-0000-4000-8000-000000000000/events")
        assert events.status_code == 503 and "The server is busy" in events.text
        health = requests.get(server.url + "/healthz", timeout=5)
        assert health.status_code == 200 and health.json() == {"status": "ok", "open_streams": 3}
        assert ada.http.get(f"{server.url}/chats/{chat_id}").status_code == 200  # pages go on
        views[0].close()
        views[0].wait(lambda v: v.closed)
        deadline = time.monotonic() + 10
        while requests.get(server.url + "/healthz", timeout=5).json()["open_streams"] > 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        again = ada.open(chat_id)  # a place came free
        again.send("still works")
        again.wait(lambda v: any(m["status"] == "complete" for m in v.replies()))


@pytest.mark.browser
def test_a_page_refused_a_socket_says_live_updates_are_paused_and_still_sends(chromium, tmp_path):  # noqa: F811
    with embedded_server(tmp_path, MAX_STREAMS_PER_WORKER="1", OFFLINE_TOKEN_DELAY="0") as server:
        ada = User(server, "paused@example.com")
        chat_id = ada.new_chat()
        context = chromium.new_context(base_url=server.url)
        context.add_cookies([{"name": "session", "value": ada.http.cookies["session"], "url": server.url}])
        first = context.new_page()
        first.goto(f"/chats/{chat_id}")
        first.wait_for_selector("body[data-live=open]", state="attached")
        assert first.locator("#live-status").is_hidden()
        second = context.new_page()
        second.goto(f"/chats/{chat_id}")
        second.locator("#live-status").wait_for(state="visible")
        assert "Live updates are paused" in second.locator("#live-status").inner_text()
        second.get_by_label("Message").fill("sent without the socket")
        second.get_by_role("button", name="Send").click()  # over plain htmx requests
        second.locator(".message.user", has_text="sent without the socket").wait_for()
        owner = server.store.user_by_email("paused@example.com").id
        wait_until(lambda: [(m.role, m.status) for m in server.store.messages(owner, chat_id)]
                   == [("user", "complete"), ("assistant", "complete")])  # written all the same
        first.close()  # a place comes free: the page's reply shows once reloaded
        second.reload()
        second.locator(".message.assistant.status-complete").wait_for()
        context.close()
