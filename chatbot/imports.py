"""Bringing chats in: a Chatbot download (``chatbot-export.json``, a chat's JSON, or the whole
zip, files included) or a ChatGPT data export (its ``conversations.json``, or the zip that
holds it), each conversation with its branches (edited messages and regenerated replies).

A file is read whole before anything is stored: one that is malformed, of another format or
too big is refused with a clear error and imports nothing; then every chat in it is stored in
one transaction, or none. A chat imported before (the same conversation, by its source's id)
is not stored again, so the same file imported twice adds nothing the second time."""
from __future__ import annotations

import io
import json
import uuid
import zipfile
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from .attachments import display_name, recognise
from .chats import MAX_TITLE, announce_chats
from .errors import InvalidInput
from .files import FileStore
from .live.channel import Channel
from .models.parameters import Parameters
from .store import COMPLETE, ERROR, INTERRUPTED, STOPPED, STREAMING, Attachment, ChatImport, Message, Store

MAX_CHATS = 10_000
MAX_MESSAGES = 250_000
MAX_TEXT = 1_000_000  # characters of one message
# What a zip may unpack to (of what is read from it), in times the bytes allowed: JSON packs
# about tenfold, but it is all read into memory; past this, a zip bomb or too much at once.
ZIP_RATIO = 5
CHATBOT, CHATGPT = "Chatbot", "ChatGPT"
_STATUSES = {COMPLETE, ERROR, STOPPED, INTERRUPTED}


def _refuse(message: str) -> InvalidInput:
    return InvalidInput("file", message)


NOT_ONE_WE_READ = ("This file is neither a Chatbot download nor a ChatGPT data export. Choose the zip either one "
                   "gives you, or the chatbot-export.json or conversations.json inside it.")


@dataclass
class Found:
    """What a file holds, read and checked: its chats, ready to store, and their files."""
    source: str  # CHATBOT or CHATGPT
    chats: list[ChatImport]
    files: dict[str, bytes] = field(default_factory=dict)  # an attachment's id in the file: its bytes
    here: set[str] = field(default_factory=set)  # keys of the chats the user has already

    @property
    def new(self) -> list[ChatImport]:
        return [chat for chat in self.chats if chat.key not in self.here]


def read(data: bytes, max_bytes: int, model: str) -> Found:
    """The chats in an uploaded file (new chats answered by ``model``); InvalidInput("file")
    saying what is wrong with it."""
    if not data:
        raise _refuse("Choose a file to import.")
    if len(data) > max_bytes:
        raise _refuse(f"That file is {len(data):,} bytes; an import can be at most {max_bytes:,}.")
    files: dict[str, bytes] = {}
    if data.startswith(b"PK\x03\x04"):
        data, files = _from_zip(data, max_bytes)
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _refuse(NOT_ONE_WE_READ) from None
    if isinstance(document, dict) and document.get("format") == "chatbot-export":
        found = Found(CHATBOT, _chatbot(document, model), {})
        wanted = {a.id for chat in found.chats for m in chat.messages for a in m.attachments}
        found.files = {key: value for key, value in files.items() if key in wanted}
    elif isinstance(document, list) and all(isinstance(c, dict) and "mapping" in c for c in document):
        found = Found(CHATGPT, _chatgpt(document, model))
    else:
        raise _refuse(NOT_ONE_WE_READ)
    if not found.chats:
        raise _refuse("That file holds no chats.")
    if len(found.chats) > MAX_CHATS:
        raise _refuse(f"That file holds {len(found.chats):,} chats; one import can bring at most {MAX_CHATS:,}.")
    if (count := sum(len(chat.messages) for chat in found.chats)) > MAX_MESSAGES:
        raise _refuse(f"That file holds {count:,} messages; one import can bring at most {MAX_MESSAGES:,}.")
    return found


