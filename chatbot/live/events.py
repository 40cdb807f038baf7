"""What the live channel carries: typed events, each with one JSON form.

Events cross process boundaries (Redis, PostgreSQL), so each is a frozen dataclass of plain
values that ``to_json`` writes and ``from_json`` reads back equal. Messages ride whole on the
events that announce them, so a view can show one without reading it from the store.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar, Union

from ..store import Message


@dataclass(frozen=True)
class MessageChanged:
    """On a chat's topic: a message is new or changed (its contents as they are now)."""
    message: Message
    kind: ClassVar[str] = "message"


@dataclass(frozen=True)
class ConversationChanged:
    """On a chat's topic: another version of the conversation is shown (a message edited and
    sent again, a reply regenerated, a version chosen): views show it anew from the store."""
    kind: ClassVar[str] = "conversation"


@dataclass(frozen=True)
class ChatsChanged:
    """On a user's topic: their chat list changed (created, renamed, deleted, reordered)."""
    kind: ClassVar[str] = "chats"


@dataclass(frozen=True)
class ReplyText:
    """On a reply's topic: new text, ``offset`` characters into the reply. The reply's
    first ``settled`` characters are finished markdown blocks (streaming_markdown): views
    render them once and show the rest as it comes."""
    message_id: str
    offset: int
    text: str
    settled: int = 0
    kind: ClassVar[str] = "text"

    @property
    def end(self) -> int:
        return self.offset + len(self.text)


@dataclass(frozen=True)
class ReplyDone:
    """On a reply's topic, last: the finished message."""
    message: Message
    kind: ClassVar[str] = "done"


@dataclass(frozen=True)
class StopReply:
    """On a process's topic: stop writing this reply (the stop may come from any process)."""
    message_id: str
    kind: ClassVar[str] = "stop"


@dataclass(frozen=True)
class SessionsEnded:
    """On a user's topic: these sessions of theirs ended (log-out, a password change, an
    admin's hand); the live views they opened close."""
    session_ids: tuple[str, ...]
    kind: ClassVar[str] = "sessions-ended"

    def __post_init__(self) -> None:
        object.__setattr__(self, "session_ids", tuple(self.session_ids))  # JSON gives a list back


LiveEvent = Union[MessageChanged, ConversationChanged, ChatsChanged, ReplyText, ReplyDone, StopReply, SessionsEnded]
_KINDS = {cls.kind: cls for cls in (MessageChanged, ConversationChanged, ChatsChanged, ReplyText, ReplyDone, StopReply,
                                    SessionsEnded)}


def to_json(event: LiveEvent) -> str:
    fields = dict(event.__dict__)
    if "message" in fields:
        fields["message"] = event.message.as_event()  # type: ignore[union-attr]
    return json.dumps({"kind": event.kind, **fields}, separators=(",", ":"))


def from_json(text: str | bytes) -> LiveEvent:
    fields = json.loads(text)
    cls = _KINDS[fields.pop("kind")]
    if "message" in fields:
        fields["message"] = Message.from_event(fields["message"])
    return cls(**fields)
