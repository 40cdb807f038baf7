"""/metrics as Prometheus scrapes it: off without METRICS_TOKEN, only for a bearer of it, and,
from a real server of two gevent workers, counts added up across both as replies are made."""
from __future__ import annotations

import re
import time

import pytest
import requests

from tests.conftest import require_service
from tests.live_client import User
from tests.openai_stub import API_KEY, StubOpenAI
from tests.redis_server import RedisServer
from tests.servers import embedded_server

TOKEN = "scrape-me-please-0123456789"


def test_metrics_are_off_without_a_token(client):
    assert client.get("/metrics").status_code == 404


def test_metrics_need_the_token(tmp_path):
    from chatbot import create_app
    from tests.conftest import make_config

    client = create_app(make_config(tmp_path, METRICS_TOKEN=TOKEN)).test_client()
    refused = client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics").status_code == 401
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200 and scraped.mimetype == "text/plain"
    assert "# TYPE chatbot_http_requests_total counter" in scraped.text


def scrape(server) -> dict[str, float]:
    """The samples (name{labels}: value) of one scrape, whichever worker answers it."""
    text = requests.get(server.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).text
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def value(samples: dict[str, float], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    total = 0.0
    for key, number in samples.items():
        if key.split("{")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', key))
        if all(found.get(k) == v for k, v in labels.items()):
            total += number
    return total


@pytest.mark.server
def test_counts_change_as_replies_are_made_across_two_workers(tmp_path):
    if not RedisServer.available():
        require_service("redis-server is not installed")
    with RedisServer() as redis, StubOpenAI() as provider:
        server = embedded_server(tmp_path, REDIS_URL=redis.url, METRICS_TOKEN=TOKEN, OPENAI_BASE_URL=provider.base_url,
                                 OPENAI_API_KEY=API_KEY, OPENAI_MODEL="stub", SEND_LIMIT_PER_USER="4 per minute")
        server.workers = 2
        with server:
            assert len(server.worker_pids()) == 2
            before, during, after = replies_made_and_scraped(server)
            # Whichever worker answers a scrape, it adds up both.
            assert all(value(scrape(server), "chatbot_replies_total") == 4 for _ in range(6))
    assert value(after, "chatbot_replies_total", outcome="complete", provider="openai") == 4
    assert value(after, "chatbot_reply_first_token_seconds_count", provider="openai") == 4
    assert value(after, "chatbot_reply_tokens_per_second_count", provider="openai") >= 1
    assert value(after, "chatbot_http_requests_total", method="POST", route="/chats", status="303") - \
        value(before, "chatbot_http_requests_total", method="POST", route="/chats", status="303") == 4
    assert value(after, "chatbot_rate_limited_total", route="/chats") == 1
    assert value(during, "chatbot_open_live_connections", kind="socket") == 1
    assert value(after, "chatbot_open_live_connections", kind="socket") == 0
    assert value(after, "chatbot_model_errors_total") == 0
    assert all("pid=" not in key for key in after)  # added up, not a line per worker


def replies_made_and_scraped(server) -> tuple[dict, dict, dict]:
    """Four replies (each send on a connection of its own, so both workers take some), a
    fifth send over the limit, a socket opened and closed: scrapes before, during, after."""
    before = scrape(server)
    user = User(server, "ada@example.com")
    for n in range(4):
        fresh = requests.Session()
        fresh.cookies.update(user.http.cookies)
        assert fresh.post(server.url + "/chats", data={"content": f"Question {n}", "csrf_token": user.token}
                          ).status_code == 200
    deadline = time.monotonic() + 20
    while value(scrape(server), "chatbot_replies_total", outcome="complete", provider="openai") < 4:
        assert time.monotonic() < deadline, "the replies were not counted"
        time.sleep(0.2)
    refused = user.http.post(server.url + "/chats", data={"content": "One too many", "csrf_token": user.token})
    assert refused.status_code == 429
    view = user.open(server.store.chats(server.store.user_by_email("ada@example.com").id)[0].id)
    time.sleep(0.5)
    during = scrape(server)
    view.socket.close()
    time.sleep(0.5)
    return before, during, scrape(server)
