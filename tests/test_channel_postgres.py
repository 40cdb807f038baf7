"""What the PostgreSQL channel promises beyond the contract: one listening connection per
process, events past NOTIFY's limit, bounded storage, surviving a lost connection, tables
kept out of ``public``, and publishers batched into one statement per round trip."""
from __future__ import annotations

import logging
import threading
import time

import psycopg
import pytest

from chatbot.live.channel import CLOSED, GAP, ChannelUnavailable, Event
from chatbot.live.events import ReplyText, to_json
from chatbot.live.postgres import LISTENER, PostgresChannel
from tests.conftest import wait_until
from tests.test_channel_contract import MESSAGE, Inbox, postgres_url, text, topic  # noqa: F401 - a fixture


@pytest.fixture
def admin(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def open_channel(postgres_url):
    opened = []

    def make(**options) -> PostgresChannel:
        opened.append(PostgresChannel(postgres_url, **options))
        return opened[-1]
    yield make
    for channel in opened:
        channel.shutdown()


def listeners(admin) -> list[int]:
    """The backends of this database's listening connections."""
    return [pid for pid, in admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
        (LISTENER,))]


def stored(admin, t: str) -> int:
    return admin.execute("SELECT count(*) FROM chatbot_live.events WHERE topic = %s", (t,)).fetchone()[0]


def test_one_listening_connection_however_many_subscribers(open_channel, admin):
    channel = open_channel()
    topics = [topic(f"one-{n}") for n in range(100)]
    inboxes = [Inbox() for _ in range(200)]
    for n, inbox in enumerate(inboxes):
        channel.subscribe(topics[n % 100], inbox, after=None)
    assert len(listeners(admin)) == 1
    channel.publish(topics[7], text(0))
    channel.publish(topics[99], text(1))
    for n in (7, 107, 99, 199):
        assert inboxes[n].wait_for(1) == [Event(1, text(0 if n % 100 == 7 else 1))]
    assert len(listeners(admin)) == 1


def test_an_event_past_notifys_limit_arrives_whole_and_equal(open_channel):
    publisher, reader = open_channel(), open_channel()
    t = topic("huge")
    big = ReplyText(MESSAGE.id, 0, "«keeper's log» ✨ " * 3000)  # about 50 kB of JSON
    assert len(big.text.encode()) > 50_000
    inbox = Inbox()
    reader.subscribe(t, inbox, after=None)
    publisher.publish(t, text(0))
    publisher.publish(t, big)
    publisher.publish(t, text(2))
    assert inbox.wait_for(3) == [Event(1, text(0)), Event(2, big), Event(3, text(2))]


def test_storage_is_bounded_by_keep_and_retention(open_channel, admin):
    channel = open_channel(keep=3, retention=0.05)
    t, idle = topic("bounded"), topic("open")
    for n in range(10):
        channel.publish(t, text(n))
        assert stored(admin, t) == min(n + 1, 3)
    assert [seq for seq, in admin.execute(
        "SELECT seq FROM chatbot_live.events WHERE topic = %s ORDER BY seq", (t,))] == [8, 9, 10]
    channel.publish(idle, text(0))
    channel.close(t)

    def swept() -> bool:
        channel.cleanup()
        return admin.execute("SELECT count(*) FROM chatbot_live.topics WHERE topic = %s", (t,)).fetchone()[0] == 0
    wait_until(swept, what="the closed topic to expire")
    assert stored(admin, t) == 0
    assert stored(admin, idle) == 1  # never closed, and idle for less than a day: kept


def test_idle_topics_expire_unless_followed(open_channel, admin, monkeypatch):
    monkeypatch.setattr("chatbot.live.postgres.IDLE", 0.05)
    channel = open_channel(retention=0.05)
    idle, followed = topic("idle"), topic("followed")
    channel.publish(idle, text(0))
    channel.publish(followed, text(0))
    inbox = Inbox()
    channel.subscribe(followed, inbox, after=None)

    def swept() -> bool:
        channel.cleanup()
        return stored(admin, idle) == 0
    wait_until(swept, what="the idle topic to expire")
    assert stored(admin, followed) == 1  # every process keeps the topics it follows alive
    assert channel.publish(followed, text(1)) == 2
    assert inbox.wait_for(1) == [Event(2, text(1))]


