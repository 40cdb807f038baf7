"""The log an operator reads: a line per request and per reply's outcome, each with the
request's id, which the model provider gets too; JSON lines on request; no secrets."""
from __future__ import annotations

import json
import logging
import re

import pytest

from tests.conftest import new_chat, send
from tests.live_client import User
from tests.openai_stub import API_KEY, StubOpenAI
from tests.servers import embedded_server


def test_each_response_carries_its_request_id(client):
    given = client.get("/login", headers={"X-Request-ID": "lb-7f3a.42"})
    assert given.headers["X-Request-ID"] == "lb-7f3a.42"  # a proxy's id is kept
    made = client.get("/login")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    assert client.get("/login").headers["X-Request-ID"] != made.headers["X-Request-ID"]
    for bad in ("has spaces", "x" * 65, "semi;colon"):
        assert re.fullmatch(r"[0-9a-f]{32}", client.get("/login", headers={"X-Request-ID": bad}).headers["X-Request-ID"])


def test_a_request_is_logged_by_its_route_not_its_address(user, store, caplog):
    chat_id = new_chat(user)
    send(user, chat_id, "hello")
    token = store.add_share(store.user_by_email("ada@example.com").id, chat_id, "Shared",
                            store.messages(store.user_by_email("ada@example.com").id, chat_id), False).token
    with caplog.at_level(logging.INFO, logger="chatbot.requests"):
        user.get(f"/s/{token}")
        user.get("/search?q=secret+words")
    lines = [r for r in caplog.records if r.name == "chatbot.requests"][-2:]  # (the test's own look inside is before)
    assert [(r.method, r.route, r.status) for r in lines] == [("GET", "/s/<token>", 200), ("GET", "/search", 200)]
    assert all(r.request_id and r.user for r in lines)
    assert token not in caplog.text and "secret" not in caplog.text


@pytest.mark.server
def test_json_lines_follow_a_reply_from_request_to_provider_and_back(tmp_path):
    with StubOpenAI() as provider, embedded_server(tmp_path, LOG_FORMAT="json", OPENAI_BASE_URL=provider.base_url,
                                                   OPENAI_API_KEY=API_KEY, OPENAI_MODEL="stub") as server:
        user = User(server, "ada@example.com")
        sent = user.http.post(server.url + "/chats", data={"content": "Tell me about tide pools",
                                                           "csrf_token": user.token}, allow_redirects=False)
        request_id = sent.headers["X-Request-ID"]
        chat_id = sent.headers["Location"].split("#")[0].rsplit("/", 1)[1]
        user.http.get(server.url + f"/chats/{chat_id}")
        lines = _until(server, lambda lines: any(line.get("outcome") for line in lines))
    ours = [line for line in lines if line["logger"].startswith("chatbot")]
    [posted] = [line for line in ours if line.get("route") == "/chats" and line.get("method") == "POST"]
    assert (posted["status"], posted["request_id"], posted["level"]) == (303, request_id, "info")
    assert posted["user"] and isinstance(posted["ms"], float) and posted["time"].endswith("+00:00")
    [reply] = [line for line in ours if line.get("outcome")]
    assert (reply["outcome"], reply["model"], reply["request_id"], reply["chat"]) == \
        ("complete", "openai/stub", request_id, chat_id)
    assert reply["completion_tokens"] > 0 and reply["first_token_ms"] >= 0 and reply["seconds"] > 0
    assert any(line.get("route") == "/chats/<chat_id>" for line in ours)
    # The provider's request carries the same id, for its logs (OpenAI's X-Client-Request-Id).
    headers = {name.lower(): value for name, value in provider.request_headers[0].items()}
    assert headers.get("x-client-request-id") == request_id, headers
    text = (tmp_path / "gunicorn.log").read_text()
    assert API_KEY not in text and "server-test" not in text and "correct horse" not in text


def _until(server, ready, seconds: float = 15) -> list[dict]:
    """The server's JSON log lines, once ``ready(lines)``."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.startswith("{")]
        if ready(lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)
