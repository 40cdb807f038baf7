"""Share links: a read-only snapshot of a chat, or of its conversation up to one message, that
anyone who has the link may read, with no account and no JavaScript. The owner lists and
revokes their links (a revoked link finds nothing at once); files stay out unless the owner
includes them; a signed-in reader may copy the conversation into a chat of their own.

The link's token is its only key: 192 random bits, compared by the database's index. A
snapshot is a copy of the messages, so what is said in the chat afterwards, and any edit,
never shows through it."""
from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import datetime, timezone

from .chats import announce_chats, get_chat
from .errors import InvalidInput, NotFound
from .files import FileStore
from .live.channel import Channel
from .store import STREAMING, Attachment, ChatImport, Message, Share, SharedChats, Store

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")  # what new_share_token makes; anything else finds nothing


def share_chat(store: Store, owner_id: str, chat_id: str, upto: str | None, with_files: bool) -> Share:
    """A new link to the conversation shown in the chat (the path to its current leaf), up to
    message ``upto`` if given (one of that conversation's), its finished messages only."""
    chat = get_chat(store, owner_id, chat_id)
    conversation = store.messages(owner_id, chat.id)
    if upto:
        ids = [message.id for message in conversation]
        if upto not in ids:
            raise InvalidInput("upto", "That message is not in the conversation shown. Choose another.")
        conversation = conversation[:ids.index(upto) + 1]
    snapshot = [_as_shared(message, with_files) for message in conversation if message.status != STREAMING]
    if not snapshot:
        raise InvalidInput("upto", "There is nothing to share yet: send a message first.")
    return store.add_share(owner_id, chat.id, chat.title, snapshot, with_files and _has_files(snapshot))


def _as_shared(message: Message, with_files: bool) -> Message:
    """What a snapshot keeps of a message: no worker, and its files only if included."""
    return replace(message, worker=None, attachments=message.attachments if with_files else ())


def _has_files(messages: list[Message]) -> bool:
    return any(message.attachments for message in messages)


def chat_shares(store: Store, owner_id: str, chat_id: str) -> list[Share]:
    return [share for share in store.shares(owner_id) if share.chat_id == chat_id]


def revoke(store: Store, owner_id: str, share_id: str) -> None:
    """End the link: NotFound if it is not the owner's (or was revoked already)."""
    if not store.delete_share(owner_id, share_id):
        raise NotFound(share_id)


def shared(reader: SharedChats, token: str) -> Share:
    """The snapshot behind a link; NotFound for a token that never was or was revoked."""
    found = reader.shared(token) if _TOKEN.match(token) else None
    if found is None:
        raise NotFound(token)
    return found


def shared_file(reader: SharedChats, files: FileStore, token: str, attachment_id: str) -> tuple[Attachment, bytes]:
    """A file of a link that includes its files, and only one its snapshot holds."""
    share = shared(reader, token)
    held = {a.id: a for message in share.messages for a in message.attachments} if share.with_files else {}
    if attachment_id not in held:
        raise NotFound(attachment_id)
    try:
        return held[attachment_id], files.get(held[attachment_id].storage_key)
    except FileNotFoundError:
        raise NotFound(attachment_id) from None


def continue_shared(store: Store, files: FileStore, shared_files: FileStore, channel: Channel, owner_id: str,
                    share: Share, model: str) -> str:
    """Copy a link's conversation into a new chat of ``owner_id``'s, answered by ``model``
    (its files too, if the link includes them), to go on with it: the chat's id. Continued
    again, the same chat."""
    copied = tuple(replace(message, attachments=tuple(_copy_file(files, shared_files, owner_id, a)
                                                      for a in message.attachments))
                   for message in share.messages)
    now = datetime.now(timezone.utc)  # at the top of their list
    chat_id, new = store.import_chats(owner_id, [ChatImport(f"share:{share.id}", share.title, model, now, now, copied)])[0]
    if new:
        announce_chats(channel, owner_id)
    else:  # copied before: the copies just made are not needed
        for attachment in (a for message in copied for a in message.attachments):
            files.delete(attachment.storage_key)
    return chat_id


def _copy_file(files: FileStore, shared_files: FileStore, owner_id: str, attachment: Attachment) -> Attachment:
    """The shared file, copied into the reader's own files (theirs to keep, whatever becomes of the link)."""
    key = f"{owner_id}/{uuid.uuid4()}"
    files.put(key, shared_files.get(attachment.storage_key), attachment.content_type)
    return replace(attachment, storage_key=key)
