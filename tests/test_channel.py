"""The in-process live channel: replay after a sequence number, then live events."""
import threading

from chatbot.channel import InProcessChannel


def test_replay_then_live_then_end():
    channel = InProcessChannel()
    channel.publish("t", {"n": 1})
    channel.publish("t", {"n": 2})
    seen = []

    def listen():
        for event in channel.subscribe("t", after=1, timeout=5):
            seen.append((event.seq, event.data["n"]))
    listener = threading.Thread(target=listen)
    listener.start()
    channel.publish("t", {"n": 3})
    channel.close("t")
    listener.join(5)
    assert seen == [(2, 2), (3, 3)]


def test_idle_subscribers_get_keepalive_ticks():
    channel = InProcessChannel()
    stream = channel.subscribe("quiet", timeout=0.01)
    assert next(stream) is None


def test_long_topics_keep_only_recent_events_with_stable_numbers():
    channel = InProcessChannel(keep=3)
    for n in range(1, 6):
        assert channel.publish("t", {"n": n}) == n
    events, closed = channel.history("t")
    assert [e.seq for e in events] == [3, 4, 5] and not closed
    channel.close("t")
    assert [e.seq for e in channel.subscribe("t", after=4)] == [5]
    assert [e.seq for e in channel.subscribe("t", after=0)] == [3, 4, 5]


def test_topics_are_separate():
    channel = InProcessChannel()
    channel.publish("a", {})
    channel.close("b")
    assert list(channel.subscribe("b")) == []


def test_idle_topics_are_forgotten_but_never_under_a_subscriber(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("chatbot.channel.time.monotonic", lambda: clock[0])
    channel = InProcessChannel(retention=10)
    channel.publish("quiet", {"n": 1})
    channel.publish("followed", {"n": 1})
    follower = channel.subscribe("followed", timeout=0)
    assert next(follower).seq == 1
    channel.publish("finished", {"n": 1})
    channel.close("finished")
    clock[0] += 11
    channel.publish("other", {})  # any use sweeps
    assert set(channel._topics) == {"followed", "other"}
    follower.close()  # the last subscriber leaves
    clock[0] += 11
    channel.publish("other", {})
    assert set(channel._topics) == {"other"}


def test_listeners_get_the_replay_then_live_events_then_the_end():
    channel = InProcessChannel()
    channel.publish("t", {"n": 1})
    channel.publish("t", {"n": 2})
    seen = []
    channel.listen("t", lambda event: seen.append(event and event.seq), after=1)
    channel.publish("t", {"n": 3})
    channel.close("t")
    assert seen == [2, 3, None]
    late = []
    channel.listen("t", lambda event: late.append(event and event.seq))  # closed already: all, then the end
    assert late == [1, 2, 3, None]


def test_a_stopped_listener_hears_nothing_more():
    channel = InProcessChannel()
    seen = []
    stop = channel.listen("t", seen.append)
    channel.publish("t", {"n": 1})
    stop()
    channel.publish("t", {"n": 2})
    channel.close("t")
    assert [e.seq for e in seen] == [1]
