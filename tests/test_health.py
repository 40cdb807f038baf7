"""/healthz and /readyz, asked as a load balancer asks them, of real servers whose database or
live channel the test takes away and brings back."""
from __future__ import annotations

import time

import pytest
import requests

from tests.conftest import require_service
from tests.redis_server import RedisServer
from tests.servers import Gunicorn, embedded_server

pytestmark = pytest.mark.server


def readiness(server) -> tuple[int, dict, float]:
    started = time.monotonic()
    response = requests.get(server.url + "/readyz", timeout=10)
    return response.status_code, response.json(), time.monotonic() - started


def test_health_and_readiness_need_no_login_and_hold_no_secrets(tmp_path):
    with embedded_server(tmp_path) as server:
        health = requests.get(server.url + "/healthz", timeout=5)
        assert health.status_code == 200 and health.json() == {"status": "ok", "open_streams": 0}
        assert readiness(server)[:2] == (200, {"status": "ready"})
        assert requests.head(server.url + "/readyz", timeout=5).status_code == 200


def test_not_ready_while_the_live_channel_is_away(tmp_path):
    if not RedisServer.available():
        require_service("redis-server is not installed")
    with RedisServer() as redis:
        with embedded_server(tmp_path, REDIS_URL=redis.url) as server:
            assert readiness(server)[0] == 200
            redis.stop()
            status, body, took = readiness(server)
            assert status == 503 and body == {"status": "not ready", "problems": {"live_channel": "not answering"}}
            assert took < 5 and requests.get(server.url + "/healthz", timeout=5).status_code == 200  # alive all the same
            assert "127.0.0.1" not in str(body)  # where it is stays in the log
            redis.start()
            deadline = time.monotonic() + 15
            while readiness(server)[0] != 200:
                assert time.monotonic() < deadline, "not ready again once Redis is back"
                time.sleep(0.2)


def test_not_ready_while_the_database_is_away(tmp_path):
    from tests.postgres17 import postgres17_available, running_postgres17

    if not postgres17_available():
        require_service("PostgreSQL 17 is not installed (.ci/run installs it)")
    with running_postgres17() as database:
        env = {"CHATBOT_ENV": "development", "SECRET_KEY": "health-test", "INSTANCE_PATH": str(tmp_path),
               "DATABASE_URL": database.url, "LIVE_CHANNEL": "memory"}
        with Gunicorn(env) as server:
            assert readiness(server)[0] == 200
            database.stop("fast")  # a clean stop: its throwaway settings keep nothing through a crash
            status, body, took = readiness(server)
            assert status == 503 and body["problems"] == {"database": "not answering"} and took < 5
            assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
            database.start()
            deadline = time.monotonic() + 20
            while readiness(server)[0] != 200:
                assert time.monotonic() < deadline, "not ready again once the database is back"
                time.sleep(0.2)
