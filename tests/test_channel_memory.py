"""What only the in-process channel does: forgetting idle topics, never under a subscriber.
(The contract it shares with the other channels is in test_channel_contract.py.)"""
from chatbot.live.events import ChatsChanged
from chatbot.live.memory import InProcessChannel


def test_idle_topics_are_forgotten_but_never_under_a_subscriber(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("chatbot.live.memory.time.monotonic", lambda: clock[0])
    channel = InProcessChannel(retention=10)
    channel.publish("quiet", ChatsChanged())
    channel.publish("followed", ChatsChanged())
    stop = channel.subscribe("followed", lambda item: None)
    channel.publish("finished", ChatsChanged())
    channel.close("finished")
    clock[0] += 11
    channel.publish("other", ChatsChanged())  # any use sweeps
    assert set(channel._topics) == {"followed", "other"}
    stop()  # the last subscriber leaves
    clock[0] += 11
    channel.publish("other", ChatsChanged())
    assert set(channel._topics) == {"other"}
