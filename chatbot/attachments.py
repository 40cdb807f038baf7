"""Files attached to a message: what is accepted, how it is stored, how a model sees it.

Images (PNG, JPEG, GIF, WebP) and UTF-8 text are accepted, recognised by their content,
never by the name or type the browser claims. Each file is stored under a name the server
makes ("<owner id>/<attachment id>"); the uploaded name is kept for display only.
"""
from __future__ import annotations

import base64
import logging
import re
import uuid
from dataclasses import dataclass

from .errors import InvalidInput, NotFound
from .files import FileStore
from .store import Attachment, Message, Store

log = logging.getLogger(__name__)

MAX_FILES = 5
IMAGE_TOKENS = 1000  # what an image is reckoned to cost in the context budget
TEXT_CONTEXT_CHARS = 40_000  # of each text file, in the model's context
_SIGNATURES = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
]
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


def recognise(data: bytes) -> str | None:
    """The content type of an accepted file, from its bytes; None if it is not one."""
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if _UNPRINTABLE.search(text) else "text/plain"


def display_name(name: str) -> str:
    """The uploaded name, fit for display: no folders, no control characters, not too long."""
    name = re.split(r"[\\/]", name or "")[-1]
    name = _UNPRINTABLE.sub("", name).strip() or "file"
    return name[-200:]


def check(uploads: list[Upload], max_bytes: int) -> list[tuple[Upload, str]]:
    """Each upload with its content type; InvalidInput("files") naming the first bad one."""
    uploads = [u for u in uploads if u.name or u.data]  # a form with no file chosen sends one empty part
    if len(uploads) > MAX_FILES:
        raise InvalidInput("files", f"Attach at most {MAX_FILES} files to a message.")
    checked = []
    for upload in uploads:
        name = display_name(upload.name)
        if not upload.data:
            raise InvalidInput("files", f"{name} is empty.")
        if len(upload.data) > max_bytes:
            raise InvalidInput("files", f"{name} is {len(upload.data):,} bytes; files can be at most {max_bytes:,}.")
        content_type = recognise(upload.data)
        if content_type is None:
            raise InvalidInput("files", f"{name} is neither an image (PNG, JPEG, GIF, WebP) nor a text file.")
        checked.append((upload, content_type))
    return checked


def attach(store: Store, files: FileStore, owner_id: str, message_id: str,
           checked: list[tuple[Upload, str]]) -> list[Attachment]:
    """Store the files, then their records (a failure leaves at worst an unlisted file)."""
    saved = []
    for upload, content_type in checked:
        key = f"{owner_id}/{uuid.uuid4()}"
        files.put(key, upload.data, content_type)
        saved.append(store.add_attachment(owner_id, message_id, display_name(upload.name), content_type,
                                          len(upload.data), key))
    return saved


def carried_over(store: Store, files: FileStore, owner_id: str, message_id: str) -> list[tuple[Upload, str]]:
    """The files of the owner's message ``message_id``, to go with a new version of it (an
    edited message keeps its files). Each is copied: a version deleted with its branch
    must not take the other's files with it."""
    message = store.message(owner_id, message_id)
    carried = []
    for attachment in message.attachments if message else ():
        try:
            carried.append((Upload(attachment.name, files.get(attachment.storage_key)), attachment.content_type))
        except FileNotFoundError:  # gone from the file store: the new version goes without it
            log.warning("attachment %s has no file to carry over", attachment.id)
    return carried


def open_attachment(store: Store, files: FileStore, owner_id: str, attachment_id: str) -> tuple[Attachment, bytes]:
    """The owner's attachment and its bytes; NotFound for anyone else's, as for a missing one."""
    attachment = store.attachment(owner_id, attachment_id)
    if attachment is None:
        raise NotFound(attachment_id)
    try:
        return attachment, files.get(attachment.storage_key)
    except FileNotFoundError:
        raise NotFound(attachment_id) from None


def model_content(message: Message, files: FileStore | None) -> str | list[dict]:
    """What a model is sent for ``message``: its text with text files appended, and images
    as image parts (the OpenAI chat format, which compatible servers with vision accept)."""
    if not message.attachments:
        return message.content
    text, images = message.content, []
    for attachment in message.attachments:
        try:
            data = files.get(attachment.storage_key)
        except FileNotFoundError:
            text += f"\n\n[The attached file {attachment.name} is no longer available.]"
            continue
        if attachment.is_image:
            url = f"data:{attachment.content_type};base64,{base64.b64encode(data).decode()}"
            images.append({"type": "image_url", "image_url": {"url": url}})
        else:
            body = data.decode("utf-8", errors="replace")
            cut = "\n[... cut short]" if len(body) > TEXT_CONTEXT_CHARS else ""
            text += f"\n\nAttached file {attachment.name}:\n```\n{body[:TEXT_CONTEXT_CHARS]}{cut}\n```"
    if not images:
        return text
    return [{"type": "text", "text": text}, *images]
