"""Scaling out: two instances of the real server behind a real nginx (plain round-robin, no
sticky sessions), sharing their data in PostgreSQL and their live events on Redis, or on
PostgreSQL alone. Every instance can serve any request: a user's tabs, reloads and stops
land wherever the proxy sends them."""
from __future__ import annotations

import re
import runpy
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatbot.live.views import SESSION_ENDED
from chatbot.models.offline import compose_title
from chatbot.sqlstore import SQLStore
from chatbot.store import COMPLETE, INTERRUPTED, STOPPED, STREAMING
from tests.conftest import require_service, wait_until
from tests.databases import postgres_database, sql_store
from tests.live_client import User
from tests.nginx import NginxProxy, nginx_available
from tests.redis_server import RedisServer
from tests.servers import ROOT, Gunicorn, embedded_server
from tests.sse import ShownReply, events, shown_text

pytestmark = pytest.mark.server

QUESTION = "Tell me about the history of lighthouses on rocky coasts and the keepers who lived in them"


@dataclass
class Cluster:
    """Two instances and the proxy in front: ``url`` is the proxy's, as users see it."""
    url: str
    store: SQLStore
    a: Gunicorn
    b: Gunicorn


@dataclass
class Backing:
    """The services the instances share: a PostgreSQL database, and a Redis of the test's own."""
    channel: str
    database_url: str
    store: SQLStore
    redis: RedisServer | None


@pytest.fixture(scope="module", params=["redis", "postgres"])
def backing(request, tmp_path_factory):
    if not nginx_available():
        require_service("nginx is not installed")
    with postgres_database() as url:
        if url is None:
            require_service("PostgreSQL is not running on 127.0.0.1:5432")
        store = sql_store(url, tmp_path_factory.mktemp("locks"))
        if request.param == "postgres":
            yield Backing("postgres", url, store, None)
        else:
            if not RedisServer.available():
                require_service("redis-server is not installed")
            with RedisServer() as redis:
                yield Backing("redis", url, store, redis)
        store.engine.dispose()


@contextmanager
def two_instances(backing: Backing, base: Path, **env: str):
    common = {"CHATBOT_ENV": "development", "SECRET_KEY": "cluster-test", "DATABASE_URL": backing.database_url,
              "LIVE_CHANNEL": backing.channel, "OFFLINE_TOKEN_DELAY": "0.1", "REPLY_LEASE_SECONDS": "3", **env}
    if backing.redis:
        common["REDIS_URL"] = backing.redis.url
    a = Gunicorn({**common, "INSTANCE_PATH": str(base / "a")})
    b = Gunicorn({**common, "INSTANCE_PATH": str(base / "b")})
    with a, b, NginxProxy([a.port, b.port], base / "nginx") as proxy:
        yield Cluster(proxy.url, backing.store, a, b)


@pytest.fixture(scope="module")
def cluster(backing, tmp_path_factory):
    with two_instances(backing, tmp_path_factory.mktemp(f"cluster-{backing.channel}")) as running:
        yield running


def stored(cluster, email, message_id):
    return cluster.store.message(cluster.store.user_by_email(email).id, message_id)


def ask_on_a(cluster, email):
    """A user with a chat open on instance A, a long question sent and its reply streaming:
    (user, chat id, the view on A, the reply as the view shows it)."""
    ada = User(cluster, email)
    chat_id = ada.new_chat()
    on_a = ada.open(chat_id, via=cluster.a.url)
    on_a.send(QUESTION)
    return ada, chat_id, on_a, streaming_reply(on_a)


def streaming_reply(view):
    return view.wait(lambda v: next((m for m in v.replies() if m["status"] == "streaming"), None))


def finished_reply(view):
    return view.wait(lambda v: next((m for m in v.replies() if m["status"] != "streaming"), None), timeout=30)


def reply_events(user, base, chat_id, message_id, offset=0):
    """A reply's event stream read to its end: (the text it showed, the final fragment)."""
    url = f"{base}/chats/{chat_id}/messages/{message_id}/events?offset={offset}"
    shown = ShownReply()
    with user.http.get(url, stream=True, timeout=30) as response:
        assert response.status_code == 200
        for event in events(response):
            shown.apply(event["data"])
            if shown.final:
                break
    return shown.text, shown.final


