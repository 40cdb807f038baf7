"""Server-sent events for one reply: catch up from an offset, follow live, then finish.

Every delta event's id is the reply's length in characters after it, so a browser that
reconnects with Last-Event-ID gets exactly the text it lacks: nothing missing, nothing
twice. The last event replaces the streaming message with the finished one (rendered by
the same partial as everywhere else), which also ends htmx's connection.
"""
from __future__ import annotations

from typing import Iterator

from flask import render_template
from markupsafe import escape

from .channel import Channel
from .replies import reply_topic
from .store import STREAMING, Message, Store

KEEPALIVE = 15.0  # seconds: a comment on an idle stream tells us if the browser left


def reply_stream(store: Store, channel: Channel, owner_id: str, message: Message, start: int) -> Iterator[str]:
    yield "retry: 1000\n\n"
    final = None  # the finished message, as the "done" event brings it
    if message.status == STREAMING:
        for event in channel.subscribe(reply_topic(message.id), timeout=KEEPALIVE):
            if event is None:
                current = store.message(owner_id, message.id)
                if current is None or current.status != STREAMING:
                    break  # finished where this process could not see it
                yield ": ping\n\n"
                continue
            data = event.data
            if data["type"] == "done":
                if data.get("message"):
                    final = Message.from_event(data["message"])
                break
            end = data["offset"] + len(data["text"])
            if end <= start:
                continue  # the browser has this part already
            text = data["text"][max(0, start - data["offset"]):]
            start = end
            yield sse(f"<span>{escape(text)}</span>", event_id=str(end))
    if final is None:
        final = store.message(owner_id, message.id)
    if final is not None:
        yield sse(render_template("chat/_message.html", message=final, oob=True))


def sse(data: str, event_id: str | None = None) -> str:
    lines = [f"id: {event_id}"] if event_id is not None else []
    # SSE ends a line at \r, \n or \r\n; the browser joins data lines back with \n.
    lines += [f"data: {line}" for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines) + "\n\n"
