"""The Store contract over Supabase's REST API (PostgREST), as one signed-in user.

A ``SupabaseStore`` is bound to one user's access token: every request it makes runs as that
user, so the database's Row Level Security policies apply. The code's own checks stay in
front of them: a store answers nothing for any owner but its user, and every query is
filtered by owner as on the SQL store. Two locks, so a bug in either is not a leak.

The reply task writes with the store of the request that started it, so background writes
run as the user too (see ``chatbot.supabase_backend`` for why that token is still valid).
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from typing import Callable, Iterator

from postgrest.exceptions import APIError
from supabase import Client

from ..models.parameters import Parameters
from ..store import (MARK_END, MARK_START, STREAMING, Attachment, Chat, ChatImport, ChatUsage, DuplicateName, Folder,
                     Message, Preset, ReplyInProgress, SearchHit, Share, Turn, as_tsquery, is_uuid, new_share_token)

# SQLSTATEs that PostgREST passes on as the error code.
_UNIQUE_VIOLATION = "23505"  # a second streaming reply in one chat, a client id sent into another, a name taken
_NOT_FOUND = "P0002"  # raised by append_messages and append_turn for a chat the caller cannot see
_RLS_REFUSED = "42501"
# Supabase's API answers at most "Max rows" rows per request (1,000 unless changed; keep it
# at least this), cutting the rest off silently: long lists are read page by page.
PAGE = 1000


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(timezone.utc)


def _chat(row: dict) -> Chat:
    return Chat(row["id"], row["owner_id"], row["title"], row["model"], row["system_prompt"],
                _time(row["created_at"]), _time(row["updated_at"]), row.get("current_leaf"),
                Parameters.from_json(row.get("parameters")), bool(row.get("pinned")), bool(row.get("archived")),
                row.get("folder_id"))


def _preset(row: dict) -> Preset:
    return Preset(row["id"], row["owner_id"], row["name"], row["system_prompt"], row["model"],
                  Parameters.from_json(row["parameters"]), _time(row["created_at"]), _time(row["updated_at"]))


def _folder(row: dict) -> Folder:
    return Folder(row["id"], row["owner_id"], row["name"], _time(row["created_at"]))


def _stored(changes: dict) -> dict:
    """Values as the API takes them: parameters as a JSON object (the column is jsonb)."""
    return {name: json.loads(value.as_json()) if isinstance(value, Parameters) else value
            for name, value in changes.items()}


def _attachment(row: dict) -> Attachment:
    return Attachment(row["id"], row["message_id"], row["name"], row["content_type"], row["size"], row["storage_key"])


def _message(row: dict, files: tuple[Attachment, ...] = (), version: int = 1, versions: int = 1) -> Message:
    return Message(row["id"], row["chat_id"], row["role"], row["content"], row["status"], row["error"], row["model"],
                   row["prompt_tokens"], row["completion_tokens"], _time(row["created_at"]), row["seq"], files,
                   row.get("worker"), row.get("parent_id"), row.get("finish_reason"), version, versions)


def _share(row: dict) -> Share:
    return Share(row["id"], row["chat_id"], row["token"], row["title"], _time(row["created_at"]), row["with_files"],
                 row["message_count"], tuple(Message.from_event(m) for m in row.get("messages") or ()))


def _imported(chat: ChatImport) -> dict:
    """A chat to import as import_chats takes it."""
    return {"key": chat.key, "title": chat.title, "model": chat.model, "system_prompt": chat.system_prompt,
            "parameters": json.loads(chat.parameters.as_json()), "created_at": chat.created_at.isoformat(),
            "updated_at": chat.updated_at.isoformat(), "archived": chat.archived,
            "current_leaf": chat.current_leaf or (chat.messages[-1].id if chat.messages else None),
            "messages": [m.as_event() for m in chat.messages]}


@contextmanager
def _named(name: str) -> Iterator[None]:
    """A preset's or folder's name, written: DuplicateName if the owner has it already."""
    try:
        yield
    except APIError as error:
        if error.code == _UNIQUE_VIOLATION:
            raise DuplicateName(name) from None
        raise


def _every(query: Callable[[], object]) -> list[dict]:
    """All rows of ``query()`` (a fresh, ordered query each call), a page at a time."""
    rows: list[dict] = []
    while True:
        page = query().range(len(rows), len(rows) + PAGE - 1).execute().data
        rows.extend(page)
        if len(page) < PAGE:
            return rows


class SupabaseStore:
    def __init__(self, client: Client, user_id: str) -> None:
        self.db = client
        self.user_id = user_id

    def _mine(self, owner_id: str, *ids: str) -> bool:
        """Whether a call may go ahead: only for this store's own user, and only with real ids."""
        return owner_id == self.user_id and all(is_uuid(i) for i in ids)

    # Chats
    def add_chat(self, owner_id: str, title: str, model: str, system_prompt: str = "",
                 parameters: Parameters = Parameters()) -> Chat:
        if not self._mine(owner_id):
            raise LookupError(owner_id)
        rows = self.db.table("chats").insert(_stored({
            "owner_id": owner_id, "title": title, "model": model, "system_prompt": system_prompt,
            "parameters": parameters})).execute().data
        return _chat(rows[0])

    def chats(self, owner_id: str, limit: int | None = None, archived: bool = False, filed: bool | None = None,
              offset: int = 0) -> list[Chat]:
        if not self._mine(owner_id):
            return []
        if filed:  # pinned or in a folder: two queries, as PostgREST's "or" is one filter the stand-in lacks
            found = {chat.id: chat for chat in self._chats(owner_id, archived, lambda q: q.eq("pinned", True))}
            found.update((c.id, c) for c in self._chats(owner_id, archived, lambda q: q.not_.is_("folder_id", "null")))
            ordered = sorted(found.values(), key=lambda c: (-c.updated_at.timestamp(), c.id))[offset:]
            return ordered if limit is None else ordered[:limit]
        narrow = (lambda q: q.eq("pinned", False).is_("folder_id", "null")) if filed is False else (lambda q: q)
        return self._chats(owner_id, archived, narrow, limit, offset)

    def _chats(self, owner_id: str, archived: bool, narrow, limit: int | None = None, offset: int = 0) -> list[Chat]:
        def query():
            return narrow(self.db.table("chats").select("*").eq("owner_id", owner_id).eq("archived", archived)
                          .order("updated_at", desc=True).order("id"))
        if limit is None:
            rows = _every(query)[offset:] if offset else _every(query)
        else:
            rows = query().range(offset, offset + limit - 1).execute().data if limit > 0 else []
        return [_chat(row) for row in rows]

    def chat(self, owner_id: str, chat_id: str) -> Chat | None:
        if not self._mine(owner_id, chat_id):
            return None
        rows = self.db.table("chats").select("*").eq("id", chat_id).eq("owner_id", owner_id).execute().data
        return _chat(rows[0]) if rows else None

    def update_chat(self, owner_id: str, chat_id: str, **changes: str | Parameters) -> Chat | None:
        if not self._mine(owner_id, chat_id):
            return None
        rows = (self.db.table("chats").update({**_stored(changes), "updated_at": datetime.now(timezone.utc).isoformat()})
                .eq("id", chat_id).eq("owner_id", owner_id).execute().data)
        return _chat(rows[0]) if rows else None

    def organise_chat(self, owner_id: str, chat_id: str, *, pinned: bool | None = None,
                      archived: bool | None = None, folder_id: str | None = None, unfile: bool = False) -> bool:
        if not self._mine(owner_id, chat_id, *([folder_id] if folder_id is not None else [])):
            return False
        changes: dict[str, object] = {name: value for name, value in (("pinned", pinned), ("archived", archived))
                                      if value is not None}
        if folder_id is not None or unfile:
            changes["folder_id"] = folder_id
        if folder_id is not None and not self.db.table("folders").select("id").eq("id", folder_id) \
                .eq("owner_id", owner_id).execute().data:
            return False  # (RLS refuses it too: a chat goes only into a folder of its owner's)
        if not changes:
            return self.chat(owner_id, chat_id) is not None
        return bool(self.db.table("chats").update(changes).eq("id", chat_id).eq("owner_id", owner_id).execute().data)

    # Folders
    def add_folder(self, owner_id: str, name: str) -> Folder:
        if not self._mine(owner_id):
            raise LookupError(owner_id)
        with _named(name):
            rows = self.db.table("folders").insert({"owner_id": owner_id, "name": name}).execute().data
        return _folder(rows[0])

    def folders(self, owner_id: str) -> list[Folder]:
        if not self._mine(owner_id):
            return []
        rows = _every(lambda: self.db.table("folders").select("*").eq("owner_id", owner_id).order("id"))
        return sorted((_folder(row) for row in rows), key=lambda folder: (folder.name.lower(), folder.id))

    def rename_folder(self, owner_id: str, folder_id: str, name: str) -> Folder | None:
        if not self._mine(owner_id, folder_id):
            return None
        with _named(name):
            rows = (self.db.table("folders").update({"name": name}).eq("id", folder_id).eq("owner_id", owner_id)
                    .execute().data)
        return _folder(rows[0]) if rows else None

    def delete_folder(self, owner_id: str, folder_id: str) -> bool:
        if not self._mine(owner_id, folder_id):
            return False
        # Its chats stay, in no folder (ON DELETE SET NULL).
        return bool(self.db.table("folders").delete().eq("id", folder_id).eq("owner_id", owner_id).execute().data)

    def retitle(self, owner_id: str, chat_id: str, expected: str, title: str) -> bool:
        if not self._mine(owner_id, chat_id):
            return False
        return bool(self.db.table("chats").update({"title": title}).eq("id", chat_id).eq("owner_id", owner_id)
                    .eq("title", expected).execute().data)

    def delete_chat(self, owner_id: str, chat_id: str) -> bool:
        if not self._mine(owner_id, chat_id):
            return False
        # Its messages and attachment rows go with it (ON DELETE CASCADE).
        return bool(self.db.table("chats").delete().eq("id", chat_id).eq("owner_id", owner_id).execute().data)

    def search(self, owner_id: str, terms: list[str], limit: int = 20) -> list[SearchHit]:
        if not self._mine(owner_id) or not terms:
            return []
        rows = self.db.rpc("search_chats", {"query": as_tsquery(terms), "mark_start": MARK_START, "mark_end": MARK_END,
                                            "max_results": limit}).execute().data
        hits = [SearchHit(row["chat_id"], row["title"], row["snippet"], _time(row["created_at"]), row["message_id"],
                          row["seq"], row["role"]) for row in rows]
        # Titles, then messages, each newest first.
        return sorted(hits, key=lambda hit: (hit.message_id is not None, -hit.created_at.timestamp()))

    # Presets
    def add_preset(self, owner_id: str, name: str, system_prompt: str, model: str,
                   parameters: Parameters) -> Preset:
        if not self._mine(owner_id):
            raise LookupError(owner_id)
        with _named(name):
            rows = self.db.table("presets").insert(_stored({
                "owner_id": owner_id, "name": name, "system_prompt": system_prompt, "model": model,
                "parameters": parameters})).execute().data
        return _preset(rows[0])

    def presets(self, owner_id: str) -> list[Preset]:
        if not self._mine(owner_id):
            return []
        rows = _every(lambda: self.db.table("presets").select("*").eq("owner_id", owner_id).order("id"))
        return sorted((_preset(row) for row in rows), key=lambda preset: (preset.name.lower(), preset.id))

    def preset(self, owner_id: str, preset_id: str) -> Preset | None:
        if not self._mine(owner_id, preset_id):
            return None
        rows = self.db.table("presets").select("*").eq("id", preset_id).eq("owner_id", owner_id).execute().data
        return _preset(rows[0]) if rows else None

    def update_preset(self, owner_id: str, preset_id: str, **changes: str | Parameters) -> Preset | None:
        if not self._mine(owner_id, preset_id):
            return None
        with _named(str(changes.get("name", ""))):
            rows = (self.db.table("presets")
                    .update({**_stored(changes), "updated_at": datetime.now(timezone.utc).isoformat()})
                    .eq("id", preset_id).eq("owner_id", owner_id).execute().data)
        return _preset(rows[0]) if rows else None

    def delete_preset(self, owner_id: str, preset_id: str) -> bool:
        if not self._mine(owner_id, preset_id):
            return False
        return bool(self.db.table("presets").delete().eq("id", preset_id).eq("owner_id", owner_id).execute().data)

    # Messages
    def add_message(self, owner_id: str, chat_id: str, role: str, content: str,
                    status: str, model: str | None = None) -> Message:
        return self._append(owner_id, chat_id, [dict(role=role, content=content, status=status, model=model)])[0]

    def add_turn(self, owner_id: str, chat_id: str, content: str, model: str, worker: str,
                 history: int = 2, client_id: str | None = None, edit_of: str | None = None) -> Turn:
        # Over HTTP, one step is four requests (the append itself is one transaction).
        chat = self.chat(owner_id, chat_id)
        if chat is None or (edit_of is not None and not is_uuid(edit_of)):
            raise LookupError(chat_id)
        newest = self.chats(owner_id, limit=1)
        # append_turn stores both rows, or, for a client id this owner has sent before,
        # nothing: then its rows are the turn that send made, flagged as a repeat.
        rows = self._call(chat_id, "append_turn", {"target_chat": chat_id, "content": content, "model": model,
                                                   "worker": worker, "client_id": client_id, "edit_of": edit_of})
        question, answer = (_message(row["message"]) for row in rows)
        repeated = rows[0]["repeated"]
        if edit_of is not None and not repeated:
            question = self._newest_version(question)
        return Turn(chat, question, answer, not repeated and (not newest or newest[0].id != chat.id),
                    self.messages(owner_id, chat_id, newest=history), repeated=repeated)

    def _newest_version(self, message: Message) -> Message:
        """``message``, just added beside its versions, numbered among them (it is the newest)."""
        count = len(self._versions(message.chat_id, message.parent_id))
        return replace(message, version=count, versions=count)

    def _versions(self, chat_id: str, parent_id: str | None) -> list[str]:
        """The ids of the messages that follow ``parent_id`` (None: the chat's first ones), oldest first."""
        query = self.db.table("messages").select("id").eq("chat_id", chat_id).eq("owner_id", self.user_id)
        query = query.eq("parent_id", parent_id) if parent_id else query.is_("parent_id", "null")
        return [row["id"] for row in query.order("seq").limit(PAGE).execute().data]

    def chat_sent_with(self, owner_id: str, client_id: str) -> str | None:
        if not self._mine(owner_id):
            return None
        rows = (self.db.table("messages").select("chat_id").eq("owner_id", owner_id).eq("client_id", client_id)
                .execute().data)
        return rows[0]["chat_id"] if rows else None

    def add_version(self, owner_id: str, chat_id: str, message_id: str, model: str, worker: str) -> Message:
        if not self._mine(owner_id, chat_id, message_id):
            raise LookupError(message_id)
        added = self._call(chat_id, "add_reply_version", {"target_chat": chat_id, "reply": message_id,
                                                           "model": model, "worker": worker})
        return self._newest_version(_message(added[0]))

    def resume_reply(self, owner_id: str, chat_id: str, message_id: str, worker: str) -> Message:
        chat = self.chat(owner_id, chat_id) if self._mine(owner_id, chat_id, message_id) else None
        reply = self.message(owner_id, message_id) if chat is not None and chat.current_leaf == message_id else None
        if reply is None or reply.role != "assistant" or reply.chat_id != chat_id:
            raise LookupError(message_id)
        try:
            (self.db.table("messages").update({"status": STREAMING, "worker": worker, "finish_reason": None})
             .eq("id", message_id).eq("owner_id", owner_id).execute())
        except APIError as error:
            if error.code == _UNIQUE_VIOLATION:
                raise ReplyInProgress(chat_id) from None
            raise
        return replace(reply, status=STREAMING, worker=worker, finish_reason=None)

    def show_version(self, owner_id: str, chat_id: str, message_id: str, step: int) -> str | None:
        if not self._mine(owner_id, chat_id, message_id):
            return None
        return self.db.rpc("show_version", {"target_chat": chat_id, "shown": message_id, "step": step}).execute().data

    def _append(self, owner_id: str, chat_id: str, rows: list[dict]) -> list[Message]:
        """Add messages after an owned chat's leaf in one transaction (the append_messages function)."""
        if not self._mine(owner_id, chat_id):
            raise LookupError(chat_id)
        added = self._call(chat_id, "append_messages", {"target_chat": chat_id, "new_messages": rows})
        return [_message(row) for row in added]

    def _call(self, chat_id: str, function: str, arguments: dict) -> list[dict]:
        """One of the functions that write into a chat, its errors as the Store's."""
        try:
            return self.db.rpc(function, arguments).execute().data
        except APIError as error:
            # (From append_turn, also a client id the owner sent into another chat: refused
            # alike, as the SQL store refuses it.)
            if error.code == _UNIQUE_VIOLATION:
                raise ReplyInProgress(chat_id) from None
            if error.code in (_NOT_FOUND, _RLS_REFUSED):
                raise LookupError(chat_id) from None
            raise

    def messages(self, owner_id: str, chat_id: str, newest: int | None = None,
                 before: int | None = None) -> list[Message]:
        if not self._mine(owner_id, chat_id) or (newest is not None and newest <= 0):
            return []
        # The path to the chat's leaf, walked in the database (chat_path): a whole chat is
        # read in pages of the newest end, each ending where the one before began.
        rows: list[dict] = []
        while True:
            page = self.db.rpc("chat_path", {"target_chat": chat_id, "before_seq": before,
                                             "newest": min(newest - len(rows), PAGE) if newest else PAGE}).execute().data
            rows[:0] = page
            if len(page) < PAGE or (newest is not None and len(rows) >= newest) or page[0]["message"]["parent_id"] is None:
                break
            before = page[0]["message"]["seq"]
        # The chat's attachments are few: one query for all of them, not a list of ids in the URL.
        files: dict[str, list[Attachment]] = {}
        for attachment in self.chat_attachments(owner_id, chat_id) if rows else ():
            files.setdefault(attachment.message_id, []).append(attachment)
        return [_message(row["message"], tuple(files.get(row["message"]["id"], ())), row["version"], row["versions"])
                for row in rows]

    def message(self, owner_id: str, message_id: str) -> Message | None:
        if not self._mine(owner_id, message_id):
            return None
        rows = self.db.table("messages").select("*").eq("id", message_id).eq("owner_id", owner_id).execute().data
        if not rows:
            return None
        files = (self.db.table("attachments").select("*").eq("message_id", message_id).eq("owner_id", owner_id)
                 .order("created_at").order("id").execute().data)
        row = rows[0]
        versions = self._versions(row["chat_id"], row["parent_id"])
        return _message(row, tuple(_attachment(f) for f in files), versions.index(message_id) + 1, len(versions))

    def all_messages(self, owner_id: str, chat_id: str) -> list[Message]:
        if not self._mine(owner_id, chat_id):
            return []
        rows = _every(lambda: self.db.table("messages").select("*").eq("chat_id", chat_id).eq("owner_id", owner_id)
                      .order("seq"))
        files: dict[str, list[Attachment]] = {}
        for attachment in self.chat_attachments(owner_id, chat_id) if rows else ():
            files.setdefault(attachment.message_id, []).append(attachment)
        versions: dict[str | None, list[str]] = {}
        for row in rows:
            versions.setdefault(row["parent_id"], []).append(row["id"])
        return [_message(row, tuple(files.get(row["id"], ())), versions[row["parent_id"]].index(row["id"]) + 1,
                         len(versions[row["parent_id"]])) for row in rows]

    def imported(self, owner_id: str, keys: list[str]) -> dict[str, str]:
        if not self._mine(owner_id):
            return {}
        found: dict[str, str] = {}
        for start in range(0, len(keys), 100):  # a page of keys: they go in the URL
            rows = (self.db.table("chats").select("id,import_key").eq("owner_id", owner_id)
                    .in_("import_key", keys[start:start + 100]).execute().data)
            found.update((row["import_key"], row["id"]) for row in rows)
        return found

    def import_chats(self, owner_id: str, chats: list[ChatImport]) -> list[tuple[str, bool]]:
        if not self._mine(owner_id):
            raise LookupError(owner_id)
        # One call, so one transaction: every chat or none.
        rows = self.db.rpc("import_chats", {"new_chats": [_imported(chat) for chat in chats]}).execute().data
        return [(row["chat_id"], row["is_new"]) for row in rows]

    # Share links
    def add_share(self, owner_id: str, chat_id: str, title: str, messages: list[Message], with_files: bool) -> Share:
        if not self._mine(owner_id, chat_id):
            raise LookupError(chat_id)
        try:
            rows = self.db.table("shares").insert({
                "owner_id": owner_id, "chat_id": chat_id, "token": new_share_token(), "title": title,
                "with_files": with_files, "message_count": len(messages),
                "messages": [m.as_event() for m in messages]}).execute().data
        except APIError as error:
            if error.code == _RLS_REFUSED:  # not a chat of the owner's
                raise LookupError(chat_id) from None
            raise
        return _share(rows[0])

    def shares(self, owner_id: str) -> list[Share]:
        if not self._mine(owner_id):
            return []
        columns = "id,chat_id,token,title,with_files,message_count,created_at"
        return [_share(row) for row in _every(lambda: self.db.table("shares").select(columns).eq("owner_id", owner_id)
                                              .order("created_at", desc=True).order("id"))]

    def delete_share(self, owner_id: str, share_id: str) -> bool:
        if not self._mine(owner_id, share_id):
            return False
        return bool(self.db.table("shares").delete().eq("id", share_id).eq("owner_id", owner_id).execute().data)

    def chat_usage(self, owner_id: str, chat_id: str) -> list[ChatUsage]:
        if not self._mine(owner_id, chat_id):
            return []
        rows = _every(lambda: self.db.table("messages").select("model,prompt_tokens,completion_tokens")
                      .eq("chat_id", chat_id).eq("owner_id", owner_id).eq("role", "assistant").order("seq"))
        totals: dict[str | None, ChatUsage] = {}
        for row in rows:  # summed here: PostgREST's aggregates are off on Supabase unless enabled
            was = totals.get(row["model"], ChatUsage(row["model"], 0, 0, 0))
            totals[row["model"]] = ChatUsage(row["model"], was.replies + 1, was.prompt_tokens + (row["prompt_tokens"] or 0),
                                             was.completion_tokens + (row["completion_tokens"] or 0))
        return sorted(totals.values(), key=lambda usage: usage.model or "")

    def streaming_replies(self, owner_id: str) -> int:
        if not self._mine(owner_id):
            return 0
        # Compared with a limit of a few: their ids are a small answer (an index finds them),
        # and any number past one page is past every limit.
        return len(self.db.table("messages").select("id").eq("owner_id", owner_id).eq("status", STREAMING)
                   .limit(PAGE).execute().data)

    def update_message(self, owner_id: str, message_id: str, **changes: object) -> None:
        if self._mine(owner_id, message_id):
            self.db.table("messages").update(changes).eq("id", message_id).eq("owner_id", owner_id).execute()

    # Attachments
    def add_attachment(self, owner_id: str, message_id: str, name: str, content_type: str, size: int,
                       storage_key: str) -> Attachment:
        if not self._mine(owner_id, message_id):
            raise LookupError(message_id)
        owned = (self.db.table("messages").select("chat_id").eq("id", message_id).eq("owner_id", owner_id)
                 .execute().data)
        if not owned:
            raise LookupError(message_id)
        try:
            rows = self.db.table("attachments").insert({
                "message_id": message_id, "chat_id": owned[0]["chat_id"], "owner_id": owner_id,
                "storage_key": storage_key, "name": name, "content_type": content_type, "size": size,
            }).execute().data
        except APIError as error:
            if error.code == _RLS_REFUSED:
                raise LookupError(message_id) from None
            raise
        return _attachment(rows[0])

    def attachment(self, owner_id: str, attachment_id: str) -> Attachment | None:
        if not self._mine(owner_id, attachment_id):
            return None
        rows = (self.db.table("attachments").select("*").eq("id", attachment_id).eq("owner_id", owner_id)
                .execute().data)
        return _attachment(rows[0]) if rows else None

    def chat_attachments(self, owner_id: str, chat_id: str) -> list[Attachment]:
        if not self._mine(owner_id, chat_id):
            return []
        rows = _every(lambda: self.db.table("attachments").select("*").eq("chat_id", chat_id).eq("owner_id", owner_id)
                      .order("created_at").order("id"))
        return [_attachment(row) for row in rows]


class SupabaseSharedChats:
    """Share links' snapshots, for anyone: read with the publishable key alone (as anon),
    through shared_chat, which gives the one snapshot whose token it is given."""

    def __init__(self, anon_client: Client) -> None:
        self.db = anon_client

    def shared(self, token: str) -> Share | None:
        rows = self.db.rpc("shared_chat", {"share_token": token}).execute().data
        return _share(rows[0]) if rows else None


class SupabaseHousekeeping:
    """Leases and recovery, across users: one of the two uses of the secret key's client,
    which bypasses RLS (the other: session records, ``sessions.py``). Through SQL functions
    (supabase/migrations/*_leases.sql) that only ever renew a lease and mark the streaming
    replies of expired ones interrupted."""

    def __init__(self, service_client: Client) -> None:
        self.db = service_client

    def renew_lease(self, worker: str, seconds: float) -> None:
        self.db.rpc("renew_lease", {"worker_name": worker, "seconds": seconds}).execute()

    def end_lease(self, worker: str) -> None:
        self.db.rpc("end_lease", {"worker_name": worker}).execute()

    def sweep_replies(self, reason: str) -> int:
        return int(self.db.rpc("sweep_replies", {"reason": reason}).execute().data or 0)