def test_a_lost_listening_connection_is_resumed_without_loss(open_channel, admin, caplog):
    reader = open_channel()
    [pid] = listeners(admin)
    publisher = open_channel()
    t = topic("resumed")
    inbox = Inbox()
    reader.subscribe(t, inbox, after=None)
    published, stop = [], threading.Event()

    def publish() -> None:
        while not stop.is_set() and len(published) < 5000:
            published.append(publisher.publish(t, text(len(published))))
    writer = threading.Thread(target=publish)
    with caplog.at_level(logging.WARNING, logger="chatbot.live.postgres"):
        writer.start()
        try:
            inbox.wait_for(50)
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            wait_until(lambda: pid not in listeners(admin) and len(listeners(admin)) == 2, what="a new listener")
            inbox.wait_for(len(published) + 50, timeout=15)  # live again, still publishing
        finally:
            stop.set()
            writer.join()
        items = inbox.wait_for(len(published), timeout=15)
    assert GAP not in items
    assert [e.seq for e in items] == published == list(range(1, len(published) + 1))
    assert [e.data for e in items] == [text(n) for n in range(len(published))]
    lost = [r for r in caplog.records if "lost" in r.getMessage()]
    assert len(lost) == 1


def test_a_restarted_server_is_a_gap(open_channel, admin):
    channel = open_channel()
    [pid] = listeners(admin)
    t = topic("restarted")
    inbox = Inbox()
    channel.subscribe(t, inbox, after=None)
    channel.publish(t, text(0))
    inbox.wait_for(1)
    channel._started = "another start time"  # as if the server restarted while we were away
    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert inbox.wait_for(2)[1] is GAP
    wait_until(lambda: listeners(admin) and pid not in listeners(admin), what="a new listener")
    channel.publish(t, text(1))
    assert inbox.wait_for(3)[2] == Event(2, text(1))


def test_subscribers_joining_mid_stream_miss_nothing(open_channel):
    publisher, reader = open_channel(), open_channel()
    t = topic("joining")
    writer = threading.Thread(target=lambda: [publisher.publish(t, text(n)) for n in range(400)])
    writer.start()
    joined = []
    while writer.is_alive() and len(joined) < 40:
        inbox = Inbox()
        reader.subscribe(t, inbox, after=None if len(joined) % 2 else 0)
        joined.append(inbox)
    writer.join()
    assert publisher.publish(t, text(400)) == 401  # the last word, for every subscriber
    assert len(joined) > 2
    for inbox in joined:
        seqs = wait_until(lambda: inbox.seqs() if inbox.seqs()[-1:] == [401] else None, what="the last event")
        assert seqs == list(range(seqs[0], 402))
    assert [e.data for e in joined[0].items] == [text(n) for n in range(401)]


def test_the_tables_are_unlogged_in_their_own_schema(open_channel, admin):
    open_channel()
    tables = admin.execute("SELECT n.nspname, c.relname, c.relpersistence FROM pg_class c "
                           "JOIN pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE c.relname IN ('topics', 'events') AND c.relkind = 'r' ORDER BY 2").fetchall()
    assert tables == [("chatbot_live", "events", "u"), ("chatbot_live", "topics", "u")]


def test_the_reader_retries_until_the_server_answers_again(open_channel, admin, caplog):
    channel = open_channel()
    [pid] = listeners(admin)
    t = topic("retries")
    inbox = Inbox()
    channel.subscribe(t, inbox, after=None)
    refusals = []
    connect = channel._connect

    def refuse_thrice(name):
        if name == LISTENER and len(refusals) < 3:
            refusals.append(time.monotonic())
            raise psycopg.OperationalError("connection refused (the test's)")
        return connect(name)
    channel._connect = refuse_thrice
    with caplog.at_level(logging.WARNING, logger="chatbot.live.postgres"):
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        wait_until(lambda: len(refusals) == 3 and len(listeners(admin)) == 1, what="the listener back")
    assert [r.levelno for r in caplog.records] == [logging.WARNING]  # one warning for the outage
    assert refusals[2] - refusals[1] > refusals[1] - refusals[0]  # backing off
    assert channel.publish(t, text(0)) == 1
    assert inbox.wait_for(1) == [Event(1, text(0))]


