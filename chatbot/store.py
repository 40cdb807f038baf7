"""The storage seam: the records the app keeps and the contract a backend fulfils.

Every method that touches a chat or a message takes the owner's id and acts only
within that owner's data: a chat of someone else's is simply not found.
"""
from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeGuard

from .models.parameters import Parameters

# Message statuses. "streaming" is the only one that is not final.
STREAMING, COMPLETE, ERROR, STOPPED, INTERRUPTED = "streaming", "complete", "error", "stopped", "interrupted"


@dataclass(frozen=True)
class User:
    id: str
    email: str
    password_hash: str
    created_at: datetime
    role: str = "user"  # "user" or "admin" (accounts.directory)
    status: str = "active"  # "active", "pending" (awaits approval) or "disabled"


@dataclass(frozen=True)
class Chat:
    id: str
    owner_id: str
    title: str
    model: str
    system_prompt: str
    created_at: datetime
    updated_at: datetime
    current_leaf: str | None = None  # the last message of the version of the conversation shown
    parameters: Parameters = Parameters()  # how the model writes its replies in this chat
    pinned: bool = False  # kept at the top of the list
    archived: bool = False  # out of the list (in the archive), until unarchived
    folder_id: str | None = None  # the folder it is filed in, if any


@dataclass(frozen=True)
class Folder:
    """A user's named group of chats."""
    id: str
    owner_id: str
    name: str  # each of the owner's folders has its own (whatever the case of its letters)
    created_at: datetime


@dataclass(frozen=True)
class Attachment:
    id: str
    message_id: str
    name: str  # as uploaded, for display only
    content_type: str  # as recognised from the content, not as claimed by the upload
    size: int
    storage_key: str  # where the file store keeps it; made by the server

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


@dataclass(frozen=True)
class Message:
    id: str
    chat_id: str
    role: str  # "user" or "assistant"
    content: str
    status: str
    error: str | None
    model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    created_at: datetime
    seq: int = 0  # order of writing in the chat (a message comes after its parent)
    attachments: tuple[Attachment, ...] = ()
    worker: str | None = None  # the process writing it, while it streams
    parent_id: str | None = None  # the message it follows (None: the chat's first)
    finish_reason: str | None = None  # why the model ended it: "length" when its output limit cut it off
    # Which of its versions (the messages with its parent, oldest first) it is, and how many
    # there are: an edited message and a regenerated reply are versions beside the old ones.
    version: int = 1
    versions: int = 1

    def as_event(self) -> dict:
        """The message as live events carry it (plain JSON values), so that views can show
        it without reading it back from the store."""
        # Not dataclasses.asdict: it deep-copies every field, and this runs for every
        # message announced. The fields are plain values and the attachments' own.
        return {**self.__dict__, "created_at": self.created_at.isoformat(),
                "attachments": tuple(dict(a.__dict__) for a in self.attachments)}

    @classmethod
    def from_event(cls, data: dict) -> Message:
        return cls(**{**data, "created_at": datetime.fromisoformat(data["created_at"]),
                      "attachments": tuple(Attachment(**a) for a in data.get("attachments", ()))})


@dataclass(frozen=True)
class ChatUsage:
    """A chat's replies by one model (every version of them), and their tokens."""
    model: str | None
    replies: int
    prompt_tokens: int
    completion_tokens: int


# Around the words a search matched, in a hit's snippet: characters of Unicode's private use
# area, which no text is expected to hold, turned into <mark> only after the text is escaped.
MARK_START, MARK_END = "\ue000", "\ue001"


@dataclass(frozen=True)
class SearchHit:
    """A chat whose title, or a message of which, matched a search."""
    chat_id: str
    title: str  # the chat's
    snippet: str  # the words around those matched (between MARK_START and MARK_END), or the title
    created_at: datetime  # the message's; for a title, the chat's last update
    message_id: str | None = None  # None: the chat's title matched
    seq: int | None = None
    role: str | None = None


PREFIX_FROM = 3  # letters: a search's last word this long may begin a longer one


