"""The SQL store: SQLAlchemy Core over SQLite (the embedded default) or PostgreSQL."""
from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .database import BUSY_SECONDS, patient_methods
from .models.parameters import Parameters

from .store import (INTERRUPTED, STREAMING, Attachment, Chat, ChatImport, ChatUsage, DuplicateEmail, DuplicateName,
                    Folder, Message, Preset, ReplyInProgress, SearchHit, Share, Turn, User, is_uuid, new_share_token)

metadata = sa.MetaData()


class _Id(sa.Uuid):
    """A UUID kept as a string. Where the database has no UUID type (SQLite), the stock type
    stores the 32 hex digits and parses each one read back with uuid.UUID: a third of the
    cost of reading a message row. The ids this store writes are uuid4's, lowercase, so
    putting the dashes back is all that reading one needs."""

    cache_ok = True

    def __init__(self) -> None:
        super().__init__(as_uuid=False)

    def result_processor(self, dialect, coltype):
        if dialect.supports_native_uuid:
            return super().result_processor(dialect, coltype)
        return _dashed


def _dashed(digits: str | None) -> str | None:
    if digits is None:
        return None
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


users = sa.Table(
    "users", metadata,
    sa.Column("id", _Id(), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("role", sa.String(20), nullable=False, server_default="user"),  # accounts.directory
    sa.Column("status", sa.String(20), nullable=False, server_default="active"),
)

chats = sa.Table(
    "chats", metadata,
    sa.Column("id", _Id(), primary_key=True),
    sa.Column("owner_id", _Id(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("system_prompt", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("archived", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("current_leaf", _Id()),  # the last message of the version shown (messages form a tree)
    sa.Column("parameters", sa.Text, nullable=False, server_default="{}"),  # the model's, as JSON
    sa.Column("pinned", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("folder_id", _Id()),  # the folder it is filed in (the store empties a folder before deleting it)
    sa.Column("import_key", sa.String(200)),  # where an imported chat came from (ChatImport.key)
)

messages = sa.Table(
    "messages", metadata,
    sa.Column("id", _Id(), primary_key=True),
    sa.Column("chat_id", _Id(), sa.ForeignKey("chats.id", ondelete="CASCADE"), nullable=False),
    sa.Column("owner_id", _Id(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("model", sa.String(200)),
    sa.Column("prompt_tokens", sa.Integer),
    sa.Column("completion_tokens", sa.Integer),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),  # order within the chat; timestamps can tie
    sa.Column("worker", sa.String(255)),  # the process writing a streaming reply
    sa.Column("client_id", sa.String(64)),  # the sender's id for a question: a repeat is recognised
    sa.Column("parent_id", _Id()),  # the message it follows; None for a chat's first (and its versions)
    sa.Column("finish_reason", sa.String(20)),  # "length": the model's output limit cut it off
    sa.UniqueConstraint("chat_id", "seq", name="messages_chat_seq"),
    sa.Index("messages_one_streaming_per_chat", "chat_id", unique=True,
             sqlite_where=sa.text("status = 'streaming'"), postgresql_where=sa.text("status = 'streaming'")),
    sa.Index("messages_client_id", "owner_id", "client_id", unique=True),
    sa.Index("messages_streaming_by_owner", "owner_id",
             sqlite_where=sa.text("status = 'streaming'"), postgresql_where=sa.text("status = 'streaming'")),
    sa.Index("messages_children", "chat_id", "parent_id", "seq"),  # a message's versions; a chat's first ones
)

attachments = sa.Table(
    "attachments", metadata,
    sa.Column("id", _Id(), primary_key=True),
    sa.Column("message_id", _Id(), sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    sa.Column("chat_id", _Id(), sa.ForeignKey("chats.id", ondelete="CASCADE"), nullable=False),
    sa.Column("owner_id", _Id(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("storage_key", sa.String(255), nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# A user's named groups of chats.
folders = sa.Table(
    "folders", metadata,
    sa.Column("id", _Id(), primary_key=True),
    sa.Column("owner_id", _Id(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("folders_owner_name", folders.c.owner_id, sa.func.lower(folders.c.name), unique=True)

# A user's named ways to start a chat.
presets = sa.Table(
    "presets", metadata,
    sa.Column("id", _Id(), primary_key=True),
    sa.Column("owner_id", _Id(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("system_prompt", sa.Text, nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("parameters", sa.Text, nullable=False),  # as chats.parameters
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
# One name once per owner, whatever its case: "Coder" and "coder" would be two presets a
# person could not tell apart.
sa.Index("presets_owner_name", presets.c.owner_id, sa.func.lower(presets.c.name), unique=True)

# Share links: read-only snapshots of chats, found by their token.
shares = sa.Table(
    "shares", metadata,
    sa.Column("id", _Id(), primary_key=True),
    sa.Column("owner_id", _Id(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("chat_id", _Id(), sa.ForeignKey("chats.id", ondelete="CASCADE"), nullable=False),
    sa.Column("token", sa.String(64), nullable=False, unique=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("with_files", sa.Boolean, nullable=False),
    sa.Column("message_count", sa.Integer, nullable=False),
    sa.Column("messages", sa.Text, nullable=False),  # the snapshot: each message as Message.as_event gives it, as JSON
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Processes that may be writing replies, and until when (renewed while they live).
leases = sa.Table(
    "leases", metadata,
    sa.Column("worker", sa.String(255), primary_key=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


# Hot statements are built once with bind parameters: building a statement costs more
# than running it on SQLite, and these run several times for every message.
_p = sa.bindparam
_USER_BY_EMAIL = users.select().where(users.c.email == _p("email"))
_USER_BY_ID = users.select().where(users.c.id == _p("id"))
_CHATS = (chats.select().where(chats.c.owner_id == _p("owner"), chats.c.archived == _p("archived"))
          .order_by(chats.c.updated_at.desc(), chats.c.id))
_NEWEST_CHATS = _CHATS.limit(_p("limit"))
_CHAT = chats.select().where(chats.c.id == _p("id"), chats.c.owner_id == _p("owner"))
_TOUCH_CHAT = chats.update().where(chats.c.id == _p("chat")).values(updated_at=_p("stamp"), current_leaf=_p("leaf"))
# The chat's owner check, its last seq and its leaf in one statement: no row if the chat is not the owner's.
_LAST_SEQ = (sa.select(sa.func.coalesce(sa.func.max(messages.c.seq), 0))
             .where(messages.c.chat_id == chats.c.id).scalar_subquery())
_OWNED_LAST_SEQ = sa.select(_LAST_SEQ, chats.c.current_leaf).where(chats.c.id == _p("id"), chats.c.owner_id == _p("owner"))
_LEAF = sa.select(chats.c.current_leaf).where(chats.c.id == _p("chat"), chats.c.owner_id == _p("owner"))
# For a turn, with the chat itself and the id of the owner's newest chat (whether the list moves).
_newer = chats.alias("newer")
_NEWEST_CHAT_ID = (sa.select(_newer.c.id).where(_newer.c.owner_id == _p("owner"), _newer.c.archived == sa.false())
                   .order_by(_newer.c.updated_at.desc(), _newer.c.id).limit(1).scalar_subquery())
# Whether the chat has files at all: most have none, and then their history needs no look.
_HAS_FILES = sa.exists().where(attachments.c.chat_id == chats.c.id)
_TURN_CHAT = (sa.select(chats, _LAST_SEQ.label("last_seq"), _NEWEST_CHAT_ID.label("newest_id"),
                        _HAS_FILES.label("has_files"))
              .where(chats.c.id == _p("id"), chats.c.owner_id == _p("owner")))
# A message's columns in the order of Message's fields: a row becomes a Message by position
# (reading a row's columns by name costs more than the query on SQLite).
_MESSAGE_COLUMNS = [messages.c[name] for name in ("id", "chat_id", "role", "content", "status", "error", "model",
                                                  "prompt_tokens", "completion_tokens", "created_at", "seq",
                                                  "worker", "parent_id", "finish_reason")]
_sibling = messages.alias("sibling")


def _siblings(*condition) -> sa.ColumnElement:
    """How many messages share the message's parent (and ``condition``): its versions. Two
    index lookups, not one with IS NOT DISTINCT FROM, which PostgreSQL cannot look up."""
    def count(same_parent):
        return (sa.select(sa.func.count()).where(_sibling.c.chat_id == messages.c.chat_id, same_parent, *condition)
                .scalar_subquery())
    return sa.case((messages.c.parent_id.is_(None), count(_sibling.c.parent_id.is_(None))),
                   else_=count(_sibling.c.parent_id == messages.c.parent_id))


# ...and, for messages shown, which of its versions each is, and of how many.
_SHOWN_COLUMNS = [*_MESSAGE_COLUMNS, _siblings(_sibling.c.seq <= messages.c.seq), _siblings()]


def _path(columns: list) -> sa.Select:
    """The messages from ``start`` back towards the chat's first, at most ``limit`` of them,
    oldest first: a recursive walk up the parents, one index lookup a step."""
    walk = (sa.select(messages.c.id, messages.c.parent_id, sa.literal(1).label("depth"))
            .where(messages.c.id == _p("start"), messages.c.chat_id == _p("chat"), messages.c.owner_id == _p("owner"))
            .cte("path", recursive=True))
    up = messages.alias("up")
    walk = walk.union_all(sa.select(up.c.id, up.c.parent_id, walk.c.depth + 1)
                          .where(up.c.id == walk.c.parent_id, up.c.chat_id == _p("chat"), walk.c.depth < _p("limit")))
    return sa.select(*columns).select_from(messages.join(walk, messages.c.id == walk.c.id)).order_by(messages.c.seq)


_PATH, _SHOWN_PATH = _path(_MESSAGE_COLUMNS), _path(_SHOWN_COLUMNS)
_PARENT_AT = sa.select(messages.c.parent_id).where(messages.c.chat_id == _p("chat"), messages.c.owner_id == _p("owner"),
                                                   messages.c.seq == _p("seq"))
_MESSAGE = sa.select(*_SHOWN_COLUMNS).where(messages.c.id == _p("id"), messages.c.owner_id == _p("owner"))
_IN_CHAT = sa.select(messages.c.parent_id, messages.c.role).where(
    messages.c.id == _p("id"), messages.c.chat_id == _p("chat"), messages.c.owner_id == _p("owner"))
_VERSIONS_OF_ROOT = (sa.select(messages.c.id).where(messages.c.chat_id == _p("chat"), messages.c.parent_id.is_(None))
                     .order_by(messages.c.seq))
_VERSIONS_OF = (sa.select(messages.c.id).where(messages.c.chat_id == _p("chat"), messages.c.parent_id == _p("parent"))
                .order_by(messages.c.seq))


def _newest_under() -> sa.Select:
    """The newest message under ``top`` (itself included): the leaf of its newest branch."""
    down = (sa.select(messages.c.id, messages.c.seq)
            .where(messages.c.id == _p("top"), messages.c.chat_id == _p("chat"), messages.c.owner_id == _p("owner"))
            .cte("down", recursive=True))
    child = messages.alias("child")
    down = down.union_all(sa.select(child.c.id, child.c.seq)
                          .where(child.c.parent_id == down.c.id, child.c.chat_id == _p("chat")))
    return sa.select(down.c.id).order_by(down.c.seq.desc()).limit(1)


_NEWEST_UNDER = _newest_under()
_SHOW = chats.update().where(chats.c.id == _p("chat"), chats.c.owner_id == _p("owner")).values(current_leaf=_p("leaf"))
_CHAT_ATTACHMENTS = (attachments.select().where(attachments.c.chat_id == _p("chat"), attachments.c.owner_id == _p("owner"))
                     .order_by(attachments.c.created_at, attachments.c.id))
_MESSAGE_ATTACHMENTS = (attachments.select()
                        .where(attachments.c.message_id == _p("message"), attachments.c.owner_id == _p("owner"))
                        .order_by(attachments.c.created_at, attachments.c.id))
_SENT = sa.select(*_MESSAGE_COLUMNS).where(messages.c.owner_id == _p("owner"), messages.c.chat_id == _p("chat"),
                                           messages.c.client_id == _p("client"))
_SENT_INTO = sa.select(messages.c.chat_id).where(messages.c.owner_id == _p("owner"), messages.c.client_id == _p("client"))
_MESSAGE_AT = sa.select(*_MESSAGE_COLUMNS).where(messages.c.chat_id == _p("chat"), messages.c.owner_id == _p("owner"),
                                                 messages.c.seq == _p("seq"))
_STREAMING_REPLIES = (sa.select(sa.func.count()).select_from(messages)
                      .where(messages.c.owner_id == _p("owner"), messages.c.status == STREAMING))
_CHAT_USAGE = (sa.select(messages.c.model, sa.func.count(), sa.func.coalesce(sa.func.sum(messages.c.prompt_tokens), 0),
                         sa.func.coalesce(sa.func.sum(messages.c.completion_tokens), 0))
               .where(messages.c.chat_id == _p("chat"), messages.c.owner_id == _p("owner"), messages.c.role == "assistant")
               .group_by(messages.c.model).order_by(messages.c.model))
_OWNED_MESSAGE = sa.select(messages.c.chat_id).where(messages.c.id == _p("id"), messages.c.owner_id == _p("owner"))
_ALL_MESSAGES = (sa.select(*_SHOWN_COLUMNS).where(messages.c.chat_id == _p("chat"), messages.c.owner_id == _p("owner"))
                 .order_by(messages.c.seq))
_SHARES = (sa.select(*[c for c in shares.c if c.name != "messages"]).where(shares.c.owner_id == _p("owner"))
           .order_by(shares.c.created_at.desc(), shares.c.id))
_SHARED = shares.select().where(shares.c.token == _p("token"))
_IMPORTED = sa.select(chats.c.import_key, chats.c.id).where(chats.c.owner_id == _p("owner"),
                                                            chats.c.import_key.in_(_p("keys", expanding=True)))


@lru_cache(maxsize=64)
def _update_message(columns: tuple[str, ...]):
    """UPDATE messages SET <columns> for one owned message, built once per set of columns."""
    return (messages.update().where(messages.c.id == _p("message"), messages.c.owner_id == _p("owner"))
            .values({column: _p(f"new_{column}") for column in columns}))


def now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _user(row) -> User:
    return User(row.id, row.email, row.password_hash, _aware(row.created_at), row.role, row.status)


def _chat(row) -> Chat:
    return Chat(row.id, row.owner_id, row.title, row.model, row.system_prompt,
                _aware(row.created_at), _aware(row.updated_at), row.current_leaf, Parameters.from_json(row.parameters),
                bool(row.pinned), bool(row.archived), row.folder_id)


def _preset(row) -> Preset:
    return Preset(row.id, row.owner_id, row.name, row.system_prompt, row.model, Parameters.from_json(row.parameters),
                  _aware(row.created_at), _aware(row.updated_at))


def _message(row, files: tuple[Attachment, ...] = ()) -> Message:
    # _MESSAGE_COLUMNS, and maybe the version and versions of _SHOWN_COLUMNS
    *fields, created_at, seq, worker, parent_id, finish_reason = row[:14]
    return Message(*fields, _aware(created_at), seq, files, worker, parent_id, finish_reason, *row[14:])


def _attachment(row) -> Attachment:
    return Attachment(row.id, row.message_id, row.name, row.content_type, row.size, row.storage_key)


def _share(row, snapshot: bool = False) -> Share:
    return Share(row.id, row.chat_id, row.token, row.title, _aware(row.created_at), bool(row.with_files),
                 row.message_count, snapshot_of(row.messages) if snapshot else ())


def snapshot_json(messages: list[Message]) -> str:
    """A share's messages as kept: each as Message.as_event gives it."""
    return json.dumps([message.as_event() for message in messages], ensure_ascii=False)


def snapshot_of(stored: str | list) -> tuple[Message, ...]:
    return tuple(Message.from_event(data) for data in (json.loads(stored) if isinstance(stored, str) else stored))


@patient_methods
class SQLStore:
    """The Store, Users and Housekeeping contracts on SQLAlchemy Core. Every chat and message
    query is scoped by owner."""

    def __init__(self, engine: Engine, busy_seconds: float = BUSY_SECONDS) -> None:
        self.engine = engine
        self.busy_seconds = busy_seconds

    # Users
    def add_user(self, email: str, password_hash: str, status: str = "active") -> User:
        values = dict(id=str(uuid.uuid4()), email=email, password_hash=password_hash, created_at=now(),
                      role="user", status=status)
        try:
            with self.engine.begin() as db:
                db.execute(users.insert().values(**values))
        except sa.exc.IntegrityError:
            raise DuplicateEmail(email) from None
        return User(**values)

    def user_by_email(self, email: str) -> User | None:
        with self.engine.connect() as db:
            row = db.execute(_USER_BY_EMAIL, {"email": email}).first()
        return _user(row) if row else None

    def user_by_id(self, user_id: str) -> User | None:
        if not is_uuid(user_id):
            return None
        with self.engine.connect() as db:
            row = db.execute(_USER_BY_ID, {"id": user_id}).first()
        return _user(row) if row else None

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        with self.engine.begin() as db:
            db.execute(users.update().where(users.c.id == user_id).values(password_hash=password_hash))

    # Chats
    def add_chat(self, owner_id: str, title: str, model: str, system_prompt: str = "",
                 parameters: Parameters = Parameters()) -> Chat:
        stamp = now()
        chat = Chat(str(uuid.uuid4()), owner_id, title, model, system_prompt, stamp, stamp, parameters=parameters)
        with self.engine.begin() as db:
            db.execute(chats.insert().values(
                id=chat.id, owner_id=owner_id, title=title, model=model, system_prompt=system_prompt,
                parameters=parameters.as_json(), created_at=stamp, updated_at=stamp))
        return chat

    def chats(self, owner_id: str, limit: int | None = None, archived: bool = False, filed: bool | None = None,
              offset: int = 0) -> list[Chat]:
        query, values = (_CHATS, {"owner": owner_id, "archived": archived}) if limit is None else \
            (_NEWEST_CHATS, {"owner": owner_id, "archived": archived, "limit": limit})
        if filed is not None:
            organised = sa.or_(chats.c.pinned == sa.true(), chats.c.folder_id.is_not(None))
            query = query.where(organised if filed else sa.not_(organised))
        if offset:
            query = query.offset(offset)
        with self.engine.connect() as db:
            return [_chat(row) for row in db.execute(query, values)]

    def chat(self, owner_id: str, chat_id: str) -> Chat | None:
        if not is_uuid(chat_id):
            return None
        with self.engine.connect() as db:
            row = db.execute(_CHAT, {"id": chat_id, "owner": owner_id}).first()
        return _chat(row) if row else None

    def update_chat(self, owner_id: str, chat_id: str, **changes: str | Parameters) -> Chat | None:
        changes = {name: value.as_json() if isinstance(value, Parameters) else value for name, value in changes.items()}
        with self.engine.begin() as db:
            db.execute(chats.update()
                       .where(chats.c.id == chat_id, chats.c.owner_id == owner_id)
                       .values(**changes, updated_at=now()))
        return self.chat(owner_id, chat_id)

    def organise_chat(self, owner_id: str, chat_id: str, *, pinned: bool | None = None,
                      archived: bool | None = None, folder_id: str | None = None, unfile: bool = False) -> bool:
        if not is_uuid(chat_id) or (folder_id is not None and not is_uuid(folder_id)):
            return False
        changes: dict[str, object] = {name: value for name, value in (("pinned", pinned), ("archived", archived))
                                      if value is not None}
        if folder_id is not None or unfile:
            changes["folder_id"] = folder_id
        if not changes:
            return self.chat(owner_id, chat_id) is not None
        owned = [chats.c.id == chat_id, chats.c.owner_id == owner_id]
        if folder_id is not None:  # only into a folder of the owner's
            owned.append(sa.exists().where(folders.c.id == folder_id, folders.c.owner_id == owner_id))
        with self.engine.begin() as db:
            return db.execute(chats.update().where(*owned).values(**changes)).rowcount == 1

    # Folders
    def add_folder(self, owner_id: str, name: str) -> Folder:
        folder = Folder(str(uuid.uuid4()), owner_id, name, now())
        try:
            with self.engine.begin() as db:
                db.execute(folders.insert().values(id=folder.id, owner_id=owner_id, name=name,
                                                   created_at=folder.created_at))
        except sa.exc.IntegrityError:
            raise DuplicateName(name) from None
        return folder

    def folders(self, owner_id: str) -> list[Folder]:
        with self.engine.connect() as db:
            return [Folder(row.id, row.owner_id, row.name, _aware(row.created_at)) for row in db.execute(
                folders.select().where(folders.c.owner_id == owner_id)
                .order_by(sa.func.lower(folders.c.name), folders.c.id))]

    def rename_folder(self, owner_id: str, folder_id: str, name: str) -> Folder | None:
        if not is_uuid(folder_id):
            return None
        try:
            with self.engine.begin() as db:
                row = db.execute(folders.update().where(folders.c.id == folder_id, folders.c.owner_id == owner_id)
                                 .values(name=name).returning(*folders.c)).first()
        except sa.exc.IntegrityError:
            raise DuplicateName(name) from None
        return Folder(row.id, row.owner_id, row.name, _aware(row.created_at)) if row else None

    def delete_folder(self, owner_id: str, folder_id: str) -> bool:
        if not is_uuid(folder_id):
            return False
        with self.engine.begin() as db:
            db.execute(chats.update().where(chats.c.folder_id == folder_id, chats.c.owner_id == owner_id)
                       .values(folder_id=None))
            return db.execute(folders.delete().where(folders.c.id == folder_id,
                                                     folders.c.owner_id == owner_id)).rowcount == 1

    def retitle(self, owner_id: str, chat_id: str, expected: str, title: str) -> bool:
        if not is_uuid(chat_id):
            return False
        with self.engine.begin() as db:
            return db.execute(chats.update().where(chats.c.id == chat_id, chats.c.owner_id == owner_id,
                                                   chats.c.title == expected).values(title=title)).rowcount == 1

    def delete_chat(self, owner_id: str, chat_id: str) -> bool:
        if not is_uuid(chat_id):
            return False
        with self.engine.begin() as db:
            # Children first: SQLite enforces ON DELETE CASCADE only with a pragma.
            db.execute(attachments.delete().where(attachments.c.chat_id == chat_id,
                                                  attachments.c.owner_id == owner_id))
            db.execute(shares.delete().where(shares.c.chat_id == chat_id, shares.c.owner_id == owner_id))
            db.execute(messages.delete().where(messages.c.chat_id == chat_id, messages.c.owner_id == owner_id))
            result = db.execute(chats.delete().where(chats.c.id == chat_id, chats.c.owner_id == owner_id))
        return result.rowcount == 1

    # Presets
    def add_preset(self, owner_id: str, name: str, system_prompt: str, model: str,
                   parameters: Parameters) -> Preset:
        stamp = now()
        preset = Preset(str(uuid.uuid4()), owner_id, name, system_prompt, model, parameters, stamp, stamp)
        try:
            with self.engine.begin() as db:
                db.execute(presets.insert().values(
                    id=preset.id, owner_id=owner_id, name=name, system_prompt=system_prompt, model=model,
                    parameters=parameters.as_json(), created_at=stamp, updated_at=stamp))
        except sa.exc.IntegrityError:
            raise DuplicateName(name) from None
        return preset

    def presets(self, owner_id: str) -> list[Preset]:
        with self.engine.connect() as db:
            return [_preset(row) for row in db.execute(
                presets.select().where(presets.c.owner_id == owner_id)
                .order_by(sa.func.lower(presets.c.name), presets.c.id))]

    def preset(self, owner_id: str, preset_id: str) -> Preset | None:
        if not is_uuid(preset_id):
            return None
        with self.engine.connect() as db:
            row = db.execute(presets.select().where(presets.c.id == preset_id, presets.c.owner_id == owner_id)).first()
        return _preset(row) if row else None

    def update_preset(self, owner_id: str, preset_id: str, **changes: str | Parameters) -> Preset | None:
        if not is_uuid(preset_id):
            return None
        changes = {name: value.as_json() if isinstance(value, Parameters) else value for name, value in changes.items()}
        try:
            with self.engine.begin() as db:
                row = db.execute(presets.update().where(presets.c.id == preset_id, presets.c.owner_id == owner_id)
                                 .values(**changes, updated_at=now()).returning(*presets.c)).first()
        except sa.exc.IntegrityError:
            raise DuplicateName(changes.get("name", "")) from None
        return _preset(row) if row else None

    def delete_preset(self, owner_id: str, preset_id: str) -> bool:
        if not is_uuid(preset_id):
            return False
        with self.engine.begin() as db:
            return db.execute(presets.delete().where(presets.c.id == preset_id,
                                                     presets.c.owner_id == owner_id)).rowcount == 1

    # Messages: a tree in each chat (see Store)
    def add_message(self, owner_id: str, chat_id: str, role: str, content: str,
                    status: str, model: str | None = None) -> Message:
        with self.engine.begin() as db:
            return self._insert(db, owner_id, chat_id, [(role, content, status, model, None)])[0]

    def add_turn(self, owner_id: str, chat_id: str, content: str, model: str, worker: str,
                 history: int = 2, client_id: str | None = None, edit_of: str | None = None) -> Turn:
        if not is_uuid(chat_id) or (edit_of is not None and not is_uuid(edit_of)):
            raise LookupError(chat_id)
        try:
            with self.engine.begin() as db:  # both or neither
                row = db.execute(_TURN_CHAT, {"id": chat_id, "owner": owner_id}).first()
                if row is None:
                    raise LookupError(chat_id)
                if client_id is not None and (sent := self._sent(db, owner_id, chat_id, client_id)):
                    return self._repeated(db, row, sent, history)
                parent, versions = row.current_leaf, 1
                if edit_of is not None:  # a new version of that message: it follows that one's parent
                    edited = db.execute(_IN_CHAT, {"id": edit_of, "chat": chat_id, "owner": owner_id}).first()
                    if edited is None or edited.role != "user":
                        raise LookupError(edit_of)
                    parent, versions = edited.parent_id, len(self._versions(db, chat_id, edited.parent_id)) + 1
                question, answer = self._insert(db, owner_id, chat_id, [
                    ("user", content, "complete", None, None), ("assistant", "", STREAMING, model, worker)],
                    place=(row.last_seq, parent), client_id=client_id, versions=versions)
                newest = self._path(db, owner_id, chat_id, history, start=answer.id, files=row.has_files)
        except sa.exc.IntegrityError:
            # The same client id a moment ago (from another worker), or a reply still streaming.
            with self.engine.connect() as db:
                sent = self._sent(db, owner_id, chat_id, client_id) if client_id is not None else None
                if sent is not None:
                    return self._repeated(db, db.execute(_TURN_CHAT, {"id": chat_id, "owner": owner_id}).first(),
                                          sent, history)
            raise ReplyInProgress(chat_id) from None
        return Turn(_chat(row), question, answer, row.newest_id != row.id, newest)

    def _sent(self, db, owner_id: str, chat_id: str, client_id: str) -> Message | None:
        """The question sent with ``client_id`` into this chat, if it was."""
        row = db.execute(_SENT, {"owner": owner_id, "chat": chat_id, "client": client_id}).first()
        return _message(row) if row else None

    def _repeated(self, db, row, question: Message, history: int) -> Turn:
        """The turn a repeated send made the first time: its question and the reply after it."""
        answer = _message(db.execute(_MESSAGE_AT, {"chat": question.chat_id, "owner": row.owner_id,
                                                   "seq": question.seq + 1}).first())
        newest = self._path(db, row.owner_id, row.id, history, start=answer.id, files=row.has_files)
        return Turn(_chat(row), question, answer, False, newest, repeated=True)

    def chat_sent_with(self, owner_id: str, client_id: str) -> str | None:
        with self.engine.connect() as db:
            return db.execute(_SENT_INTO, {"owner": owner_id, "client": client_id}).scalar_one_or_none()

    def add_version(self, owner_id: str, chat_id: str, message_id: str, model: str, worker: str) -> Message:
        if not (is_uuid(chat_id) and is_uuid(message_id)):
            raise LookupError(message_id)
        try:
            with self.engine.begin() as db:
                reply = db.execute(_IN_CHAT, {"id": message_id, "chat": chat_id, "owner": owner_id}).first()
                if reply is None or reply.role != "assistant":
                    raise LookupError(message_id)
                versions = len(self._versions(db, chat_id, reply.parent_id)) + 1
                last = db.execute(_OWNED_LAST_SEQ, {"id": chat_id, "owner": owner_id}).first()[0]
                return self._insert(db, owner_id, chat_id, [("assistant", "", STREAMING, model, worker)],
                                    place=(last, reply.parent_id), versions=versions)[0]
        except sa.exc.IntegrityError:
            raise ReplyInProgress(chat_id) from None

    def resume_reply(self, owner_id: str, chat_id: str, message_id: str, worker: str) -> Message:
        if not (is_uuid(chat_id) and is_uuid(message_id)):
            raise LookupError(message_id)
        try:
            with self.engine.begin() as db:
                row = db.execute(_MESSAGE, {"id": message_id, "owner": owner_id}).first()
                leaf = db.execute(_LEAF, {"chat": chat_id, "owner": owner_id}).scalar()
                if row is None or row.role != "assistant" or leaf != message_id:
                    raise LookupError(message_id)
                db.execute(_update_message(("finish_reason", "status", "worker")),
                           {"message": message_id, "owner": owner_id, "new_finish_reason": None,
                            "new_status": STREAMING, "new_worker": worker})
        except sa.exc.IntegrityError:
            raise ReplyInProgress(chat_id) from None
        return replace(_message(row), status=STREAMING, worker=worker, finish_reason=None)

    def show_version(self, owner_id: str, chat_id: str, message_id: str, step: int) -> str | None:
        if not (is_uuid(chat_id) and is_uuid(message_id)):
            return None
        with self.engine.begin() as db:
            shown = db.execute(_IN_CHAT, {"id": message_id, "chat": chat_id, "owner": owner_id}).first()
            if shown is None:
                return None
            versions = self._versions(db, chat_id, shown.parent_id)
            place = versions.index(message_id) + step
            if not 0 <= place < len(versions):
                return None
            leaf = db.execute(_NEWEST_UNDER, {"top": versions[place], "chat": chat_id, "owner": owner_id}).scalar()
            db.execute(_SHOW, {"chat": chat_id, "owner": owner_id, "leaf": leaf})
            return versions[place]

    @staticmethod
    def _versions(db, chat_id: str, parent_id: str | None) -> list[str]:
        """The ids of the messages that follow ``parent_id`` (None: the chat's first ones), oldest first."""
        if parent_id is None:
            return list(db.execute(_VERSIONS_OF_ROOT, {"chat": chat_id}).scalars())
        return list(db.execute(_VERSIONS_OF, {"chat": chat_id, "parent": parent_id}).scalars())

    def _insert(self, db, owner_id: str, chat_id: str, rows: list[tuple], place: tuple | None = None,
                client_id: str | None = None, versions: int = 1) -> list[Message]:
        """Append (role, content, status, model, worker) rows to an owned chat, in one go,
        each following the one before; the last becomes the chat's leaf. ``place``: the
        chat's last seq and the first row's parent, if the caller has just read them (with
        the owner check); if not, the rows follow the chat's leaf. ``client_id``: the
        sender's id for the first row, which makes a repeat of it fail; ``versions``: how
        many versions the first row's parent now has (it is the newest)."""
        if place is None:
            place = db.execute(_OWNED_LAST_SEQ, {"id": chat_id, "owner": owner_id}).first()
            if place is None:
                raise LookupError(chat_id)
        last, parent = place
        stamp = now()
        added: list[Message] = []
        for n, (role, content, status, model, worker) in enumerate(rows, start=1):
            added.append(Message(str(uuid.uuid4()), chat_id, role, content, status, None, model, None, None, stamp,
                                 last + n, worker=worker, parent_id=added[-1].id if added else parent,
                                 version=versions if n == 1 else 1, versions=versions if n == 1 else 1))
        db.execute(messages.insert(), [
            dict(id=m.id, chat_id=chat_id, owner_id=owner_id, role=m.role, content=m.content, status=m.status,
                 model=m.model, created_at=stamp, seq=m.seq, worker=m.worker, parent_id=m.parent_id,
                 client_id=client_id if n == 0 else None)
            for n, m in enumerate(added)])
        db.execute(_TOUCH_CHAT, {"chat": chat_id, "stamp": stamp, "leaf": added[-1].id})
        return added

    def messages(self, owner_id: str, chat_id: str, newest: int | None = None,
                 before: int | None = None) -> list[Message]:
        if not is_uuid(chat_id):
            return []
        with self.engine.connect() as db:
            if before is not None:
                start = db.execute(_PARENT_AT, {"chat": chat_id, "owner": owner_id, "seq": before}).scalar()
            else:
                start = db.execute(_LEAF, {"chat": chat_id, "owner": owner_id}).scalar()
            return self._path(db, owner_id, chat_id, newest, start=start, shown=True) if start else []

    @staticmethod
    def _path(db, owner_id: str, chat_id: str, newest: int | None, start: str, files: bool = True,
              shown: bool = False) -> list[Message]:
        """The ``newest`` messages (all: None) of the path ending at ``start``, oldest first;
        ``shown``: with their versions. (``files``: False if the chat is known to have no attachments.)"""
        if newest is not None and newest <= 0:
            return []
        rows = db.execute(_SHOWN_PATH if shown else _PATH, {"start": start, "chat": chat_id, "owner": owner_id,
                                                            "limit": newest if newest is not None else 2 ** 31 - 1}).all()
        # The chat's attachments are few: one query for all of them beats a list of ids.
        if not (rows and files):
            return [_message(row) for row in rows]
        attached: dict[str, list[Attachment]] = {}
        for row in db.execute(_CHAT_ATTACHMENTS, {"chat": chat_id, "owner": owner_id}):
            attached.setdefault(row.message_id, []).append(_attachment(row))
        return [_message(row, tuple(attached.get(row.id, ()))) for row in rows]

    def message(self, owner_id: str, message_id: str) -> Message | None:
        if not is_uuid(message_id):
            return None
        with self.engine.connect() as db:
            row = db.execute(_MESSAGE, {"id": message_id, "owner": owner_id}).first()
            if row is None:
                return None
            files = db.execute(_MESSAGE_ATTACHMENTS, {"message": message_id, "owner": owner_id})
            return _message(row, tuple(_attachment(f) for f in files))

    def all_messages(self, owner_id: str, chat_id: str) -> list[Message]:
        if not is_uuid(chat_id):
            return []
        with self.engine.connect() as db:
            attached: dict[str, list[Attachment]] = {}
            for row in db.execute(_CHAT_ATTACHMENTS, {"chat": chat_id, "owner": owner_id}):
                attached.setdefault(row.message_id, []).append(_attachment(row))
            return [_message(row, tuple(attached.get(row.id, ())))
                    for row in db.execute(_ALL_MESSAGES, {"chat": chat_id, "owner": owner_id})]

    def imported(self, owner_id: str, keys: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        with self.engine.connect() as db:
            for start in range(0, len(keys), 500):  # within every database's limit of parameters
                found.update(db.execute(_IMPORTED, {"owner": owner_id, "keys": keys[start:start + 500]}).all())
        return found

    def import_chats(self, owner_id: str, chats_in: list[ChatImport]) -> list[tuple[str, bool]]:
        keys = [chat.key for chat in chats_in]
        with self.engine.begin() as db:  # all of them or none
            known: dict[str, str] = {}
            for start in range(0, len(keys), 500):
                known.update(db.execute(_IMPORTED, {"owner": owner_id, "keys": keys[start:start + 500]}).all())
            done: list[tuple[str, bool]] = []
            for chat in chats_in:
                if chat.key in known:
                    done.append((known[chat.key], False))
                    continue
                known[chat.key] = chat_id = str(uuid.uuid4())
                new_ids = {message.id: str(uuid.uuid4()) for message in chat.messages}
                leaf = new_ids.get(chat.current_leaf or "") or (new_ids[chat.messages[-1].id] if chat.messages else None)
                db.execute(chats.insert().values(
                    id=chat_id, owner_id=owner_id, title=chat.title, model=chat.model, system_prompt=chat.system_prompt,
                    parameters=chat.parameters.as_json(), created_at=chat.created_at, updated_at=chat.updated_at,
                    archived=chat.archived, current_leaf=leaf, import_key=chat.key))
                if chat.messages:
                    db.execute(messages.insert(), [
                        dict(id=new_ids[m.id], chat_id=chat_id, owner_id=owner_id, role=m.role, content=m.content,
                             status=m.status, error=m.error, model=m.model, prompt_tokens=m.prompt_tokens,
                             completion_tokens=m.completion_tokens, created_at=m.created_at, seq=seq,
                             parent_id=new_ids[m.parent_id] if m.parent_id else None, finish_reason=m.finish_reason)
                        for seq, m in enumerate(chat.messages, start=1)])
                files = [(m, a) for m in chat.messages for a in m.attachments]
                if files:
                    db.execute(attachments.insert(), [
                        dict(id=str(uuid.uuid4()), message_id=new_ids[m.id], chat_id=chat_id, owner_id=owner_id,
                             storage_key=a.storage_key, name=a.name, content_type=a.content_type, size=a.size,
                             created_at=m.created_at) for m, a in files])
                done.append((chat_id, True))
        return done

    def chat_usage(self, owner_id: str, chat_id: str) -> list[ChatUsage]:
        if not is_uuid(chat_id):
            return []
        with self.engine.connect() as db:
            return [ChatUsage(row[0], int(row[1]), int(row[2]), int(row[3])) for row in db.execute(_CHAT_USAGE, {
                "chat": chat_id, "owner": owner_id})]

    def search(self, owner_id: str, terms: list[str], limit: int = 20) -> list[SearchHit]:
        from . import sqlsearch  # (which builds on this module's column types)

        with self.engine.connect() as db:
            return sqlsearch.search(db, owner_id, terms, limit)

    def streaming_replies(self, owner_id: str) -> int:
        with self.engine.connect() as db:
            return db.execute(_STREAMING_REPLIES, {"owner": owner_id}).scalar_one()

    def update_message(self, owner_id: str, message_id: str, **changes: object) -> None:
        statement = _update_message(tuple(sorted(changes)))
        with self.engine.begin() as db:
            db.execute(statement, {"message": message_id, "owner": owner_id,
                                   **{f"new_{column}": value for column, value in changes.items()}})


    # Share links
    def add_share(self, owner_id: str, chat_id: str, title: str, messages: list[Message], with_files: bool) -> Share:
        share = Share(str(uuid.uuid4()), chat_id, new_share_token(), title, now(), with_files, len(messages),
                      tuple(messages))
        with self.engine.begin() as db:
            if not is_uuid(chat_id) or db.execute(_CHAT, {"id": chat_id, "owner": owner_id}).first() is None:
                raise LookupError(chat_id)
            db.execute(shares.insert().values(
                id=share.id, owner_id=owner_id, chat_id=chat_id, token=share.token, title=title, with_files=with_files,
                message_count=len(messages), messages=snapshot_json(messages), created_at=share.created_at))
        return share

    def shares(self, owner_id: str) -> list[Share]:
        with self.engine.connect() as db:
            return [_share(row) for row in db.execute(_SHARES, {"owner": owner_id})]

    def delete_share(self, owner_id: str, share_id: str) -> bool:
        if not is_uuid(share_id):
            return False
        with self.engine.begin() as db:
            return db.execute(shares.delete().where(shares.c.id == share_id,
                                                    shares.c.owner_id == owner_id)).rowcount == 1

    def shared(self, token: str) -> Share | None:
        with self.engine.connect() as db:
            row = db.execute(_SHARED, {"token": token}).first()
        return _share(row, snapshot=True) if row else None

    # Attachments
    def add_attachment(self, owner_id: str, message_id: str, name: str, content_type: str, size: int,
                       storage_key: str) -> Attachment:
        attachment = Attachment(str(uuid.uuid4()), message_id, name, content_type, size, storage_key)
        with self.engine.begin() as db:
            chat_id = db.execute(_OWNED_MESSAGE, {"id": message_id, "owner": owner_id}).scalar() \
                if is_uuid(message_id) else None
            if chat_id is None:
                raise LookupError(message_id)
            db.execute(attachments.insert().values(
                id=attachment.id, message_id=message_id, chat_id=chat_id, owner_id=owner_id, storage_key=storage_key,
                name=name, content_type=content_type, size=size, created_at=now()))
        return attachment

    def attachment(self, owner_id: str, attachment_id: str) -> Attachment | None:
        if not is_uuid(attachment_id):
            return None
        with self.engine.connect() as db:
            row = db.execute(attachments.select().where(attachments.c.id == attachment_id,
                                                        attachments.c.owner_id == owner_id)).first()
        return _attachment(row) if row else None

    def chat_attachments(self, owner_id: str, chat_id: str) -> list[Attachment]:
        if not is_uuid(chat_id):
            return []
        with self.engine.connect() as db:
            return [_attachment(row) for row in db.execute(_CHAT_ATTACHMENTS, {"chat": chat_id, "owner": owner_id})]

    # Leases and recovery: these act across owners, for the server itself.
    def _clock(self):
        """The database's time on PostgreSQL, which instances on several machines share;
        SQLite serves one machine, whose clock it is."""
        return sa.func.now() if self.engine.dialect.name == "postgresql" else now()

    def renew_lease(self, worker: str, seconds: float) -> None:
        until = self._clock() + timedelta(seconds=seconds)
        with self.engine.begin() as db:
            if db.execute(leases.update().where(leases.c.worker == worker).values(expires_at=until)).rowcount == 0:
                db.execute(leases.insert().values(worker=worker, expires_at=until))

    def end_lease(self, worker: str) -> None:
        with self.engine.begin() as db:
            db.execute(leases.delete().where(leases.c.worker == worker))

    def sweep_replies(self, reason: str) -> int:
        stamp = self._clock()
        alive = sa.select(leases.c.worker).where(leases.c.expires_at > stamp)
        with self.engine.begin() as db:
            swept = db.execute(messages.update()
                               .where(messages.c.status == STREAMING,
                                      sa.or_(messages.c.worker.is_(None), messages.c.worker.not_in(alive)))
                               .values(status=INTERRUPTED, error=reason, worker=None)).rowcount
            db.execute(leases.delete().where(leases.c.expires_at < stamp - timedelta(days=1)))
        return swept
