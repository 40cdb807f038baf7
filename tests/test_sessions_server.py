"""Ended sessions against the real server (gunicorn + gevent, real WebSocket clients): the
sockets a session opened close within seconds, whoever ended it, and nothing else does."""
from __future__ import annotations

import re

import pytest
from websockets.exceptions import InvalidStatus

from chatbot.live.views import SESSION_ENDED
from tests.live_client import User
from tests.servers import embedded_server

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with embedded_server(tmp_path_factory.mktemp("sessions")) as running:
        yield running


def closed_for_session_end(view, timeout=5.0):
    view.wait(lambda v: v.closed, timeout)
    return view.close_code == SESSION_ENDED


def test_logging_out_closes_the_sessions_open_sockets(server):
    ada = User(server, "logout@example.com")
    chat_id = ada.new_chat()
    first, second = ada.open(chat_id), ada.open(ada.new_chat())
    ada.post("/logout")
    assert closed_for_session_end(first) and closed_for_session_end(second)
    with pytest.raises(InvalidStatus) as refused:  # and the cookie opens no new one
        ada.open(chat_id)
    assert refused.value.response.status_code == 401


def test_a_password_change_closes_the_other_sessions_sockets_only(server):
    ada = User(server, "change@example.com")
    phone = ada.another_browser()
    chat_id = ada.new_chat()
    here, there = ada.open(chat_id), phone.open(chat_id)
    response = ada.post("/account/password", current_password="correct horse", new_password="battery staple")
    assert response.status_code == 200 and "1 other session logged out" in response.text
    assert closed_for_session_end(there)
    here.send("still here?")
    here.wait(lambda v: any(m["status"] == "complete" for m in v.replies()))
    assert not here.closed


def test_logging_out_one_device_from_the_account_page(server):
    ada = User(server, "device@example.com")
    laptop = ada.another_browser()
    view = laptop.open(laptop.new_chat())
    page = ada.http.get(server.url + "/account").text
    listed = re.findall(r"<li>(.*?)</li>", page.split('class="session-list"')[1], re.S)
    assert len(listed) == 2 and sum("This browser" in item for item in listed) == 1
    [other_id] = [re.search(r"/account/sessions/([0-9a-f-]{36})/end", item).group(1)
                  for item in listed if "This browser" not in item]
    ada.post(f"/account/sessions/{other_id}/end")
    assert closed_for_session_end(view)


def test_an_admin_disabling_an_account_closes_its_sockets(server):
    admin = User(server, "admin-first@example.com")  # not the first of this server: made admin below
    server_admin = server.store.user_by_email("admin-first@example.com")
    from chatbot.accounts.sqldirectory import SQLDirectory
    from chatbot.files import LocalFiles

    directory = SQLDirectory(server.store.engine, LocalFiles(server.log_path.parent / "files"))
    directory.set_role(server_admin.id, "admin")
    bob = User(server, "disabled@example.com")
    chat_id = bob.new_chat()
    view = bob.open(chat_id)
    bob_id = server.store.user_by_email("disabled@example.com").id
    assert admin.post(f"/admin/users/{bob_id}/disable").status_code == 200
    assert closed_for_session_end(view)
    with pytest.raises(InvalidStatus):
        bob.open(chat_id)


def test_sessions_kept_in_redis_end_alike(tmp_path):
    """SESSION_STORE=redis: the records live in Redis (none in the database), and ending one
    closes its sockets the same way."""
    import redis as redis_client

    from tests.conftest import require_service
    from tests.redis_server import RedisServer

    if not RedisServer.available():
        require_service("redis-server is not installed")
    with RedisServer() as redis, embedded_server(tmp_path, REDIS_URL=redis.url, SESSION_STORE="redis") as server:
        ada = User(server, "redis-session@example.com")
        phone = ada.another_browser()
        keys = redis_client.Redis.from_url(redis.url).keys("chatbot:session:*")
        assert len(keys) == 2
        with server.store.engine.connect() as db:
            assert db.exec_driver_sql("SELECT count(*) FROM sessions").scalar() == 0
        view = phone.open(phone.new_chat())
        ada.post("/account/sessions/end-others")
        assert closed_for_session_end(view)
        assert phone.http.get(server.url + "/account", allow_redirects=False).status_code == 302
        assert ada.http.get(server.url + "/account", allow_redirects=False).status_code == 200
