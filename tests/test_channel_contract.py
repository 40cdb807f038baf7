"""The live channel contract, run unchanged on every implementation: in-process, Redis and
PostgreSQL (each on a server of the test's own; required in CI)."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from chatbot.live.channel import CLOSED, Event, follow
from chatbot.live.events import (ChatsChanged, ConversationChanged, MessageChanged, ReplyDone, ReplyText, SessionsEnded,
                                 StopReply, from_json, to_json)
from chatbot.live.memory import InProcessChannel
from chatbot.store import Attachment, Message
from tests.conftest import require_service
from tests.databases import postgres_database
from tests.redis_server import RedisServer

MESSAGE = Message("7f0c2a49-0d7e-4f0e-9d57-0b8e4f1f7a11", "0c5e8a7e-6a5a-4d0b-8d33-7d0f8b1b2c3d", "assistant",
                  "Lighthouses *guide* ships — «safely».", "complete", None, "gpt", 12, 34,
                  datetime(2026, 11, 27, 9, 30, 1, 123456, tzinfo=timezone.utc), 4,
                  (Attachment("a1", "7f0c2a49-0d7e-4f0e-9d57-0b8e4f1f7a11", "map.png", "image/png", 2048, "k/1"),))
EVERY_KIND = [MessageChanged(MESSAGE), ConversationChanged(), ChatsChanged(),
              ReplyText(MESSAGE.id, 10, "and then ✨"), ReplyDone(MESSAGE), StopReply(MESSAGE.id),
              SessionsEnded(("5b1d0a8e-3c0f-4a57-9f5e-2d6c1e0b7a42",))]


@pytest.fixture(scope="module")
def redis_url():
    if not RedisServer.available():
        require_service("redis-server is not installed")
    with RedisServer() as server:
        yield server.url


@pytest.fixture(scope="module")
def postgres_url():
    with postgres_database() as url:
        if url is None:
            require_service("PostgreSQL is not running on 127.0.0.1:5432")
        yield url


@pytest.fixture(params=["memory", "redis", "postgres"])
def open_channel(request):
    """Opens channels on one backend: two of them are two processes sharing it (the
    in-process channel shares itself)."""
    opened = []

    def make(**options):
        if request.param == "memory":
            if not opened:
                opened.append(InProcessChannel(**options))
            return opened[0]
        if request.param == "redis":
            from chatbot.live.redis import RedisChannel
            channel = RedisChannel(request.getfixturevalue("redis_url"), **options)
        else:
            from chatbot.live.postgres import PostgresChannel
            channel = PostgresChannel(request.getfixturevalue("postgres_url"), **options)
        opened.append(channel)
        return channel
    make.kind = request.param
    yield make
    for channel in opened:
        channel.shutdown()


@pytest.fixture
def channel(open_channel):
    return open_channel()


class Inbox:
    """A subscriber that keeps what it is given, for a test to wait on."""

    def __init__(self) -> None:
        self.items: list = []
        self.changed = threading.Condition()

    def __call__(self, item) -> None:
        with self.changed:
            self.items.append(item)
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list:
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.items) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"got {self.items}"
                self.changed.wait(left)
            return list(self.items)

    def seqs(self) -> list:
        return [item.seq if isinstance(item, Event) else item for item in self.items]


def topic(name: str) -> str:
    """A topic name no other test (or earlier run on a shared server) has used."""
    return f"test:{name}:{time.monotonic_ns()}"


def text(n: int) -> ReplyText:
    return ReplyText(MESSAGE.id, n, f"piece {n}")


@pytest.mark.parametrize("event", EVERY_KIND, ids=lambda e: e.kind)
def test_every_event_has_one_json_form(event):
    assert from_json(to_json(event)) == event


def test_a_channel_answers_a_ping_when_its_backend_is_there(channel):
    channel.ping()  # returns: readiness (/readyz) asks this; test_health takes the backend away


def test_sequence_numbers_count_up_per_topic(channel):
    a, b = topic("a"), topic("b")
    assert [channel.publish(a, text(n)) for n in range(3)] == [1, 2, 3]
    assert channel.publish(b, text(0)) == 1


def test_replay_after_a_number_then_live_then_closed(channel):
    t = topic("replay")
    for n in range(3):
        channel.publish(t, text(n))
    inbox = Inbox()
    channel.subscribe(t, inbox, after=1)
    assert inbox.wait_for(2) == [Event(2, text(1)), Event(3, text(2))]
    channel.publish(t, text(3))
    channel.close(t)
    assert inbox.wait_for(4)[2:] == [Event(4, text(3)), CLOSED]


def test_subscribing_from_now_replays_nothing(channel):
    t = topic("now")
    channel.publish(t, text(0))
    inbox = Inbox()
    channel.subscribe(t, inbox, after=None)
    channel.publish(t, text(1))
    assert inbox.wait_for(1) == [Event(2, text(1))]


def test_a_closed_topic_replays_whole_then_says_closed(channel):
    t = topic("closed")
    channel.publish(t, text(0))
    channel.publish(t, ReplyDone(MESSAGE))
    channel.close(t)
    inbox = Inbox()
    channel.subscribe(t, inbox)
    assert inbox.wait_for(3) == [Event(1, text(0)), Event(2, ReplyDone(MESSAGE)), CLOSED]


def test_every_kind_of_event_arrives_as_published(channel):
    t = topic("kinds")
    inbox = Inbox()
    channel.subscribe(t, inbox, after=None)
    for event in EVERY_KIND:
        channel.publish(t, event)
    assert [item.data for item in inbox.wait_for(len(EVERY_KIND))] == EVERY_KIND


def test_a_large_event_arrives_whole(channel):
    t = topic("large")
    big = MessageChanged(Message(**{**MESSAGE.__dict__, "content": "keeper's log " * 20_000}))
    inbox = Inbox()
    channel.subscribe(t, inbox, after=None)
    channel.publish(t, big)
    assert inbox.wait_for(1) == [Event(1, big)]


def test_an_ended_subscription_hears_nothing_more(channel):
    t = topic("ended")
    inbox, witness = Inbox(), Inbox()
    stop = channel.subscribe(t, inbox, after=None)
    channel.subscribe(t, witness, after=None)
    channel.publish(t, text(0))
    inbox.wait_for(1)
    stop()
    channel.publish(t, text(1))
    channel.close(t)
    witness.wait_for(3)  # the publish and the close have been delivered by now
    assert inbox.seqs() == [1]


def test_a_failing_subscriber_costs_the_others_nothing(channel):
    t = topic("failing")

    def broken(_item):
        raise RuntimeError("subscriber bug")
    inbox = Inbox()
    channel.subscribe(t, broken, after=None)
    channel.subscribe(t, inbox, after=None)
    assert channel.publish(t, text(0)) == 1
    channel.publish(t, text(1))
    assert inbox.wait_for(2) == [Event(1, text(0)), Event(2, text(1))]


def test_concurrent_publishers_give_one_order_to_everyone(open_channel):
    first, second = open_channel(), open_channel()
    t = topic("concurrent")
    inboxes = [Inbox(), Inbox()]
    first.subscribe(t, inboxes[0], after=None)
    second.subscribe(t, inboxes[1], after=None)

    def publish(channel, base):
        for n in range(50):
            channel.publish(t, text(base + n))
    writers = [threading.Thread(target=publish, args=(c, base)) for c, base in ((first, 0), (second, 100))]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    seen = [inbox.wait_for(100, timeout=15) for inbox in inboxes]
    assert [e.seq for e in seen[0]] == list(range(1, 101))
    assert seen[0] == seen[1]
    assert sorted(e.data.offset for e in seen[0]) == sorted([*range(50), *range(100, 150)])


def test_another_process_sees_events_and_the_close(open_channel):
    publisher, reader = open_channel(), open_channel()
    t = topic("across")
    publisher.publish(t, text(0))
    inbox = Inbox()
    reader.subscribe(t, inbox, after=0)
    publisher.publish(t, text(1))
    publisher.close(t)
    assert inbox.wait_for(3) == [Event(1, text(0)), Event(2, text(1)), CLOSED]


def test_many_subscribers_of_one_topic_each_get_everything(open_channel):
    publisher, reader = open_channel(), open_channel()
    t = topic("many")
    inboxes = [Inbox() for _ in range(50)]
    for inbox in inboxes:
        reader.subscribe(t, inbox, after=0)
    for n in range(5):
        publisher.publish(t, text(n))
    publisher.close(t)
    for inbox in inboxes:
        assert inbox.wait_for(6)[-1] is CLOSED and inbox.seqs()[:5] == [1, 2, 3, 4, 5]


def test_long_topics_keep_only_recent_events_with_stable_numbers(open_channel):
    channel = open_channel(keep=3)
    t = topic("long")
    assert [channel.publish(t, text(n)) for n in range(5)] == [1, 2, 3, 4, 5]
    inbox = Inbox()
    channel.subscribe(t, inbox, after=0)
    assert [e.seq for e in inbox.wait_for(3)] == [3, 4, 5]
    later = Inbox()
    channel.subscribe(t, later, after=4)
    assert later.wait_for(1) == [Event(5, text(4))]


def test_follow_yields_events_then_ends_with_the_topic(channel):
    t = topic("follow")
    channel.publish(t, text(0))
    stream = follow(channel, t, after=0, timeout=0.05)
    assert next(stream) == Event(1, text(0))
    assert next(stream) is None  # quiet: time for a keep-alive
    channel.publish(t, text(1))
    channel.close(t)
    assert list(stream) == [Event(2, text(1))]
