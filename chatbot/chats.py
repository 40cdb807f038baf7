"""Chats: the rules for creating, finding, renaming and deleting a user's conversations."""
from __future__ import annotations

import logging
from datetime import date
from typing import Mapping, Sequence

from .errors import InvalidInput, NotFound
from .files import FileStore
from .live import topics
from .live.channel import Channel, announce
from .live.events import ChatsChanged
from .models import ChatModel, titles
from .models.parameters import parse as parse_parameters
from .store import Chat, Folder, Message, Store

log = logging.getLogger(__name__)

DEFAULT_TITLE = "New chat"
MAX_TITLE = 200
MAX_SYSTEM_PROMPT = 8000


def announce_chats(channel: Channel, owner_id: str) -> None:
    """Tell the user's open views that the chat list changed (created, renamed, deleted, reordered)."""
    announce(channel, topics.user(owner_id), ChatsChanged())


SIDEBAR = 100  # chats neither pinned nor filed that the list shows; older ones a page at a time


class ChatList(list):
    """The chats the list shows, newest first (all the pinned and filed ones, and the newest
    SIDEBAR of the rest), and whether older ones are left out (``more``)."""
    more = False


def list_chats(store: Store, owner_id: str) -> ChatList:
    loose = store.chats(owner_id, filed=False, limit=SIDEBAR + 1)
    shown = ChatList(sorted(store.chats(owner_id, filed=True) + loose[:SIDEBAR],
                            key=lambda chat: chat.updated_at, reverse=True))
    shown.more = len(loose) > SIDEBAR
    return shown


def older_chats(store: Store, owner_id: str, page: int) -> tuple[list[Chat], bool]:
    """Page ``page`` (1: the first) of the chats neither pinned nor filed that the list
    leaves out, newest first (SIDEBAR a page), and whether there is another."""
    found = store.chats(owner_id, filed=False, limit=SIDEBAR + 1, offset=SIDEBAR * page)
    return found[:SIDEBAR], len(found) > SIDEBAR


def archived_chats(store: Store, owner_id: str) -> list[Chat]:
    return store.chats(owner_id, archived=True)


def grouped(chats: list[Chat], today: date, folders: Sequence[Folder] = ()) -> list[tuple[str, list[Chat], bool]]:
    """The chat list as the sidebar shows it: the pinned chats, then each folder's (by name),
    then the rest by when they were last updated (days in UTC), each newest first; empty
    groups left out. Each group: its name, its chats, whether it is a folder."""
    pinned: list[Chat] = []
    filed: dict[str, list[Chat]] = {folder.id: [] for folder in folders}
    by_day: dict[str, list[Chat]] = {"Today": [], "Yesterday": [], "Previous 7 days": [], "Previous 30 days": [],
                                     "Older": []}
    for chat in chats:
        if chat.pinned:
            pinned.append(chat)
        elif chat.folder_id in filed:
            filed[chat.folder_id].append(chat)
        else:
            age = (today - chat.updated_at.date()).days
            by_day["Today" if age <= 0 else "Yesterday" if age == 1 else "Previous 7 days" if age <= 7
                   else "Previous 30 days" if age <= 30 else "Older"].append(chat)
    return [group for group in [("Pinned", pinned, False)]
            + [(folder.name, filed[folder.id], True) for folder in folders]
            + [(name, items, False) for name, items in by_day.items()] if group[1]]


def organise(store: Store, channel: Channel, owner_id: str, chat_id: str, *, pinned: bool | None = None,
             archived: bool | None = None) -> None:
    """Pin or unpin, archive or unarchive a chat of ``owner_id``'s (NotFound otherwise); the
    user's open views update their lists."""
    if not store.organise_chat(owner_id, chat_id, pinned=pinned, archived=archived):
        raise NotFound(chat_id)
    announce_chats(channel, owner_id)


def get_chat(store: Store, owner_id: str, chat_id: str) -> Chat:
    """The chat, if ``owner_id`` owns it; NotFound otherwise (someone else's chat included)."""
    chat = store.chat(owner_id, chat_id)
    if chat is None:
        raise NotFound(chat_id)
    return chat


