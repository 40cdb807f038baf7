"""Folders: a user's named groups of chats; the rules for making, renaming and deleting
them and for filing a chat in one."""
from __future__ import annotations

from .chats import announce_chats
from .errors import InvalidInput, NotFound
from .live.channel import Channel
from .store import DuplicateName, Folder, Store

MAX_NAME = 100


def list_folders(store: Store, owner_id: str) -> list[Folder]:
    return store.folders(owner_id)


def create_folder(store: Store, channel: Channel, owner_id: str, name: str) -> Folder:
    try:
        folder = store.add_folder(owner_id, _name(name))
    except DuplicateName:
        raise InvalidInput("name", f"You have a folder called “{_name(name)}” already.") from None
    announce_chats(channel, owner_id)
    return folder


def rename_folder(store: Store, channel: Channel, owner_id: str, folder_id: str, name: str) -> Folder:
    try:
        folder = store.rename_folder(owner_id, folder_id, _name(name))
    except DuplicateName:
        raise InvalidInput("name", f"You have a folder called “{_name(name)}” already.") from None
    if folder is None:
        raise NotFound(folder_id)
    announce_chats(channel, owner_id)
    return folder


def delete_folder(store: Store, channel: Channel, owner_id: str, folder_id: str) -> None:
    """Delete the folder; its chats stay, in no folder."""
    if not store.delete_folder(owner_id, folder_id):
        raise NotFound(folder_id)
    announce_chats(channel, owner_id)


def file_chat(store: Store, channel: Channel, owner_id: str, chat_id: str, folder_id: str) -> None:
    """File the chat in folder ``folder_id`` ("": in none). NotFound unless both are the owner's."""
    filed = store.organise_chat(owner_id, chat_id, folder_id=folder_id or None, unfile=not folder_id)
    if not filed:
        raise NotFound(chat_id)
    announce_chats(channel, owner_id)


def _name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("name", "Give the folder a name.")
    if len(name) > MAX_NAME:
        raise InvalidInput("name", f"Keep the name under {MAX_NAME} characters.")
    return name
