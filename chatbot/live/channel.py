"""The live channel contract: publish events on a topic, subscribe with replay, close.

It is what a cross-process backend honours cheaply, so the in-process default, Redis and
PostgreSQL all fulfil it (tests/test_channel_contract.py runs one suite on all three):

- ``publish(topic, event)`` appends the event and returns its sequence number on the topic
  (1, 2, 3, ...). It raises ChannelUnavailable when the backend cannot be reached: the
  caller decides what that costs (a reply goes on being written and stored regardless).
- ``subscribe(topic, on_event, after)`` calls ``on_event`` with every retained event
  numbered above ``after`` (``after=None``: only events published from now on), then with
  each new one, in order and once each, then with CLOSED once the topic is closed. It
  returns the function that ends the subscription. A view following many topics needs no
  task per topic: the callbacks run on the channel's own delivery (inside ``publish`` in
  one process, on the process's one reader task otherwise), so they must be quick and
  never block; one that raises is logged and costs nobody else anything.
- GAP is delivered when events may have been lost (the backend restarted or the process
  lost its connection and could not replay): the subscriber reads the store again, which
  has the last word. Sequence numbers may start again after a GAP.
- ``close(topic)`` marks the topic finished. A closed topic's events are kept for a while
  (``retention``) so a view arriving a moment late still gets the whole story; a topic
  never closed (a chat's, a user's) keeps its newest events only and expires when idle.
"""
from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass
from enum import Enum
from typing import Callable, Iterator, Protocol, Union

from .events import LiveEvent

log = logging.getLogger(__name__)

RETENTION = 300.0  # seconds a closed or idle topic is kept
KEEP = 2000  # events kept per topic; long-lived topics (a chat, a user) lose the oldest
RETRY = 1.0  # seconds between attempts to follow a topic while the channel is away


@dataclass(frozen=True)
class Event:
    """An event as delivered: its number on the topic and what it says."""
    seq: int
    data: LiveEvent


class Signal(Enum):
    CLOSED = "closed"  # the topic is finished: nothing more will come
    GAP = "gap"  # events may have been lost: read the store again


CLOSED, GAP = Signal.CLOSED, Signal.GAP
Delivery = Union[Event, Signal]
Unsubscribe = Callable[[], None]


class ChannelUnavailable(Exception):
    """The channel's backend cannot be reached just now."""


class Channel(Protocol):
    def publish(self, topic: str, event: LiveEvent) -> int: ...

    def subscribe(self, topic: str, on_event: Callable[[Delivery], None], after: int | None = 0) -> Unsubscribe: ...

    def close(self, topic: str) -> None: ...

    def ping(self) -> None:
        """Return once the channel's backend answers; ChannelUnavailable if it cannot (readiness)."""
        ...

    def shutdown(self) -> None:
        """Release connections and stop the reader task (at exit, and between tests)."""
        ...


def deliver(on_event: Callable[[Delivery], None], item: Delivery) -> None:
    """Call a subscriber: its failure is logged, and neither the publisher nor the other
    subscribers pay for it."""
    try:
        on_event(item)
    except Exception:  # noqa: BLE001
        log.exception("a live subscriber failed")


def announce(channel: Channel, topic: str, event: LiveEvent, *, last: bool = False) -> None:
    """Publish ``event`` (and with ``last``, close the topic) if the channel can be reached.
    Live events are the fast path, never the record: a reply goes on being written and
    stored while the channel is away, and views that missed events read the store."""
    try:
        channel.publish(topic, event)
        if last:
            channel.close(topic)
    except ChannelUnavailable:
        log.warning("live channel unavailable: %s on %s not delivered", event.kind, topic)


def follow(channel: Channel, topic: str, after: int | None = 0, timeout: float = 15.0) -> Iterator[Delivery | None]:
    """The subscription as a blocking iterator, for a task that has nothing else to wait
    for (an event stream, a form post waiting for its reply): events in order, GAP when
    some may be lost, None after ``timeout`` seconds of quiet; it ends when the topic closes.
    While the channel cannot be reached it yields GAP every RETRY seconds (the caller reads
    the store) and tries again."""
    inbox: queue.Queue[Delivery] = queue.Queue()
    while True:
        try:
            stop = channel.subscribe(topic, inbox.put, after)
            break
        except ChannelUnavailable:
            yield GAP
            time.sleep(min(timeout, RETRY))
    try:
        while True:
            try:
                item = inbox.get(timeout=timeout)
            except queue.Empty:
                yield None
                continue
            if item is CLOSED:
                return
            yield item
    finally:
        stop()
