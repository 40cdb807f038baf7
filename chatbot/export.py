"""Everything a user has here, as one zip they can take away: ``chatbot-export.json`` (every
chat and message, with status, model and token counts, and their presets) and each attached
file under ``files/``, named by the attachment id the JSON gives."""
from __future__ import annotations

import io
import json
import logging
import zipfile
from datetime import datetime

from .files import FileStore
from .models.parameters import Parameters
from .store import Attachment, Chat, Message, Preset, Store

log = logging.getLogger(__name__)
FORMAT = "chatbot-export"
VERSION = 1


def account_archive(store: Store, files: FileStore, owner_id: str, email: str, stamp: datetime) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        chats = []
        for chat in store.chats(owner_id) + store.chats(owner_id, archived=True):
            messages = store.messages(owner_id, chat.id)
            chats.append(_chat(chat, messages))
            for message in messages:
                for attachment in message.attachments:
                    _add_file(archive, files, attachment)
        document = {"format": FORMAT, "version": VERSION, "exported_at": stamp.isoformat(),
                    "account": {"email": email}, "chats": chats,
                    "presets": [_preset(preset) for preset in store.presets(owner_id)]}
        archive.writestr("chatbot-export.json", json.dumps(document, ensure_ascii=False, indent=1))
    return buffer.getvalue()


def file_path(attachment: Attachment) -> str:
    safe = "".join(c if c.isalnum() or c in "._- " else "_" for c in attachment.name)[:120] or "file"
    return f"files/{attachment.id}/{safe}"


def _add_file(archive: zipfile.ZipFile, files: FileStore, attachment: Attachment) -> None:
    try:
        archive.writestr(file_path(attachment), files.get(attachment.storage_key))
    except FileNotFoundError:  # listed in the JSON all the same; its absence is noted there
        log.warning("attachment %s has no file to export", attachment.id)


def _chat(chat: Chat, messages: list[Message]) -> dict:
    return {"id": chat.id, "title": chat.title, "model": chat.model, "system_prompt": chat.system_prompt,
            "parameters": _parameters(chat.parameters), "created_at": chat.created_at.isoformat(), "updated_at": chat.updated_at.isoformat(),
            "messages": [_message(m) for m in messages]}


def _preset(preset: Preset) -> dict:
    return {"id": preset.id, "name": preset.name, "model": preset.model, "system_prompt": preset.system_prompt,
            "parameters": _parameters(preset.parameters), "created_at": preset.created_at.isoformat(),
            "updated_at": preset.updated_at.isoformat()}


def _parameters(parameters: Parameters) -> dict:
    return json.loads(parameters.as_json())  # those set only


def _message(message: Message) -> dict:
    return {"id": message.id, "role": message.role, "content": message.content, "status": message.status,
            "error": message.error, "model": message.model, "prompt_tokens": message.prompt_tokens,
            "completion_tokens": message.completion_tokens, "created_at": message.created_at.isoformat(),
            "attachments": [{"id": a.id, "name": a.name, "content_type": a.content_type, "size": a.size,
                             "file": file_path(a)} for a in message.attachments]}