def _from_zip(data: bytes, max_bytes: int) -> tuple[bytes, dict[str, bytes]]:
    """The JSON document in a zip, and (a Chatbot download's) files by attachment id."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = {info.filename: info for info in archive.infolist() if not info.is_dir()}
        for name in ("chatbot-export.json", "conversations.json"):
            document = next((n for n in entries if n == name or n.endswith("/" + name)), None)
            if document is not None:
                break
        else:
            raise _refuse("That zip holds neither chatbot-export.json (a Chatbot download) nor conversations.json "
                          "(a ChatGPT data export).")
        # A Chatbot download's files: files/<attachment id>/<name>.
        attached = [n for n in entries if name == "chatbot-export.json" and n.count("/") == 2 and n.startswith("files/")]
        if sum(entries[n].file_size for n in [document, *attached]) > max_bytes * ZIP_RATIO:
            raise _refuse("That zip unpacks to far more than an import can take.")
        files = {entry.split("/")[1]: archive.read(entry) for entry in attached}
        return archive.read(document), files
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError):
        raise _refuse("That zip file is damaged or of a kind this server cannot open.") from None


# A Chatbot download (export.py): version 1 held each chat's conversation shown, in order;
# version 2 every message of every branch, each with its parent.

def _chatbot(document: dict, model: str) -> list[ChatImport]:
    chats = document.get("chats")
    if not isinstance(chats, list):
        raise _refuse("That Chatbot file has no list of chats.")
    return [_chatbot_chat(chat, n, model) for n, chat in enumerate(chats, start=1)]


def _chatbot_chat(chat: object, n: int, model: str) -> ChatImport:
    try:
        assert isinstance(chat, dict)
        title = _title(chat.get("title"))
        created = _time(chat["created_at"])
        messages: list[Message] = []
        seen: set[str] = set()
        for data in chat["messages"]:
            source_id = str(data["id"])
            # Version 1 has no parents: each message follows the one before.
            parent = data["parent_id"] if "parent_id" in data else (messages[-1].id if messages else None)
            if parent is not None and parent not in seen:
                raise ValueError("a message comes before its parent")
            status = data.get("status") or COMPLETE
            status = INTERRUPTED if status == STREAMING else status
            if data["role"] not in ("user", "assistant") or status not in _STATUSES:
                raise ValueError("a message of an unknown kind")
            messages.append(Message(
                source_id, "", data["role"], _text(data["content"]), status, data.get("error"), data.get("model"),
                _count(data.get("prompt_tokens")), _count(data.get("completion_tokens")), _time(data["created_at"]),
                parent_id=parent, finish_reason=data.get("finish_reason"),
                attachments=tuple(Attachment(str(a["id"]), source_id, display_name(str(a["name"])), "", 0, "")
                                  for a in data.get("attachments") or ())))
            seen.add(source_id)
        return ChatImport(f"chatbot:{chat['id']}", title, model, created, _time(chat.get("updated_at") or created),
                          tuple(messages), chat.get("current_leaf") if chat.get("current_leaf") in seen else None,
                          _text(chat.get("system_prompt") or ""), Parameters.from_json(json.dumps(chat.get("parameters") or {})),
                          bool(chat.get("archived")))
    except (AssertionError, KeyError, TypeError, ValueError) as error:
        raise _refuse(f"Chat {n} of that Chatbot file cannot be read ({error or 'a field is missing'}). "
                      "Nothing was imported.") from None


# A ChatGPT data export's conversations.json: a list of conversations, each a tree of nodes
# ("mapping") whose messages are the users', the assistant's, and the system's and tools'
# (left out here, their children joined to the nearest message kept).

def _chatgpt(conversations: list[dict], model: str) -> list[ChatImport]:
    return [_chatgpt_chat(conversation, n, model) for n, conversation in enumerate(conversations, start=1)]


def _chatgpt_chat(conversation: dict, n: int, model: str) -> ChatImport:
    try:
        mapping = conversation["mapping"]
        assert isinstance(mapping, dict)
        created = _epoch(conversation.get("create_time")) or datetime.now(timezone.utc)
        children: dict[str | None, list[str]] = {}
        for node_id, node in mapping.items():
            parent = node.get("parent")
            children.setdefault(parent if parent in mapping else None, []).append(node_id)
        messages: list[Message] = []
        kept_above: dict[str, str | None] = {}  # each node's nearest message kept, itself or above it
        stack: list[tuple[str, str | None]] = [(node, None) for node in reversed(_by_time(children.get(None, []), mapping))]
        while stack:
            node_id, above = stack.pop()
            if node_id in kept_above:
                raise ValueError("its messages loop")
            message = _chatgpt_message(node_id, mapping[node_id].get("message"), above, created)
            if message is not None:
                messages.append(message)
            kept_above[node_id] = message.id if message is not None else above
            stack.extend((child, kept_above[node_id]) for child in reversed(_by_time(children.get(node_id, []), mapping)))
        leaf = kept_above.get(conversation.get("current_node") or "")
        key = conversation.get("conversation_id") or conversation.get("id")
        if not key:
            raise ValueError("it has no id")
        return ChatImport(f"chatgpt:{key}", _title(conversation.get("title") or "Imported from ChatGPT"), model,
                          created, _epoch(conversation.get("update_time")) or created, tuple(messages), leaf)
    except (AssertionError, AttributeError, KeyError, TypeError, ValueError) as error:
        raise _refuse(f"Conversation {n} of that ChatGPT file cannot be read ({error or 'a field is missing'}). "
                      "Nothing was imported.") from None


def _by_time(nodes: list[str], mapping: dict) -> list[str]:
    """Sibling nodes oldest first: versions in the order they were written."""
    def when(node_id: str) -> float:
        message = mapping[node_id].get("message") or {}
        return float(message.get("create_time") or 0)
    return sorted(nodes, key=when)


def _chatgpt_message(node_id: str, message: dict | None, parent: str | None, fallback: datetime) -> Message | None:
    """The node's message as ours, or None for what a chat does not show (system and tool
    messages, the assistant's calls to tools, hidden ones, and those with no text)."""
    if not message:
        return None
    role = (message.get("author") or {}).get("role")
    metadata = message.get("metadata") or {}
    if role not in ("user", "assistant") or message.get("recipient", "all") != "all" \
            or metadata.get("is_visually_hidden_from_conversation"):
        return None
    content = message.get("content") or {}
    if content.get("content_type") not in ("text", "multimodal_text"):
        return None
    parts = []
    for part in content.get("parts") or ():
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and part.get("content_type") == "image_asset_pointer":
            parts.append("*(An image, not imported.)*")
    text = _text("\n".join(parts).strip())
    if not text:
        return None
    finished = message.get("status") in (None, "finished_successfully")
    finish = (metadata.get("finish_details") or {}).get("type")
    return Message(node_id, "", role, text, COMPLETE if finished else INTERRUPTED,
                   None if finished else "Not finished in ChatGPT.",
                   metadata.get("model_slug") if role == "assistant" else None, None, None,
                   _epoch(message.get("create_time")) or fallback, parent_id=parent,
                   finish_reason="length" if finish == "max_tokens" else None)