def as_tsquery(terms: list[str]) -> str:
    """Search terms as PostgreSQL's to_tsquery reads them: every one, the last a prefix if
    long enough. Each is quoted, so nothing in it is taken for the query's syntax."""
    return " & ".join(f"'{term}'" for term in terms) + (":*" if len(terms[-1]) >= PREFIX_FROM else "")


@dataclass(frozen=True)
class Preset:
    """A user's named way to start a chat: its system prompt, model and parameters."""
    id: str
    owner_id: str
    name: str  # each of the owner's presets has its own (whatever the case of its letters)
    system_prompt: str
    model: str
    parameters: Parameters
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Share:
    """A read-only snapshot of a chat (up to one of its messages) that anyone who has its link
    may read, with no account. A copy: what is said in the chat afterwards is not in it."""
    id: str
    chat_id: str
    token: str  # the link's secret: whoever has it may read the snapshot (new_share_token)
    title: str
    created_at: datetime
    with_files: bool  # the messages' attachments may be opened from it (if not, they are left out)
    message_count: int
    messages: tuple[Message, ...] = ()  # the snapshot, oldest first (left empty in the owner's list)


def new_share_token() -> str:
    """A share link's secret: 192 random bits, as 32 URL-safe characters."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class ChatImport:
    """A whole chat brought in from elsewhere: an export, a share, another app's history."""
    key: str  # where it came from ("chatgpt:<id>", "share:<id>"...): an owner imports each once
    title: str
    model: str
    created_at: datetime
    updated_at: datetime
    # Oldest first, each after its parent (parent_id: the id of one before it, or None); the
    # ids are the source's, only to say who follows whom: the store gives every one a new id.
    # Attachments carry storage keys whose files the caller has put in the owner's file store.
    messages: tuple[Message, ...]
    current_leaf: str | None = None  # the message shown (an id among them); None: the last
    system_prompt: str = ""
    parameters: Parameters = Parameters()
    archived: bool = False


@dataclass(frozen=True)
class Turn:
    """A question and its empty streaming reply as add_turn stored them, with what the
    reply needs next, read in the same step: one trip to the store for a send."""
    chat: Chat  # as of this turn
    question: Message
    answer: Message
    list_changed: bool  # the owner's chat list changes: the chat moves to its top (or, from send_message, is named)
    history: list[Message]  # the newest messages of the conversation it ends, its two included, oldest first
    repeated: bool = False  # a send seen before (its client id): this is the turn it made then


class DuplicateEmail(Exception):
    """An account with this email exists already."""


class DuplicateName(Exception):
    """The owner has another preset (or folder) of this name."""


class ReplyInProgress(Exception):
    """The chat already has a reply streaming: a second would interleave with it."""


class Users(Protocol):
    """Where local accounts live (on Supabase, Supabase Auth keeps the users instead)."""

    def add_user(self, email: str, password_hash: str, status: str = "active") -> User: ...
    def user_by_email(self, email: str) -> User | None: ...
    def user_by_id(self, user_id: str) -> User | None: ...
    def set_password_hash(self, user_id: str, password_hash: str) -> None: ...


