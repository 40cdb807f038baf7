"""Everything one open view of a chat must learn, merged into one queue.

A view follows three kinds of topic: its chat's (messages added, finished, removed), its
user's (the chat list changed) and, for each reply being written, the reply's text. The
channel calls the feed back as each event is published and the feed puts it on its queue
(no task per topic: hundreds of views each following a reply would be hundreds of tasks
waking per event); the view's own connection takes them off in order and renders them (it
holds the request context).

Catching up after a (re)connect needs no bookkeeping in the browser: the view says from
which message on it may be stale (``since``, a message seq), gets those messages again
(they replace themselves by id) and, for a reply being written, the text so far followed
by the live rest.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator

from .channel import Channel, Event
from .chats import user_topic
from .replies import chat_topic, reply_topic
from .store import STREAMING, Message, Store


def catch_up_from(messages: list[Message]) -> int:
    """The ``since`` for a page showing ``messages``: the first one it may yet see change,
    a reply still being written, or else whatever comes after the last message."""
    streaming = next((m.seq for m in messages if m.status == STREAMING), None)
    return streaming if streaming is not None else (messages[-1].seq + 1 if messages else 1)


class ChatFeed:
    def __init__(self, store: Store, channel: Channel, owner_id: str, chat_id: str, keepalive: float = 20.0) -> None:
        self.store, self.channel = store, channel
        self.owner_id, self.chat_id = owner_id, chat_id
        self.keepalive = keepalive
        self._queue: queue.Queue[tuple] = queue.Queue()
        self._closed = threading.Event()
        self._followed: set[str] = set()
        self._following: dict[str, Callable[[], None]] = {}  # replies being followed: how to stop
        self._stops: list[Callable[[], None]] = []  # the chat's and the user's topics
        self.shown_streaming: set[str] = set()  # replies this view has rendered as streaming
        self.blank_composer: str | None = None  # rendered once by the view, for each send

    def start(self, since: int) -> None:
        """Queue the catch-up, then follow the chat's and the user's topics live."""
        # Take the topics' positions first: whatever happens after is followed live, and
        # whatever happened before is in the store, which the catch-up reads afterwards.
        chat_events, _ = self.channel.history(chat_topic(self.chat_id))
        user_events, _ = self.channel.history(user_topic(self.owner_id))
        for message in self.store.messages(self.owner_id, self.chat_id):
            if message.seq >= since or message.status == STREAMING:
                self.put("message", message.id, message)
        self.put("chats")
        for topic, events in ((chat_topic(self.chat_id), chat_events), (user_topic(self.owner_id), user_events)):
            self._stops.append(self.channel.listen(topic, self._on_event, after=events[-1].seq if events else 0))

    def put(self, kind: str, *details: object) -> None:
        self._queue.put((kind, *details))

    def events(self) -> Iterator[tuple | None]:
        """Queued events in order; None after ``keepalive`` seconds of quiet; ends on close()."""
        while not self._closed.is_set():
            try:
                item = self._queue.get(timeout=self.keepalive)
            except queue.Empty:
                self._check_replies()
                yield None
                continue
            if item[0] == "closed":
                return
            yield item

    def close(self) -> None:
        self._closed.set()
        for stop in self._stops + list(self._following.values()):
            stop()
        self._stops, self._following = [], {}
        self._queue.put(("closed",))

    def follow_reply(self, message_id: str) -> None:
        """Send the reply's text so far, then each new piece, until it is finished."""
        if message_id in self._followed or self._closed.is_set():
            return
        self._followed.add(message_id)
        topic = reply_topic(message_id)
        events, closed = self.channel.history(topic)
        if closed:
            return  # finished: the chat topic's "message" event brings the final version
        # No events here yet: the stored checkpoint is the best text so far.
        text = "".join(e.data["text"] for e in events if e.data["type"] == "delta") if events else None
        self.put("snapshot", message_id, text)

        def on_reply_event(event: Event | None) -> None:
            if event is None:  # finished: the chat topic's "message" event brings the final version
                self._following.pop(message_id, None)
            elif event.data["type"] == "delta":
                self.put("delta", message_id, event.data["text"])
        self._following[message_id] = lambda: None  # in case the topic closes during listen()
        stop = self.channel.listen(topic, on_reply_event, after=events[-1].seq if events else 0)
        if message_id in self._following:
            self._following[message_id] = stop

    def _on_event(self, event: Event | None) -> None:
        """An event on the chat's or the user's topic (called by the channel)."""
        if event is None:
            return
        data = event.data
        if data["type"] == "chats":
            self.put("chats")
        elif data["type"] == "message":
            announced = data.get("message")
            self.put("message", data["id"], Message.from_event(announced) if announced else None)
        else:  # "removed"
            self.put(data["type"], data["id"])

    def _check_replies(self) -> None:
        """On a quiet feed, a reply followed here may have finished where this process could
        not see it (its writer died): the store has the last word."""
        for message_id in list(self._following):
            message = self.store.message(self.owner_id, message_id)
            if message is None or message.status != STREAMING:
                self._following.pop(message_id, lambda: None)()
                self.put("message", message_id, None)

    def spawn(self, function, *args) -> None:
        threading.Thread(target=function, args=args, daemon=True, name="feed").start()