def test_two_tabs_on_different_instances_both_see_the_message_and_the_reply_live(cluster):
    ada = User(cluster, "tabs@example.com")  # signed up through the proxy
    chat_id = ada.new_chat()
    on_a, on_b = ada.open(chat_id, via=cluster.a.url), ada.open(chat_id, via=cluster.b.url)
    on_a.send(QUESTION)
    for view in (on_a, on_b):
        reply = finished_reply(view)
        assert reply["status"] == COMPLETE
        assert [m["text"] for m in view.messages.values() if m["role"] == "user"] == [QUESTION]
        assert reply["text"].strip() == stored(cluster, "tabs@example.com", reply["id"]).content.strip()
    assert any(f"beforeend:#tail-{reply['id']}" in frame for frame in on_b.frames)  # streamed on B too, not just its end
    for view in (on_a, on_b):  # the title the model wrote, live on both instances
        view.wait(lambda v: v.titles[:1] == [compose_title(QUESTION)])


def test_a_reload_mid_reply_on_the_other_instance_shows_the_reply_exactly_once(cluster):
    ada, chat_id, on_a, reply = ask_on_a(cluster, "reload@example.com")
    on_a.wait(lambda v: len(v.messages[reply["id"]]["text"]) > 10)
    on_a.close()  # the tab reloads, and the proxy sends it to the other instance
    again = ada.open(chat_id, since=reply["seq"], via=cluster.b.url)
    seen = []

    def finished(view):
        message = view.messages.get(reply["id"])
        if message and message["status"] == "streaming":
            seen.append(message["text"])
        return message and message["status"] == COMPLETE
    again.wait(finished, timeout=30)
    final = stored(cluster, "reload@example.com", reply["id"]).content
    assert seen, "the view on B should have joined mid-reply"
    assert any(f"beforeend:#tail-{reply['id']}" in frame for frame in again.frames)  # and followed it live
    assert all(final.startswith(text) for text in seen)  # never a doubled or missing piece
    assert again.messages[reply["id"]]["text"].strip() == final.strip()


def test_a_replys_event_stream_from_the_other_instance_carries_it_whole(cluster):
    ada, chat_id, on_a, reply = ask_on_a(cluster, "events@example.com")
    text, final = reply_events(ada, cluster.b.url, chat_id, reply["id"])
    assert text == shown_text(stored(cluster, "events@example.com", reply["id"]).content)
    assert final and "status-complete" in final


def test_a_stop_through_instance_b_stops_a_reply_written_on_a(cluster):
    ada, chat_id, on_a, reply = ask_on_a(cluster, "stop@example.com")
    on_a.wait(lambda v: len(v.messages[reply["id"]]["text"]) > 5)
    writer = stored(cluster, "stop@example.com", reply["id"]).worker
    asked = time.monotonic()
    response = ada.http.post(f"{cluster.b.url}/chats/{chat_id}/messages/{reply['id']}/stop",
                             data={"csrf_token": ada.token}, headers={"HX-Request": "true"})
    assert response.status_code == 204
    on_a.wait(lambda v: v.messages[reply["id"]]["status"] == STOPPED, timeout=5)
    took = time.monotonic() - asked
    message = stored(cluster, "stop@example.com", reply["id"])
    assert (message.status, message.worker) == (STOPPED, None) and message.content
    assert int(writer.split(":")[1]) in cluster.a.worker_pids()  # written by A's process, stopped through B
    assert took < 1.0, f"the stop took {took:.2f} s"


def test_sends_into_one_chat_through_both_instances_at_once_never_interleave(cluster):
    ada = User(cluster, "parallel@example.com")
    chat_id = ada.new_chat()
    on_a, on_b = ada.open(chat_id, via=cluster.a.url), ada.open(chat_id, via=cluster.b.url)
    on_a.send("one")
    on_b.send("two")
    refused = [v for v in (on_a, on_b) if v.wait(lambda v: v.composer_updates) and v.composer_error]
    messages = cluster.store.messages(cluster.store.user_by_email("parallel@example.com").id, chat_id)
    assert len(refused) == 1 and "still being written" in refused[0].composer_error
    assert [m.role for m in messages] == ["user", "assistant"]


