"""What the Redis channel owes beyond the contract: one pub/sub connection per process,
bounded memory, and subscriptions that live through a lost connection or a restarted Redis."""
from __future__ import annotations

import threading
import time

import pytest
import redis

from chatbot.live.channel import GAP, ChannelUnavailable, Event
from tests.conftest import require_service
from tests.redis_server import RedisServer
from tests.test_channel_contract import Inbox, text, topic


@pytest.fixture
def server():
    if not RedisServer.available():
        require_service("redis-server is not installed")
    with RedisServer() as running:
        yield running


@pytest.fixture
def open_channel(server):
    from chatbot.live.redis import RedisChannel
    opened = []

    def make(**options):
        opened.append(RedisChannel(server.url, **options))
        return opened[-1]
    yield make
    for channel in opened:
        channel.shutdown()


@pytest.fixture
def admin(server):
    client = redis.Redis.from_url(server.url)
    yield client
    client.close()


def eventually(condition, timeout: float = 10.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def pubsub_clients(admin) -> list:
    return admin.client_list(_type="pubsub")


def test_one_pubsub_connection_however_many_subscribers(open_channel, admin):
    channel = open_channel()
    names = [topic(f"fan{n}") for n in range(100)]
    inboxes = [Inbox() for _ in range(200)]
    for n, inbox in enumerate(inboxes):
        channel.subscribe(names[n % 100], inbox, after=None)
    assert len(pubsub_clients(admin)) == 1
    for name in names:
        channel.publish(name, text(0))
    for inbox in inboxes:
        assert inbox.wait_for(1) == [Event(1, text(0))]


def test_memory_is_bounded(open_channel, admin):
    channel = open_channel(keep=5, retention=30)
    t = topic("bounded")
    counter, stream = f"chatbot:live:{t}:seq", f"chatbot:live:{t}:log"
    for n in range(20):
        channel.publish(t, text(n))
        assert admin.xlen(stream) == min(n + 1, 5)
    assert admin.pttl(stream) > 30_000 and admin.pttl(counter) > 30_000  # idle topics expire, later
    channel.close(t)
    assert admin.xlen(stream) == 5
    assert 0 < admin.pttl(stream) <= 30_000 and 0 < admin.pttl(counter) <= 30_000


def test_a_restarted_redis_means_a_gap_then_live_again(open_channel, server):
    channel = open_channel()
    t = topic("restart")
    inbox = Inbox()
    channel.subscribe(t, inbox, after=None)
    channel.publish(t, text(0))
    assert inbox.wait_for(1) == [Event(1, text(0))]
    server.stop()
    with pytest.raises(ChannelUnavailable):
        channel.publish(t, text(1))
    server.start()
    assert inbox.wait_for(2)[1] is GAP
    assert channel.publish(t, text(2)) == 1  # the data went with the old server
    assert inbox.wait_for(3)[2] == Event(1, text(2))
    assert channel._reader.is_alive()


def test_a_lost_connection_is_caught_up_without_a_gap(open_channel, admin):
    publisher, reader = open_channel(), open_channel()
    t = topic("blip")
    inbox = Inbox()
    reader.subscribe(t, inbox, after=None)
    done = threading.Event()

    def publish():
        for n in range(300):
            publisher.publish(t, text(n))
            time.sleep(0.002)
        done.set()
    writer = threading.Thread(target=publish)
    writer.start()
    for _ in range(3):
        inbox.wait_for(len(inbox.items) + 10)
        killed = admin.client_kill_filter(_type="pubsub")
        assert killed >= 1
    writer.join()
    inbox.wait_for(300, timeout=15)
    assert inbox.seqs() == list(range(1, 301))
    assert len(pubsub_clients(admin)) == 1


def test_subscribing_while_events_pour_in_misses_none_and_repeats_none(open_channel):
    publisher, reader = open_channel(), open_channel()
    t = topic("pour")
    stop = threading.Event()
    published = []

    def publish():
        while not stop.is_set():
            published.append(publisher.publish(t, text(len(published))))
    writer = threading.Thread(target=publish)
    writer.start()
    try:
        eventually(lambda: len(published) > 20, what="events")
        inboxes = [(Inbox(), after) for after in (0, None, 5, None, 0)]
        for inbox, after in inboxes:
            reader.subscribe(t, inbox, after=after)
            count = len(published)
            eventually(lambda: len(published) > count + 5, what="more events")
    finally:
        stop.set()
        writer.join()
    for inbox, after in inboxes:
        eventually(lambda: inbox.seqs() and inbox.seqs()[-1] == published[-1], what="the last event")
        seqs = inbox.seqs()
        assert seqs == list(range(seqs[0], published[-1] + 1))
        if after is not None:
            assert seqs[0] == after + 1


def test_a_callback_may_subscribe_and_publish(open_channel):
    channel = open_channel()
    first, second = topic("first"), topic("second")
    inbox = Inbox()

    def on_first(item):  # runs on the reader: it must not wait for itself
        channel.subscribe(second, inbox, after=0)
        channel.publish(second, text(1))
    channel.publish(second, text(0))
    channel.subscribe(first, on_first, after=None)
    channel.publish(first, text(0))
    assert inbox.wait_for(2) == [Event(1, text(0)), Event(2, text(1))]


def test_subscribing_after_redis_restarted_unnoticed(open_channel, server):
    channel = open_channel()
    channel.subscribe(topic("earlier"), Inbox(), after=None)()  # the pub/sub connection is made, then idle
    server.restart()
    t, inbox = topic("later"), Inbox()
    channel.subscribe(t, inbox, after=None)
    channel.publish(t, text(0))
    channel.publish(t, text(1))
    assert inbox.wait_for(2) == [Event(1, text(0)), Event(2, text(1))]