def test_many_publisher_threads_are_batched_in_order_per_topic(open_channel):
    publisher, reader = open_channel(), open_channel()
    topics = [topic(f"batched-{n}") for n in range(10)]
    inboxes = {t: Inbox() for t in topics}
    for t in topics:
        reader.subscribe(t, inboxes[t], after=0)
    published: dict[str, list[tuple[int, int]]] = {t: [] for t in topics}  # (seq, offset)
    start = threading.Barrier(20)

    def publish(thread: int) -> None:
        start.wait()
        for n in range(50):
            t = topics[(thread + n) % 10]  # every thread on every topic, interleaved
            published[t].append((publisher.publish(t, text(thread * 1000 + n)), thread * 1000 + n))
    threads = [threading.Thread(target=publish, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    closers = [threading.Thread(target=publisher.close, args=(t,)) for t in topics]
    for closer in closers:
        closer.start()
    for closer in closers:
        closer.join()
    for t in topics:
        items = inboxes[t].wait_for(101, timeout=15)
        assert items[-1] is CLOSED and len(items) == 101
        assert [e.seq for e in items[:-1]] == list(range(1, 101))
        assert [(e.seq, e.data.offset) for e in items[:-1]] == sorted(published[t])
        for thread in range(20):  # each publisher's events in the order it published them
            mine = [e.data.offset for e in items[:-1] if e.data.offset // 1000 == thread]
            assert mine == sorted(mine)


def test_one_batch_is_one_statement_with_closes_in_place(open_channel, admin):
    channel, reader = open_channel(keep=3), open_channel()
    a, b, c = topic("batch-a"), topic("batch-b"), topic("batch-c")
    channel.publish(a, text(0))
    inboxes = {t: Inbox() for t in (a, b, c)}
    for t in (a, b, c):
        reader.subscribe(t, inboxes[t], after=0)
    big = ReplyText(MESSAGE.id, 9, "«keeper's log» " * 1000)  # past NOTIFY's limit
    batch = [(a, to_json(text(1))), (b, to_json(text(1))), (a, to_json(big)), (a, None), (b, to_json(text(2))),
             (c, None), *[(b, to_json(text(n))) for n in range(3, 7)]]
    assert channel._send(batch) == [2, 1, 3, 0, 2, 0, 3, 4, 5, 6]
    assert inboxes[a].wait_for(4) == [Event(1, text(0)), Event(2, text(1)), Event(3, big), CLOSED]
    assert inboxes[c].wait_for(1) == [CLOSED]
    assert inboxes[b].wait_for(6) == [Event(n, text(n)) for n in range(1, 7)]  # not closed
    assert [seq for seq, in admin.execute(
        "SELECT seq FROM chatbot_live.events WHERE topic = %s ORDER BY seq", (b,))] == [4, 5, 6]  # keep=3
    again = Inbox()
    channel.subscribe(a, again, after=0)
    assert again.wait_for(4) == [Event(1, text(0)), Event(2, text(1)), Event(3, big), CLOSED]


def test_concurrent_publishers_share_round_trips(open_channel, monkeypatch):
    sent = []
    send = PostgresChannel._send

    def counted(self, batch):
        sent.append(len(batch))
        return send(self, batch)
    monkeypatch.setattr(PostgresChannel, "_send", counted)  # before the channel makes its writer
    channel = open_channel()
    t = topic("round-trips")
    start = threading.Barrier(50)
    seqs = []

    def publish() -> None:
        start.wait()
        seqs.extend(channel.publish(t, text(n)) for n in range(20))
    threads = [threading.Thread(target=publish) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seqs) == list(range(1, 1001))
    assert sum(sent) == 1000
    assert len(sent) < 1000 and max(sent) > 1


def test_a_lost_publishing_connection_fails_its_batch_then_reconnects(open_channel, admin):
    channel = open_channel()
    t = topic("republished")
    assert channel.publish(t, text(0)) == 1
    admin.execute("SELECT pg_terminate_backend(%s, 5000)", (channel._publisher.info.backend_pid,))  # and wait
    with pytest.raises(ChannelUnavailable):
        channel.publish(t, text(1))
    assert channel.publish(t, text(2)) == 2
    inbox = Inbox()
    channel.subscribe(t, inbox, after=0)
    assert inbox.wait_for(2) == [Event(1, text(0)), Event(2, text(2))]
