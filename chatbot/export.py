"""Taking chats away: one chat, or all of them, as JSON (lossless: every message of every
branch, with status, model and token counts, its files referenced) or as Markdown (the
conversation shown, to read); everything a user has as one zip with the files themselves.

The zip holds ``chatbot-export.json`` (every chat, and the presets), ``chats/*.md`` (each
chat to read) and each attached file under ``files/``, named by the attachment id the JSON
gives. It is also what chatbot.imports takes back, here or on another server."""
from __future__ import annotations

import io
import json
import logging
import re
import zipfile
from datetime import datetime

from .files import FileStore
from .models.parameters import Parameters
from .store import Attachment, Chat, Message, Preset, Store

log = logging.getLogger(__name__)
FORMAT = "chatbot-export"
# 2: every message of every branch, each with its parent, and the chat's current leaf
# (1 held the conversation shown alone, in order; chatbot.imports reads both).
VERSION = 2


def account_archive(store: Store, files: FileStore, owner_id: str, email: str, stamp: datetime) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        chats, names = [], set[str]()
        for chat in store.chats(owner_id) + store.chats(owner_id, archived=True):
            messages = store.all_messages(owner_id, chat.id)
            chats.append(chat_document(chat, messages))
            archive.writestr(f"chats/{unique(file_name(chat), names)}.md", chat_markdown(chat, messages))
            for message in messages:
                for attachment in message.attachments:
                    _add_file(archive, files, attachment)
        document = {"format": FORMAT, "version": VERSION, "exported_at": stamp.isoformat(),
                    "account": {"email": email}, "chats": chats,
                    "presets": [_preset(preset) for preset in store.presets(owner_id)]}
        archive.writestr("chatbot-export.json", json.dumps(document, ensure_ascii=False, indent=1))
    return buffer.getvalue()


def chat_json(chat: Chat, messages: list[Message], stamp: datetime) -> str:
    """One chat as a document of the export's format (chatbot.imports takes it back)."""
    return json.dumps({"format": FORMAT, "version": VERSION, "exported_at": stamp.isoformat(),
                       "chats": [chat_document(chat, messages)]}, ensure_ascii=False, indent=1)


def file_name(chat: Chat) -> str:
    """A safe file name for the chat: its title's words and its id's start."""
    words = re.sub(r"[^\w-]+", "-", chat.title, flags=re.UNICODE).strip("-")[:60] or "chat"
    return f"{words}-{chat.id[:8]}"


def unique(name: str, taken: set[str]) -> str:
    found, n = name, 1
    while found.lower() in taken:
        n += 1
        found = f"{name}-{n}"
    taken.add(found.lower())
    return found


def file_path(attachment: Attachment) -> str:
    safe = "".join(c if c.isalnum() or c in "._- " else "_" for c in attachment.name)[:120] or "file"
    return f"files/{attachment.id}/{safe}"


def _add_file(archive: zipfile.ZipFile, files: FileStore, attachment: Attachment) -> None:
    try:
        archive.writestr(file_path(attachment), files.get(attachment.storage_key))
    except FileNotFoundError:  # listed in the JSON all the same; its absence is noted there
        log.warning("attachment %s has no file to export", attachment.id)


def chat_document(chat: Chat, messages: list[Message]) -> dict:
    """``messages``: every message of the chat (Store.all_messages), each after its parent."""
    return {"id": chat.id, "title": chat.title, "model": chat.model, "system_prompt": chat.system_prompt,
            "parameters": _parameters(chat.parameters), "created_at": chat.created_at.isoformat(),
            "updated_at": chat.updated_at.isoformat(), "pinned": chat.pinned, "archived": chat.archived,
            "current_leaf": chat.current_leaf, "messages": [_message(m) for m in messages]}


def _preset(preset: Preset) -> dict:
    return {"id": preset.id, "name": preset.name, "model": preset.model, "system_prompt": preset.system_prompt,
            "parameters": _parameters(preset.parameters), "created_at": preset.created_at.isoformat(),
            "updated_at": preset.updated_at.isoformat()}


def _parameters(parameters: Parameters) -> dict:
    return json.loads(parameters.as_json())  # those set only


def _message(message: Message) -> dict:
    return {"id": message.id, "parent_id": message.parent_id, "role": message.role, "content": message.content,
            "status": message.status, "error": message.error, "model": message.model,
            "prompt_tokens": message.prompt_tokens, "completion_tokens": message.completion_tokens,
            "finish_reason": message.finish_reason, "created_at": message.created_at.isoformat(),
            "attachments": [{"id": a.id, "name": a.name, "content_type": a.content_type, "size": a.size,
                             "file": file_path(a)} for a in message.attachments]}


def shown(chat: Chat, messages: list[Message]) -> list[Message]:
    """Of every message of the chat, the conversation shown: the path to its current leaf."""
    by_id = {message.id: message for message in messages}
    path, at = [], by_id.get(chat.current_leaf or "") or (messages[-1] if messages else None)
    while at is not None:
        path.append(at)
        at = by_id.get(at.parent_id or "")
    return path[::-1]


def chat_markdown(chat: Chat, messages: list[Message]) -> str:
    """The conversation shown, to read: who said what, when, and with which model. (Other
    versions of edited or regenerated messages are in the JSON.)"""
    conversation = shown(chat, messages)
    lines = [f"# {chat.title}", "", f"*{chat.created_at:%-d %B %Y}, {len(conversation)} messages, "
             f"exported from Chatbot.*", ""]
    if chat.system_prompt:
        lines += ["> **System prompt:** " + chat.system_prompt.replace("\n", "\n> "), ""]
    for message in conversation:
        who = "You" if message.role == "user" else f"Assistant ({message.model})" if message.model else "Assistant"
        lines += [f"## {who}, {message.created_at:%-d %b %Y %H:%M} UTC", "", message.content.rstrip(), ""]
        lines += [f"- Attached: {a.name} (`{file_path(a)}`)" for a in message.attachments]
        if message.status in ("error", "interrupted") and message.error:
            lines += [f"*Not finished: {message.error}*"]
        elif message.status == "stopped":
            lines += ["*Stopped before the end.*"]
        if message.attachments or message.status in ("error", "interrupted", "stopped"):
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