class Store(Protocol):
    """What the services need from a database."""

    # Chats
    def add_chat(self, owner_id: str, title: str, model: str, system_prompt: str = "",
                 parameters: Parameters = Parameters()) -> Chat: ...
    def chats(self, owner_id: str, limit: int | None = None, archived: bool = False, filed: bool | None = None,
              offset: int = 0) -> list[Chat]:
        """The owner's chats (or, ``archived``, those in the archive), most recently updated
        first; with ``filed``, only those pinned or in a folder (True) or neither (False);
        ``offset`` of them skipped (a later page)."""
        ...
    def organise_chat(self, owner_id: str, chat_id: str, *, pinned: bool | None = None,
                      archived: bool | None = None, folder_id: str | None = None, unfile: bool = False) -> bool:
        """Pin or unpin, archive or unarchive the chat, file it in folder ``folder_id`` (or,
        ``unfile``, in none), without moving it in the list (its last update stays). Whether
        it is the owner's (and so is the folder)."""
        ...

    # Folders
    def add_folder(self, owner_id: str, name: str) -> Folder:
        """DuplicateName if the owner has a folder of that name already."""
        ...
    def folders(self, owner_id: str) -> list[Folder]: ...  # by name
    def rename_folder(self, owner_id: str, folder_id: str, name: str) -> Folder | None:
        """None if it is not the owner's; DuplicateName if another of theirs has that name."""
        ...
    def delete_folder(self, owner_id: str, folder_id: str) -> bool:
        """Delete the folder; its chats stay, in no folder."""
        ...
    def chat(self, owner_id: str, chat_id: str) -> Chat | None: ...
    def update_chat(self, owner_id: str, chat_id: str, **changes: str | Parameters) -> Chat | None: ...
    def retitle(self, owner_id: str, chat_id: str, expected: str, title: str) -> bool:
        """Give the chat ``title`` if its title is still ``expected`` (a title the user set
        meanwhile stays), without moving it in the list. Whether it did."""
        ...
    def delete_chat(self, owner_id: str, chat_id: str) -> bool: ...

    # Messages
    # A chat's messages are a tree: each follows its parent, and the conversation shown (and
    # given to the model) is the path from the first message to the chat's current leaf.
    def add_message(self, owner_id: str, chat_id: str, role: str, content: str,
                    status: str, model: str | None = None) -> Message:
        """Append a message after the chat's current leaf; it becomes the leaf."""
        ...
    def add_turn(self, owner_id: str, chat_id: str, content: str, model: str, worker: str,
                 history: int = 2, client_id: str | None = None, edit_of: str | None = None) -> Turn:
        """Store the user's message and an empty streaming reply after it, atomically, make
        the reply the chat's leaf, and read the ``history`` newest messages of the path to it.
        The message follows the current leaf or, with ``edit_of`` (a user message of the chat),
        is a new version of that one (it follows that one's parent). LookupError if the chat
        (or ``edit_of``) is not the owner's; ReplyInProgress if a reply is streaming already.
        With a ``client_id`` (the sender's id for this send) that this chat has seen, store
        nothing and return the turn it made then (``repeated``), whatever its reply's state."""
        ...
    def chat_sent_with(self, owner_id: str, client_id: str) -> str | None:
        """The chat into which the owner sent a message with ``client_id``, if they did."""
        ...
    def add_version(self, owner_id: str, chat_id: str, message_id: str, model: str, worker: str) -> Message:
        """Start an empty streaming reply as a new version of reply ``message_id`` (beside it,
        which stays) and make it the chat's leaf. LookupError if the reply is not the
        owner's, in this chat; ReplyInProgress if a reply is streaming already."""
        ...
    def resume_reply(self, owner_id: str, chat_id: str, message_id: str, worker: str) -> Message:
        """Make the chat's last reply, ``message_id``, streaming again for ``worker``, to be
        carried on (Continue) with what it has. LookupError if it is not the owner's reply
        at the chat's leaf; ReplyInProgress if a reply is streaming already."""
        ...
    def show_version(self, owner_id: str, chat_id: str, message_id: str, step: int) -> str | None:
        """Show the version ``step`` places from message ``message_id`` (-1: the one before):
        the chat's leaf becomes the newest message under it. The id of the version shown, or
        None if there is none there (or the message is not the owner's, in this chat)."""
        ...
    def messages(self, owner_id: str, chat_id: str, newest: int | None = None,
                 before: int | None = None) -> list[Message]:
        """The conversation shown: the path to the chat's current leaf, oldest first; with
        ``newest``, only that many of its latest; with ``before`` (the seq of a message on
        it), only those before that message (a page further back)."""
        ...
    def message(self, owner_id: str, message_id: str) -> Message | None: ...
    def all_messages(self, owner_id: str, chat_id: str) -> list[Message]:
        """Every message of the chat, every version of every branch, in the order they were
        written (a parent before its children), with their attachments."""
        ...
    def import_chats(self, owner_id: str, chats: list[ChatImport]) -> list[tuple[str, bool]]:
        """Store the chats whole, all of them or (on any error) none. For each, its id here and
        whether it is new: a chat whose ``key`` the owner imported before is not stored again
        (its id is the earlier one's)."""
        ...
    def imported(self, owner_id: str, keys: list[str]) -> dict[str, str]:
        """Of ``keys`` (ChatImport.key), those the owner has imported: each with its chat's id."""
        ...
    def chat_usage(self, owner_id: str, chat_id: str) -> list[ChatUsage]:
        """The chat's replies and their tokens, by model (every version counted: each was paid for)."""
        ...
    def streaming_replies(self, owner_id: str) -> int:
        """How many of the owner's replies are being written now, in all their chats."""
        ...
    def update_message(self, owner_id: str, message_id: str, **changes: object) -> None: ...

    def search(self, owner_id: str, terms: list[str], limit: int = 20) -> list[SearchHit]:
        """The owner's chats whose title, and messages (finished ones: not a reply still being
        written) whose text, hold every one of ``terms`` (words of letters and digits, any
        case; the last one, of PREFIX_FROM letters or more, may begin a word), newest first:
        at most ``limit`` messages, and the titles besides (at most ``limit`` of them too)."""
        ...

    # Presets
    def add_preset(self, owner_id: str, name: str, system_prompt: str, model: str,
                   parameters: Parameters) -> Preset:
        """DuplicateName if the owner has a preset of that name already."""
        ...
    def presets(self, owner_id: str) -> list[Preset]: ...  # by name
    def preset(self, owner_id: str, preset_id: str) -> Preset | None: ...
    def update_preset(self, owner_id: str, preset_id: str, **changes: str | Parameters) -> Preset | None:
        """The preset as changed; None if it is not the owner's; DuplicateName if renamed to
        the name of another."""
        ...
    def delete_preset(self, owner_id: str, preset_id: str) -> bool: ...

    # Share links
    def add_share(self, owner_id: str, chat_id: str, title: str, messages: list[Message], with_files: bool) -> Share:
        """Keep ``messages`` (finished ones of the chat) as a snapshot under a new token.
        LookupError if the chat is not the owner's."""
        ...
    def shares(self, owner_id: str) -> list[Share]: ...  # newest first, without their messages
    def delete_share(self, owner_id: str, share_id: str) -> bool:
        """Revoke the link: from now on it finds nothing."""
        ...

    # Attachments (the files themselves are in a FileStore, under ``storage_key``)
    def add_attachment(self, owner_id: str, message_id: str, name: str, content_type: str, size: int,
                       storage_key: str) -> Attachment:
        """LookupError if the message is not the owner's."""
        ...
    def attachment(self, owner_id: str, attachment_id: str) -> Attachment | None: ...
    def chat_attachments(self, owner_id: str, chat_id: str) -> list[Attachment]: ...


class SharedChats(Protocol):
    """What anyone, signed in or not, may read: the snapshot behind a share link."""

    def shared(self, token: str) -> Share | None:
        """The share with this token and its messages, unless revoked (or never made)."""
        ...


class Housekeeping(Protocol):
    """Which processes are alive, and recovery when one is not: across owners, so the
    server's own work, never a user's. A process holds a lease while it may write replies;
    the database's clock decides when a lease has run out, so instances need not agree on
    the time."""

    def renew_lease(self, worker: str, seconds: float) -> None:
        """``worker`` is alive for ``seconds`` more."""
        ...
    def end_lease(self, worker: str) -> None:
        """``worker`` is stopping: its replies need not wait for its lease to run out."""
        ...
    def sweep_replies(self, reason: str) -> int:
        """Mark interrupted (text kept) every streaming reply whose worker holds no lease
        that is still running; return how many."""
        ...


def is_uuid(value: object) -> TypeGuard[str]:
    """Ids are UUIDs: anything else names nothing (and never reaches a query)."""
    try:
        uuid.UUID(value)  # type: ignore[arg-type]
    except (ValueError, TypeError, AttributeError):
        return False
    return True
