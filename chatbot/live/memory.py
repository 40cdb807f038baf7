"""The in-process channel: the embedded default, for one process (one gevent worker holds
thousands of subscribers). Nothing crosses a process, so events are kept as objects and
subscribers are called from inside ``publish``: its private shortcut, not the contract's.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from .channel import CLOSED, KEEP, RETENTION, Delivery, Event, Unsubscribe, deliver
from .events import LiveEvent


@dataclass
class _Topic:
    events: list[Event] = field(default_factory=list)
    dropped: int = 0  # events trimmed from the front; seq of events[i] is dropped + i + 1
    closed_at: float | None = None
    touched: float = field(default_factory=time.monotonic)  # last publish
    subscribers: list = field(default_factory=list)  # callbacks, called under ``lock``
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def last(self) -> int:
        return self.dropped + len(self.events)

    def idle_since(self, moment: float) -> bool:
        """Finished, or unused, before ``moment``: nobody can miss it any more."""
        if self.closed_at is not None:
            return self.closed_at < moment
        return not self.subscribers and self.touched < moment


class InProcessChannel:
    def __init__(self, retention: float = RETENTION, keep: int = KEEP) -> None:
        self.retention = retention
        self.keep = keep
        self._topics: dict[str, _Topic] = {}
        self._lock = threading.Lock()
        self._next_expiry = 0.0

    def _topic(self, name: str) -> _Topic:
        with self._lock:
            self._expire()
            topic = self._topics.get(name)
            if topic is None:  # not setdefault(name, _Topic()): that builds a lock on every call
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

    def publish(self, topic: str, event: LiveEvent) -> int:
        t = self._topic(topic)
        with t.lock:
            delivered = Event(t.last + 1, event)
            t.events.append(delivered)
            if len(t.events) > self.keep:
                trim = len(t.events) - self.keep
                del t.events[:trim]
                t.dropped += trim
            t.touched = time.monotonic()
            for on_event in t.subscribers:
                deliver(on_event, delivered)
        return delivered.seq

    def close(self, topic: str) -> None:
        t = self._topic(topic)
        with t.lock:
            t.closed_at = time.monotonic()
            subscribers, t.subscribers = t.subscribers, []
            for on_event in subscribers:
                deliver(on_event, CLOSED)

    def subscribe(self, topic: str, on_event: Callable[[Delivery], None], after: int | None = 0) -> Unsubscribe:
        t = self._topic(topic)
        with t.lock:  # replay and joining are one step: no event is missed or seen twice
            if after is not None:
                for event in t.events[max(after - t.dropped, 0):]:
                    deliver(on_event, event)
            if t.closed_at is not None:
                deliver(on_event, CLOSED)
                return lambda: None
            t.subscribers.append(on_event)

        def unsubscribe() -> None:
            with t.lock:
                if on_event in t.subscribers:
                    t.subscribers.remove(on_event)
        return unsubscribe

    def ping(self) -> None:
        """In this process: always there."""

    def shutdown(self) -> None:
        with self._lock:
            self._topics.clear()
