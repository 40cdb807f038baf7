"""Server-sent events for one reply: carry on from what the page shows, follow live, then finish.

The page says what it shows of the reply (its finished markdown blocks' length and its
text's, from the same store text it was rendered from); the stream sends what changes from
there, as the socket does (streaming_markdown). Every event that changes the page carries
an id, so a browser that reconnects sends Last-Event-ID: it is then shown the reply anew
from the store, and the live rest after that, nothing missing and nothing twice. Text the
channel lost is read from the store's checkpoint the same way. The last event replaces
the streaming message with the finished one (rendered by the same partial as everywhere
else), which also ends htmx's connection.
"""
from __future__ import annotations

import threading
from typing import Iterator

from markupsafe import Markup

from ..store import STREAMING, Message, Store
from ..streaming_markdown import Follower, Shown, shown
from . import render, topics
from .channel import GAP, Channel, Event, follow
from .events import ReplyDone, ReplyText

KEEPALIVE = 15.0  # seconds: a comment on an idle stream tells us if the browser left


def reply_stream(store: Store, channel: Channel, owner_id: str, message: Message,
                 shown_so_far: tuple[int, int] | None, draining: threading.Event | None = None) -> Iterator[str]:
    """``shown_so_far``: what the page shows of the reply (its finished blocks' and its
    text's length), or None to show it anew from the store (a stream that reconnected).
    ``draining`` set (the process is stopping), the stream ends unfinished: the browser
    reconnects (to another instance) and goes on from the last event it had."""
    yield "retry: 1000\n\n"
    final = None if message.status == STREAMING else message
    if final is None:
        view, anew = _carry_on(message, shown_so_far)
        if anew:
            yield anew
        for item in follow(channel, topics.reply(message.id), after=0, timeout=KEEPALIVE):
            if draining is not None and draining.is_set():
                return
            if isinstance(item, Event) and isinstance(item.data, ReplyDone):
                final = item.data.message
                break
            if isinstance(item, Event) and isinstance(item.data, ReplyText):
                text = item.data
                if text.offset > view.end:  # text the channel lost: the checkpoint has it, or will
                    current = store.message(owner_id, message.id)
                    if current is None or current.status != STREAMING:
                        final = current
                        break
                    view, anew = _anew(current)
                    yield anew
                    if text.offset > view.end:
                        continue
                if update := view.add(text.offset, text.text, text.settled):
                    yield sse(render.reply_text(message.id, update), event_id=str(view.end))
                continue
            # Quiet, or a gap: the reply may have finished where this stream could not hear it.
            current = store.message(owner_id, message.id)
            if current is None or current.status != STREAMING:
                final = current
                break
            if item is GAP and len(current.content) > view.end:  # the channel is away: the checkpoint is the news
                view, anew = _anew(current)
                yield anew
            elif item is None:
                yield ": ping\n\n"
    if final is None:
        final = store.message(owner_id, message.id)
    if final is not None:
        yield sse(render.finished(final))


def _carry_on(message: Message, shown_so_far: tuple[int, int] | None) -> tuple[Follower, str | None]:
    """Carry on from what the page shows, if the store's text has it; else show it anew."""
    if shown_so_far is not None:
        settled, end = shown_so_far
        if settled <= end <= len(message.content):
            return Follower(Shown(Markup(""), message.content[settled:end], settled)), None
    return _anew(message)


def _anew(message: Message) -> tuple[Follower, str]:
    """The reply as the store has it, to replace what the view shows."""
    reply = shown(message.content)
    return Follower(reply), sse(render.reply_so_far(message.id, reply), event_id=str(reply.end))


def sse(data: str, event_id: str | None = None) -> str:
    lines = [f"id: {event_id}"] if event_id is not None else []
    # SSE ends a line at \r, \n or \r\n; the browser joins data lines back with \n.
    lines += [f"data: {line}" for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines) + "\n\n"