def test_logging_out_through_one_instance_closes_the_sessions_sockets_on_both(cluster):
    ada = User(cluster, "logout@example.com")
    phone = ada.another_browser()  # a second session, which stays
    chat_id = ada.new_chat()
    mine = [ada.open(chat_id, via=instance.url) for instance in (cluster.a, cluster.b)]
    theirs = [phone.open(chat_id, via=instance.url) for instance in (cluster.a, cluster.b)]
    asked = time.monotonic()
    ada.http.post(f"{cluster.b.url}/logout", data={"csrf_token": ada.token})
    for view in mine:
        view.wait(lambda v: v.closed, timeout=5)
        assert view.close_code == SESSION_ENDED
    took = time.monotonic() - asked
    assert not any(view.closed for view in theirs)
    assert took < 2.0, f"closing took {took:.2f} s"


def test_another_user_sees_nothing_on_any_instance(cluster):
    owner = User(cluster, "owner@example.com")
    chat_id = owner.new_chat()
    intruder = User(cluster, "intruder@example.com")
    own_chat = intruder.new_chat()
    snooping = [intruder.open(chat_id, via=instance.url) for instance in (cluster.a, cluster.b)]
    own = [intruder.open(own_chat, via=instance.url) for instance in (cluster.a, cluster.b)]
    for view in snooping:
        view.wait(lambda v: v.closed)  # someone else's chat: closed at once
    view = owner.open(chat_id, via=cluster.a.url)
    view.send("private thoughts")
    finished_reply(view)
    frames = "".join(frame for v in snooping + own for frame in v.frames)
    assert "private thoughts" not in frames and all(v.messages == {} for v in snooping + own)
    for instance in (cluster.a, cluster.b):
        assert intruder.http.get(f"{instance.url}/chats/{chat_id}").status_code == 404


def test_a_replys_writer_killed_marks_it_interrupted_once_its_lease_runs_out(backing, tmp_path):
    """kill -9 of instance A mid-reply: the reply stays streaming while A's lease runs (a
    restart of B meanwhile leaves it alone), then B marks it interrupted, text kept."""
    with two_instances(backing, tmp_path, OFFLINE_TOKEN_DELAY="0.3") as cluster:
        ada, chat_id, on_a, reply = ask_on_a(cluster, "killed@example.com")
        cluster.b.restart()  # B's start-up sweep must not touch A's live reply
        before = len(on_a.messages[reply["id"]]["text"])
        on_a.wait(lambda v: len(v.messages[reply["id"]]["text"]) > before)  # A is still writing it
        deadline = time.monotonic() + 10
        while not stored(cluster, "killed@example.com", reply["id"]).content and time.monotonic() < deadline:
            time.sleep(0.1)  # until a checkpoint has stored some text
        cluster.a.kill()
        killed = time.monotonic()
        assert stored(cluster, "killed@example.com", reply["id"]).status == STREAMING  # its lease still runs
        while stored(cluster, "killed@example.com", reply["id"]).status == STREAMING and time.monotonic() < killed + 30:
            time.sleep(0.1)
        swept_after = time.monotonic() - killed
        message = stored(cluster, "killed@example.com", reply["id"])
        assert message.status == INTERRUPTED and message.content
        assert 0.5 < swept_after < 3 + 6  # after the lease (3 s), within a sweep or so of its end
        page = ada.http.get(f"{cluster.b.url}/chats/{chat_id}").text
        assert "The server stopped while this reply was being written." in page and 'aria-label="Retry"' in page


@pytest.mark.parametrize("backing", ["redis"], indirect=True)
def test_a_reply_survives_redis_restarting_mid_reply_and_open_views_recover(backing, cluster):
    ada = User(cluster, "redis-restart@example.com")
    chat_id = ada.new_chat()
    on_a, on_b = ada.open(chat_id, via=cluster.a.url), ada.open(chat_id, via=cluster.b.url)
    on_a.send(QUESTION)
    reply = streaming_reply(on_b)
    on_b.wait(lambda v: len(v.messages[reply["id"]]["text"]) > 5)
    backing.redis.restart(down_for=0.5)  # its events are gone with it
    for view in (on_a, on_b):
        finished = finished_reply(view)
        message = stored(cluster, "redis-restart@example.com", reply["id"])
        assert message.status == COMPLETE and finished["status"] == COMPLETE
        assert finished["text"].strip() == message.content.strip()
    on_a.send("and after the restart?")  # the channel works again, across instances
    on_b.wait(lambda v: len(v.replies()) == 2 and v.replies()[-1]["status"] == COMPLETE, timeout=30)


