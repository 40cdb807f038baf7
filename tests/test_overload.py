"""Overload is refused, not queued: past MAX_STREAMS_PER_WORKER live connections a new
socket or event stream gets a quick 503 with Retry-After, while ordinary pages and the
health check are served at once (the real gunicorn + gevent server)."""
from __future__ import annotations

import time

import pytest
import requests
from websockets.exceptions import InvalidStatus

from tests.live_client import User
from tests.servers import embedded_server

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