def _title(value: object) -> str:
    title = " ".join(str(value or "").split())[:MAX_TITLE]
    return title or "Imported chat"


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("a message's text is not text")
    if len(value) > MAX_TEXT:
        raise ValueError(f"a message is longer than {MAX_TEXT:,} characters")
    return value


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None


def _time(value: object) -> datetime:
    stamp = datetime.fromisoformat(str(value))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def _epoch(value: object) -> datetime | None:
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(float(value), timezone.utc)  # type: ignore[arg-type]


def check_here(store: Store, owner_id: str, found: Found) -> Found:
    """Mark the chats the user has already: imported before, or (from their own download) never gone."""
    keys = [chat.key for chat in found.chats]
    found.here = set(store.imported(owner_id, keys))
    own = {chat.id for chat in store.chats(owner_id) + store.chats(owner_id, archived=True)}
    found.here |= {key for key in keys if key.startswith("chatbot:") and key.removeprefix("chatbot:") in own}
    return found


def store_chats(store: Store, files: FileStore, channel: Channel, owner_id: str, found: Found) -> tuple[int, int]:
    """Store the file's chats the user has not got (their files first, then every chat in one
    go): how many were stored, and how many were here already."""
    check_here(store, owner_id, found)
    put: list[str] = []
    try:
        chats = [replace(chat, messages=tuple(replace(m, attachments=_put_files(files, owner_id, found, m, put))
                                              for m in chat.messages)) for chat in found.new]
        stored = sum(new for _, new in store.import_chats(owner_id, chats)) if chats else 0
    except BaseException:
        for key in put:  # nothing was imported: neither are its files
            files.delete(key)
        raise
    if stored:
        announce_chats(channel, owner_id)
    return stored, len(found.chats) - stored


def _put_files(files: FileStore, owner_id: str, found: Found, message: Message, put: list[str]) -> tuple[Attachment, ...]:
    """The message's files that the file brought (recognised as uploads are), in the owner's file store."""
    kept = []
    for attachment in message.attachments:
        data = found.files.get(attachment.id)
        content_type = recognise(data) if data else None
        if content_type is None:  # its file is not in the upload (a lone JSON): the message goes without
            continue
        key = f"{owner_id}/{uuid.uuid4()}"
        files.put(key, data, content_type)  # type: ignore[arg-type]
        put.append(key)
        kept.append(Attachment(attachment.id, attachment.message_id, attachment.name, content_type, len(data),  # type: ignore[arg-type]
                               key))
    return tuple(kept)


# Between the preview and the import, the upload waits in the user's own file store.

def stash(files: FileStore, owner_id: str, data: bytes) -> str:
    upload = str(uuid.uuid4())
    files.put(f"{owner_id}/{upload}", data, "application/octet-stream")
    return upload


def unstash(files: FileStore, owner_id: str, upload: str) -> bytes:
    """The upload waiting under ``upload``; InvalidInput if it is gone (imported or cancelled)."""
    try:
        uuid.UUID(upload)
        return files.get(f"{owner_id}/{upload}")
    except (ValueError, FileNotFoundError):
        raise _refuse("That upload is gone (imported already, or cancelled). Choose the file again.") from None


def drop(files: FileStore, owner_id: str, upload: str) -> None:
    try:
        uuid.UUID(upload)
    except ValueError:
        return
    files.delete(f"{owner_id}/{upload}")
