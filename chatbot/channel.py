"""The live channel seam: publish events on a topic, subscribe with replay.

Each event gets a sequence number per topic. ``subscribe(topic, after=n)`` first replays
the retained events numbered above ``n``, then follows live ones, so a subscriber that
reconnects after a gap misses nothing and sees nothing twice. A topic is closed when its
producer is done; its events are kept for ``retention`` seconds after that, so a view
that arrives a moment late still gets the whole story. A topic that is never closed (a
chat's, a user's) is dropped once it has had neither events nor subscribers for as long.

``listen(topic, callback)`` is the same replay-then-live contract delivered by calling
``callback`` from ``publish``: a view following many topics needs no task per topic.

``InProcessChannel`` is the embedded default: one process (one gevent worker holds
thousands of subscribers). A Redis implementation serves several workers.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    seq: int
    data: dict


class Channel(Protocol):
    def publish(self, topic: str, data: dict) -> int:
        """Append ``data`` to ``topic``; return its sequence number."""
        ...

    def close(self, topic: str) -> None:
        """Mark ``topic`` finished: subscribers end after the last event."""
        ...

    def subscribe(self, topic: str, after: int = 0, timeout: float = 15.0) -> Iterator[Event | None]:
        """Yield events numbered above ``after``, then live ones, until the topic closes.
        Yields None after ``timeout`` seconds without an event (time for a keep-alive)."""
        ...

    def history(self, topic: str) -> tuple[list[Event], bool]:
        """The retained events of ``topic`` and whether it is closed, without waiting."""
        ...

    def listen(self, topic: str, callback: Callable[[Event | None], None], after: int = 0) -> Callable[[], None]:
        """Call ``callback`` with each event numbered above ``after``, then with each new one
        as it is published, and with None once the topic is closed. Return the function that
        stops it. The callback runs inside ``publish``: it must be quick and never block."""
        ...


@dataclass
class _Topic:
    events: list[Event] = field(default_factory=list)
    dropped: int = 0  # events trimmed from the front; seq of events[i] is dropped + i + 1
    closed_at: float | None = None
    touched: float = field(default_factory=time.monotonic)  # last publish
    subscribers: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)
    listeners: list = field(default_factory=list)  # callbacks, called under ``changed``

    def idle_since(self, moment: float) -> bool:
        """Finished, or unused, before ``moment``: nobody can miss it any more."""
        if self.closed_at is not None:
            return self.closed_at < moment
        return self.subscribers == 0 and self.touched < moment


class InProcessChannel:
    def __init__(self, retention: float = 300.0, keep: int = 2000) -> None:
        self.retention = retention
        self.keep = keep  # events kept per topic; long-lived topics (a chat, a user) trim the oldest
        self._topics: dict[str, _Topic] = {}
        self._lock = threading.Lock()
        self._next_expiry = 0.0

    def _topic(self, name: str) -> _Topic:
        with self._lock:
            self._expire()
            topic = self._topics.get(name)
            if topic is None:  # not setdefault(name, _Topic()): that builds a Condition on every call
                topic = self._topics[name] = _Topic()
            return topic

    def _expire(self) -> None:
        now = time.monotonic()
        if now < self._next_expiry:
            return  # sweep at most once a second, not on every publish
        self._next_expiry = now + 1.0
        limit = now - self.retention
        for name in [n for n, t in self._topics.items() if t.idle_since(limit)]:
            del self._topics[name]

    def publish(self, topic: str, data: dict) -> int:
        t = self._topic(topic)
        with t.changed:
            event = Event(t.dropped + len(t.events) + 1, data)
            t.events.append(event)
            if len(t.events) > self.keep:
                trim = len(t.events) - self.keep
                del t.events[:trim]
                t.dropped += trim
            t.touched = time.monotonic()
            t.changed.notify_all()
            for callback in t.listeners:
                _call(callback, event)
        return event.seq

    def close(self, topic: str) -> None:
        t = self._topic(topic)
        with t.changed:
            t.closed_at = time.monotonic()
            t.changed.notify_all()
            listeners, t.listeners = t.listeners, []
            t.subscribers -= len(listeners)
            for callback in listeners:
                _call(callback, None)

    def subscribe(self, topic: str, after: int = 0, timeout: float = 15.0) -> Iterator[Event | None]:
        t = self._topic(topic)
        position = max(after, 0)  # the seq of the last event handed out
        with t.changed:
            t.subscribers += 1  # a followed topic is never expired from under its subscribers
        try:
            while True:
                with t.changed:
                    if position >= t.dropped + len(t.events) and t.closed_at is None:
                        t.changed.wait(timeout)
                    fresh = t.events[max(position - t.dropped, 0):]
                    closed = t.closed_at is not None
                if not fresh and not closed:
                    yield None
                yield from fresh
                if fresh:
                    position = fresh[-1].seq
                if closed and position >= t.dropped + len(t.events):
                    return
        finally:
            with t.changed:
                t.subscribers -= 1

    def history(self, topic: str) -> tuple[list[Event], bool]:
        t = self._topic(topic)
        with t.changed:
            return list(t.events), t.closed_at is not None

    def listen(self, topic: str, callback: Callable[[Event | None], None], after: int = 0) -> Callable[[], None]:
        t = self._topic(topic)
        with t.changed:  # replay and joining are one step: no event is missed or seen twice
            for event in t.events[max(after - t.dropped, 0):]:
                callback(event)
            if t.closed_at is not None:
                callback(None)
                return lambda: None
            t.listeners.append(callback)
            t.subscribers += 1  # a followed topic is never expired from under its listeners

        def stop() -> None:
            with t.changed:
                if callback in t.listeners:
                    t.listeners.remove(callback)
                    t.subscribers -= 1
        return stop


def _call(listener: Callable[[Event | None], None], event: Event | None) -> None:
    """A listener runs inside ``publish``, often in a reply task: its failure is logged, and
    neither the publisher nor the other listeners pay for it."""
    try:
        listener(event)
    except Exception:  # noqa: BLE001
        log.exception("a channel listener failed")