def get_message(store: Store, owner_id: str, chat_id: str, message_id: str, role: str | None = None) -> Message:
    """The message, if it is in this chat of ``owner_id``'s (and has ``role``); NotFound otherwise."""
    message = store.message(owner_id, message_id)
    if message is None or message.chat_id != get_chat(store, owner_id, chat_id).id or role not in (None, message.role):
        raise NotFound(message_id)
    return message


PAGE = 50  # messages a chat page shows at first; older ones come a page at a time


def open_chat(store: Store, owner_id: str, chat_id: str, before: int | None = None,
              page: int = PAGE) -> tuple[Chat, list[Message], bool]:
    """The chat and a page of its messages (the newest, or those before seq ``before``),
    oldest first, and whether there are earlier ones: a long chat opens as fast as a short one."""
    chat = get_chat(store, owner_id, chat_id)
    messages = store.messages(owner_id, chat.id, newest=page + 1, before=before)
    return chat, messages[-page:], len(messages) > page


def open_chat_at(store: Store, owner_id: str, chat_id: str, message_id: str,
                 page: int = PAGE) -> tuple[Chat, list[Message], bool]:
    """The chat and the page of a conversation that ends at message ``message_id`` (on
    whichever version of the conversation it is: a search may find any), and whether there
    are earlier ones. NotFound unless the message is in this chat of ``owner_id``'s."""
    message = get_message(store, owner_id, chat_id, message_id)
    before = store.messages(owner_id, chat_id, newest=page, before=message.seq)
    return get_chat(store, owner_id, chat_id), [*before[-(page - 1):], message], len(before) > page - 1


def rename_chat(store: Store, channel: Channel, owner_id: str, chat_id: str, title: str) -> Chat:
    title = " ".join(title.split())
    if not title:
        raise InvalidInput("title", "Give the chat a title.")
    if len(title) > MAX_TITLE:
        raise InvalidInput("title", f"Keep the title under {MAX_TITLE} characters.")
    chat = store.update_chat(owner_id, chat_id, title=title)
    if chat is None:
        raise NotFound(chat_id)
    announce_chats(channel, owner_id)
    return chat


def save_settings(store: Store, owner_id: str, chat_id: str, form: Mapping[str, str]) -> Chat:
    """The chat's system prompt and model parameters, from the settings form (InvalidInput
    naming the first field that is wrong: nothing is saved then)."""
    prompt = (form.get("system_prompt") or "").strip()
    if len(prompt) > MAX_SYSTEM_PROMPT:
        raise InvalidInput("system_prompt", f"Keep the system prompt under {MAX_SYSTEM_PROMPT:,} characters.")
    chat = store.update_chat(owner_id, chat_id, system_prompt=prompt, parameters=parse_parameters(form))
    if chat is None:
        raise NotFound(chat_id)
    return chat


def write_title(store: Store, channel: Channel, model: ChatModel, owner_id: str, chat_id: str, placeholder: str,
                question: str, reply: str) -> None:
    """Ask ``model`` to name the chat after its first exchange, and give it that title unless
    its title is no longer ``placeholder`` (the user renamed it meanwhile: theirs stays).
    Runs after the reply, in its background task; never raises."""
    try:
        title = titles.clean(model.title(question, reply))
        # (A title that differs only in case is no better than the first words.)
        if title and title.casefold() != placeholder.casefold() and store.retitle(owner_id, chat_id, placeholder,
                                                                                    title):
            announce_chats(channel, owner_id)
    except Exception as error:  # noqa: BLE001 - the chat keeps its first title
        log.warning("no title written for chat %s by model %s: %s", chat_id, model.name,
                    getattr(error, "detail", "") or error)


def delete_chat(store: Store, channel: Channel, owner_id: str, chat_id: str, files: FileStore) -> None:
    """Delete the chat, its messages and their attached files."""
    attached = store.chat_attachments(owner_id, chat_id)
    if not store.delete_chat(owner_id, chat_id):
        raise NotFound(chat_id)
    for attachment in attached:
        files.delete(attachment.storage_key)
    announce_chats(channel, owner_id)


def title_from(text: str, limit: int = 60) -> str:
    """A title from the first words of a message: the chat list shows what it was about."""
    words = " ".join(text.split())
    if len(words) <= limit:
        return words
    return words[:limit].rsplit(" ", 1)[0].rstrip(",.;:") + "…"