def test_with_the_channel_away_replies_are_written_and_every_page_falls_back(tmp_path):
    """Redis down before anything is sent: the form post, the htmx send and its event stream
    all get the whole reply from the store; the socket says "try again later" (1013) instead
    of failing, and works again once Redis is back."""
    if not RedisServer.available():
        require_service("redis-server is not installed")
    with RedisServer() as redis, embedded_server(tmp_path, REDIS_URL=redis.url, OFFLINE_TOKEN_DELAY="0.05") as server:
        ada = User(server, "away@example.com")
        chat_id = ada.new_chat()
        redis.stop()
        page = ada.post(f"/chats/{chat_id}/messages", content="Is anyone there?")  # no JavaScript: refreshes
        assert page.status_code == 200 and page.text.count("message assistant status-streaming") == 1
        finished = wait_until(lambda: (again := ada.http.get(f"{server.url}/chats/{chat_id}").text)
                              and "message assistant status-complete" in again)
        assert finished
        sent = ada.http.post(f"{server.url}/chats/{chat_id}/messages", data={"content": QUESTION, "csrf_token": ada.token},
                             headers={"HX-Request": "true"})
        reply_id = re.search(r"/messages/([^/]+)/events", sent.text).group(1)
        text, final = reply_events(ada, server.url, chat_id, reply_id)
        stored_reply = server.store.message(server.store.user_by_email("away@example.com").id, reply_id)
        assert stored_reply.status == COMPLETE and final and "status-complete" in final
        assert shown_text(stored_reply.content).startswith(text)  # checkpoints as they came; the final message has the rest
        view = ada.open(chat_id)
        view.wait(lambda v: v.closed)
        assert view.socket.close_code == 1013
        redis.start()
        again = ada.open(chat_id)
        again.send("and now?")
        again.wait(lambda v: len(v.replies()) == 3 and v.replies()[-1]["status"] == COMPLETE, timeout=30)
        assert "Traceback" not in server.output()


def test_several_workers_on_the_in_process_channel_refuse_to_start(tmp_path):
    server = embedded_server(tmp_path)
    server.workers = 2
    with pytest.raises(RuntimeError) as refused:
        server.__enter__()
    assert "WEB_CONCURRENCY: 2 workers need a shared live channel" in str(refused.value)


def test_a_shared_channel_runs_a_worker_per_core(monkeypatch, tmp_path):
    import multiprocessing

    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # (else the settings make one, for this process)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    settings = ROOT / "chatbot" / "gunicorn_conf.py"  # run afresh each time
    assert runpy.run_path(str(settings))["workers"] == multiprocessing.cpu_count()
    monkeypatch.delenv("REDIS_URL")
    assert runpy.run_path(str(settings))["workers"] == 1


@pytest.mark.browser
def test_in_a_browser_through_the_proxy_the_reply_streams_and_a_second_tab_follows(cluster, chromium):
    context = chromium.new_context(base_url=cluster.url)
    first = context.new_page()
    errors = []
    first.on("pageerror", lambda e: errors.append(str(e)))
    first.set_default_timeout(20000)
    first.goto("/signup")
    first.get_by_label("Email").fill("browser@example.com")
    first.get_by_label("Password").fill("correct horse")
    first.get_by_role("button", name="Sign up").click()
    first.wait_for_url("**/")
    first.get_by_label("Message").fill("Hello through the proxy")
    first.get_by_role("button", name="Send").click()  # the first message makes the chat
    first.wait_for_url("**/chats/*")
    first.locator(".message.assistant.status-complete").wait_for()
    second = context.new_page()
    second.set_default_timeout(20000)
    second.on("pageerror", lambda e: errors.append(str(e)))
    second.goto(first.url)
    # Each page's socket went through the proxy, to whichever instance it picked (chat.js
    # marks the body once it is open; a string predicate would need eval, which the CSP refuses).
    for page in (second, first):
        page.wait_for_selector("body[data-live=open]", state="attached")

    first.get_by_label("Message").fill("And again, live")
    first.get_by_role("button", name="Send").click()
    first.locator(".message.assistant.status-streaming .message-text span").first.wait_for()  # it streams
    second.locator(".message.user", has_text="And again, live").wait_for()
    second.locator(".message.assistant.status-complete").nth(1).wait_for()
    first.locator(".message.assistant.status-complete").nth(1).wait_for()
    assert first.locator(".message.assistant").last.inner_text() == second.locator(".message.assistant").last.inner_text()
    second.locator(".chat-list a", has_text=compose_title("Hello through the proxy")).wait_for()
    assert errors == []
    context.close()


from tests.test_browser import chromium  # noqa: E402,F401 - the browser fixture, shared
