"""Everything one open view of a chat must learn, merged into one queue and turned into
fragments in order.

A view follows its chat's topic (messages added, finished, removed), its user's (the chat
list changed) and, for each reply being written, the reply's topic (its text). The channel
calls the feed back with each event and the feed queues it (no task per topic); the view's
own task takes them off in order and renders them, so all the feed's state is touched by
that one task.

Catching up after a (re)connect needs no bookkeeping in the browser: the view says from
which message on it may be stale (``since``, a message seq), gets those messages again
(they replace themselves by id) and, for a reply being written, the text so far followed by
the live rest. A reply's text events carry their offset in the reply, so text seen twice is
skipped and text missed (the channel lost events) is noticed and read from the store.
"""
from __future__ import annotations

import queue
import threading
from dataclasses import replace
from typing import Callable, Iterator

from ..chats import list_chats, open_chat
from ..errors import NotFound
from ..store import STREAMING, Message, Store
from ..streaming_markdown import Follower, shown
from . import render, topics
from .channel import GAP, Channel, Delivery, Event
from .events import ChatsChanged, ConversationChanged, MessageChanged, ReplyText, SessionsEnded


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
        self.since = 0
        self._queue: queue.Queue[tuple] = queue.Queue()
        self._closed = threading.Event()
        self._stops: list[Callable[[], None]] = []  # the chat's and the user's topics
        self._following: dict[str, Callable[[], None]] = {}  # replies being followed: how to stop
        self._shown: dict[str, Follower] = {}  # replies shown as streaming: what this view shows

    def start(self, since: int) -> None:
        """Follow the chat's and the user's topics from now, then queue the catch-up from
        the store: what happened before is in the store, what happens after is followed."""
        self.since = since
        for topic in (topics.chat(self.chat_id), topics.user(self.owner_id)):
            self._stops.append(self.channel.subscribe(topic, self._on_event, after=None))
        self.put("catch-up")

    def put(self, *item: object) -> None:
        self._queue.put(item)

    def close(self) -> None:
        self._closed.set()
        for stop in self._stops + list(self._following.values()):
            stop()
        self._stops, self._following = [], {}
        self._queue.put(("closed",))

    def items(self) -> Iterator[tuple | None]:
        """Queued items in order; None after ``keepalive`` seconds of quiet; ends on close()."""
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

    # Called by the channel: quick, never blocking
    def _on_event(self, item: Delivery) -> None:
        if item is GAP:
            self.put("catch-up")
        elif isinstance(item, Event):
            data = item.data
            if isinstance(data, MessageChanged):
                self.put("message", data.message)
            elif isinstance(data, ConversationChanged):
                self.put("conversation")
            elif isinstance(data, ChatsChanged):
                self.put("chats")
            elif isinstance(data, SessionsEnded):
                self.put("sessions-ended", data.session_ids)  # the view knows which session it serves

    def _on_reply_event(self, message_id: str, item: Delivery) -> None:
        if item is GAP:
            self.put("reread", message_id)
        elif isinstance(item, Event) and isinstance(item.data, ReplyText):
            self.put("text", item.data)
        # The reply's end (its done event, the topic's close) comes as the chat's "message".

    # Run by the view's task: item in, fragment out
    def fragment(self, item: tuple) -> str | None:
        kind, *details = item
        if kind == "message":
            return self._message(details[0])
        if kind == "text":
            return self._text(details[0])
        if kind == "removed":
            self._unfollow(details[0])
            return render.removed(details[0])
        if kind == "conversation":
            return self._conversation()
        if kind == "chats":
            return render.chat_list(self.store.chat(self.owner_id, self.chat_id),  # None once deleted
                                    list_chats(self.store, self.owner_id))
        if kind == "reread":
            return self._reread(details[0])
        if kind == "catch-up":
            return self._catch_up()
        return None

    def _message(self, message: Message, again: bool = False) -> str | None:
        return render.messages([message]) if self._track(message, again) else None

    def _track(self, message: Message, again: bool = False) -> bool:
        """Follow a reply shown as streaming, stop following a finished one; False when the
        view shows and follows it already (``again``: it is shown anew from the store)."""
        if message.status != STREAMING:
            self._unfollow(message.id)
            return True
        if message.id in self._shown and not again:
            return False  # its text comes on its own topic
        self._shown[message.id] = Follower(shown(message.content))
        self._follow(message.id)
        return True

    def _text(self, text: ReplyText) -> str | None:
        view = self._shown.get(text.message_id)
        if view is None or text.end <= view.end:
            return None  # not shown as streaming here, or shown already
        if text.offset > view.end:  # some text never reached us: the store's checkpoint has it
            return self._reread(text.message_id, text)
        update = view.add(text.offset, text.text, text.settled)
        return render.reply_text(text.message_id, update) if update else None

    def _reread(self, message_id: str, text: ReplyText | None = None) -> str | None:
        """Show the reply as the store has it, with ``text`` on top where it carries on."""
        message = self.store.message(self.owner_id, message_id)
        if message is None:
            self._unfollow(message_id)
            return render.removed(message_id)
        if message.status == STREAMING and text is not None and text.offset <= len(message.content) < text.end:
            message = replace(message, content=message.content + text.text[len(message.content) - text.offset:])
        return self._message(message, again=True)

    def _conversation(self) -> str | None:
        """Another version of the conversation is shown: its newest page, in place of the
        view's, following the replies on it that are being written (and no others)."""
        try:
            chat, messages, earlier = open_chat(self.store, self.owner_id, self.chat_id)
        except NotFound:
            return None  # deleted meanwhile: the chat list's update says so
        shown = {m.id for m in messages}
        for message_id in [m for m in self._shown if m not in shown]:
            self._unfollow(message_id)
        for message in messages:
            self._track(message, again=True)
        return render.conversation(chat, messages, earlier)

    def _catch_up(self) -> str:
        """The messages the page may lack, in one fragment, and the chat list."""
        shown = [m for m in self.store.messages(self.owner_id, self.chat_id)
                 if (m.seq >= self.since or m.status == STREAMING) and self._track(m, again=True)]
        return (render.messages(shown) if shown else "") + (self.fragment(("chats",)) or "")

    def _follow(self, message_id: str) -> None:
        """Follow a reply's topic from its start: what was shown already is skipped."""
        if message_id not in self._following and not self._closed.is_set():
            self._following[message_id] = self.channel.subscribe(
                topics.reply(message_id), lambda item: self._on_reply_event(message_id, item), after=0)

    def _unfollow(self, message_id: str) -> None:
        self._shown.pop(message_id, None)
        stop = self._following.pop(message_id, None)
        if stop:
            stop()

    def _check_replies(self) -> None:
        """On a quiet feed, a reply followed here may have finished where this view could
        not hear it (its writer died, or the channel lost the news): the store has the last word."""
        for message_id in list(self._following):
            message = self.store.message(self.owner_id, message_id)
            if message is None:
                self.put("removed", message_id)
            elif message.status != STREAMING:
                self.put("message", message)
