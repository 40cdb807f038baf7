"""Server-sent events for one reply: catch up from an offset, follow live, then finish.

Every text event's id is the reply's length in characters after it, so a browser that
reconnects with Last-Event-ID gets exactly the text it lacks: nothing missing, nothing
twice. Text the channel lost is read from the store's checkpoint. The last event replaces
the streaming message with the finished one (rendered by the same partial as everywhere
else), which also ends htmx's connection.
"""
from __future__ import annotations

from typing import Iterator

from ..store import STREAMING, Message, Store
from . import render, topics
from .channel import GAP, Channel, Event, follow
from .events import ReplyDone, ReplyText

KEEPALIVE = 15.0  # seconds: a comment on an idle stream tells us if the browser left


def reply_stream(store: Store, channel: Channel, owner_id: str, message: Message, start: int) -> Iterator[str]:
    yield "retry: 1000\n\n"
    final = None if message.status == STREAMING else message
    if final is None:
        for item in follow(channel, topics.reply(message.id), after=0, timeout=KEEPALIVE):
            if isinstance(item, Event) and isinstance(item.data, ReplyDone):
                final = item.data.message
                break
            if isinstance(item, Event) and isinstance(item.data, ReplyText):
                text = item.data
                if text.offset > start:  # text the channel lost: the checkpoint may have it
                    current = store.message(owner_id, message.id)
                    missed = current.content[start:text.offset] if current is not None else ""
                    if missed:
                        yield _text(message.id, missed, start + len(missed))
                    start = text.offset  # past a hole the final message fills
                if text.end > start:
                    yield _text(message.id, text.text[start - text.offset:], text.end)
                    start = text.end
                continue
            # Quiet, or a gap: the reply may have finished where this stream could not hear it.
            current = store.message(owner_id, message.id)
            if current is None or current.status != STREAMING:
                final = current
                break
            if item is GAP and len(current.content) > start:  # the channel is away: the checkpoint is the news
                yield _text(message.id, current.content[start:], len(current.content))
                start = len(current.content)
            elif item is None:
                yield ": ping\n\n"
    if final is None:
        final = store.message(owner_id, message.id)
    if final is not None:
        yield sse(render.finished(final))


def _text(message_id: str, text: str, end: int) -> str:
    return sse(render.reply_text(message_id, text, oob=False), event_id=str(end))


def sse(data: str, event_id: str | None = None) -> str:
    lines = [f"id: {event_id}"] if event_id is not None else []
    # SSE ends a line at \r, \n or \r\n; the browser joins data lines back with \n.
    lines += [f"data: {line}" for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines) + "\n\n"
