"""From live event to HTML fragment, by templates only: the same partials the pages use, so
a socket frame, an event-stream message and a page can never show a message differently."""
from __future__ import annotations

from flask import current_app, render_template

from ..store import Chat, Message
from ..streaming_markdown import Shown, Update


def messages(shown: list[Message]) -> str:
    """Messages to put in place by id (or by their place in the chat): the socket's frame."""
    return render_template("chat/_upsert.html", messages=shown, feed=True)


def finished(message: Message) -> str:
    """A finished reply replacing its streaming self: a reply stream's last event."""
    return render_template("chat/_message.html", message=message, oob=True)


def conversation(chat: Chat, shown: list[Message], earlier: bool) -> str:
    """The conversation anew (another version of it is shown), in place of the view's."""
    return render_template("chat/conversation_changed.html", chat=chat, messages=shown, earlier=earlier, feed=True)


def removed(message_id: str) -> str:
    return render_template("chat/_removed.html", message_id=message_id)


def reply_text(message_id: str, update: Update) -> str:
    """New text of a reply, the hottest fragment of all: rendered without the request's
    context processors (it needs none of them)."""
    template = current_app.jinja_env.get_template("chat/_reply_text.html")
    return template.render(message_id=message_id, update=update)


def reply_so_far(message_id: str, reply: Shown) -> str:
    """A reply being written, shown anew in place of what a view had."""
    template = current_app.jinja_env.get_template("chat/_reply_so_far.html")
    return template.render(message_id=message_id, reply=reply, oob=True)


def chat_list(chat: Chat | None, chats: list[Chat]) -> str:
    """The user's chat list changed: the list, and the open chat's title (None: deleted)."""
    return render_template("chat/_chat_list_update.html", chat=chat, chats=chats)
