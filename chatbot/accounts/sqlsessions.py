"""Session records in the SQL database (SQLite or PostgreSQL), beside the accounts."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..database import BUSY_SECONDS, patient_methods

from ..sqlstore import _Id, metadata
from ..store import is_uuid
from .sessions import SessionRecord, decode, encode, expiry, now

sessions = sa.Table(
    "sessions", metadata,
    sa.Column("id", _Id(), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", _Id(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("absolute_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("remember", sa.Boolean, nullable=False),
    sa.Column("user_agent", sa.String(300), nullable=False),
    sa.Column("address", sa.String(64), nullable=False),
)

_p = sa.bindparam
_LOAD = sessions.select().where(sessions.c.token_hash == _p("token"), sessions.c.expires_at > _p("now"))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)  # SQLite hands back naive ones


def _record(row) -> SessionRecord:
    return SessionRecord(row.id, row.user_id, decode(row.data), _aware(row.created_at), _aware(row.last_seen_at),
                         _aware(row.expires_at), row.remember, row.user_agent, row.address)


@patient_methods
class SQLSessions:
    def __init__(self, engine: Engine, busy_seconds: float = BUSY_SECONDS) -> None:
        self.engine = engine
        self.busy_seconds = busy_seconds

    def create(self, token_hash: str, user_id: str, data: dict[str, Any], *, idle: float, absolute: float,
               remember: bool, user_agent: str, address: str) -> SessionRecord:
        stamp = now()
        absolute_at = stamp + timedelta(seconds=absolute)
        record = SessionRecord(str(uuid.uuid4()), user_id, data, stamp, stamp, expiry(stamp, idle, absolute_at),
                               remember, user_agent, address)
        with self.engine.begin() as db:
            # Sign-ins are rare enough to clear away every session that has run out.
            db.execute(sessions.delete().where(sessions.c.expires_at <= stamp))
            db.execute(sessions.insert().values(
                id=record.id, token_hash=token_hash, user_id=user_id, data=encode(data), created_at=stamp,
                last_seen_at=stamp, expires_at=record.expires_at, absolute_at=absolute_at, remember=remember,
                user_agent=user_agent, address=address))
        return record

    def load(self, token_hash: str) -> SessionRecord | None:
        with self.engine.connect() as db:
            row = db.execute(_LOAD, {"token": token_hash, "now": now()}).first()
        return _record(row) if row else None

    def save(self, token_hash: str, data: dict[str, Any] | None, *, idle: float) -> None:
        stamp = now()
        idle_end = sa.literal(stamp + timedelta(seconds=idle), sa.DateTime(timezone=True))
        changes: dict[str, Any] = dict(last_seen_at=stamp, expires_at=sa.case(
            (sessions.c.absolute_at < idle_end, sessions.c.absolute_at), else_=idle_end))
        if data is not None:
            changes["data"] = encode(data)
        with self.engine.begin() as db:
            db.execute(sessions.update().where(sessions.c.token_hash == token_hash, sessions.c.expires_at > stamp)
                       .values(**changes))

    def end(self, token_hash: str) -> str | None:
        with self.engine.begin() as db:
            row = db.execute(sessions.delete().where(sessions.c.token_hash == token_hash)
                             .returning(sessions.c.id, sessions.c.expires_at)).first()
        return row.id if row and _aware(row.expires_at) > now() else None

    def end_user_sessions(self, user_id: str, keep: str | None = None) -> list[str]:
        condition = sessions.c.user_id == user_id
        if keep is not None:
            condition = sa.and_(condition, sessions.c.id != keep)
        with self.engine.begin() as db:
            return [row.id for row in db.execute(sessions.delete().where(condition).returning(sessions.c.id))]

    def end_session(self, user_id: str, session_id: str) -> bool:
        if not is_uuid(session_id):
            return False
        with self.engine.begin() as db:
            return db.execute(sessions.delete().where(sessions.c.id == session_id,
                                                      sessions.c.user_id == user_id)).rowcount == 1

    def user_sessions(self, user_id: str) -> list[SessionRecord]:
        with self.engine.connect() as db:
            rows = db.execute(sessions.select().where(sessions.c.user_id == user_id, sessions.c.expires_at > now())
                              .order_by(sessions.c.last_seen_at.desc()))
            return [_record(row) for row in rows]
