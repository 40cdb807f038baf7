"""The directory of local accounts, in the SQL database beside them."""
from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..database import BUSY_SECONDS, patient_methods

from ..files import FileStore
from ..sqlstore import _Id, attachments, chats, folders, messages, metadata, presets, shares, users
from ..store import is_uuid
from .directory import ACTIVE, ADMIN, PENDING, DailyUsage, Invitation, Member, ModelUsage
from .sqlsessions import sessions

log = logging.getLogger(__name__)

app_settings = sa.Table(
    "app_settings", metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

invitations = sa.Table(
    "invitations", metadata,
    sa.Column("id", _Id(), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_by", _Id(), sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_by", _Id(), sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("used_at", sa.DateTime(timezone=True)),
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _member(row) -> Member:
    return Member(row.id, row.email, row.role, row.status, _aware(row.created_at))


def _invitation(row) -> Invitation:
    return Invitation(row.id, row.created_by, _aware(row.created_at), _aware(row.expires_at), row.used_by)


@patient_methods
class SQLDirectory:
    def __init__(self, engine: Engine, files: FileStore, busy_seconds: float = BUSY_SECONDS) -> None:
        self.engine = engine
        self.busy_seconds = busy_seconds
        self.files = files  # where the accounts' attachments are, to delete with them

    def member(self, user_id: str) -> Member | None:
        if not is_uuid(user_id):
            return None
        with self.engine.connect() as db:
            row = db.execute(users.select().where(users.c.id == user_id)).first()
        return _member(row) if row else None

    def members(self, search: str = "", limit: int = 50, offset: int = 0) -> list[Member]:
        query = users.select()
        if search:
            escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(users.c.email.like(f"%{escaped}%", escape="\\"))
        query = query.order_by((users.c.status == PENDING).desc(), users.c.created_at.desc(), users.c.id)
        with self.engine.connect() as db:
            return [_member(row) for row in db.execute(query.limit(limit).offset(offset))]

    def set_role(self, user_id: str, role: str) -> None:
        self._update(user_id, role=role)

    def set_status(self, user_id: str, status: str) -> None:
        self._update(user_id, status=status)

    def _update(self, user_id: str, **values: str) -> None:
        if is_uuid(user_id):
            with self.engine.begin() as db:
                db.execute(users.update().where(users.c.id == user_id).values(**values))

    def count_admins(self) -> int:
        with self.engine.connect() as db:
            return db.execute(sa.select(sa.func.count()).select_from(users)
                              .where(users.c.role == ADMIN, users.c.status == ACTIVE)).scalar_one()

    def claim_first_admin(self, user_id: str) -> bool:
        no_admin = ~sa.exists().where(users.c.role == ADMIN)
        with self.engine.begin() as db:
            return db.execute(users.update().where(users.c.id == user_id, no_admin)
                              .values(role=ADMIN, status=ACTIVE)).rowcount == 1

    def delete_member(self, user_id: str) -> None:
        if not is_uuid(user_id):
            return
        with self.engine.begin() as db:  # children first, whatever the database's foreign keys do
            keys = [row.storage_key for row in db.execute(
                sa.select(attachments.c.storage_key).where(attachments.c.owner_id == user_id))]
            db.execute(attachments.delete().where(attachments.c.owner_id == user_id))
            db.execute(shares.delete().where(shares.c.owner_id == user_id))  # its links are 404 at once
            db.execute(messages.delete().where(messages.c.owner_id == user_id))
            db.execute(chats.delete().where(chats.c.owner_id == user_id))
            db.execute(presets.delete().where(presets.c.owner_id == user_id))
            db.execute(folders.delete().where(folders.c.owner_id == user_id))
            db.execute(sessions.delete().where(sessions.c.user_id == user_id))
            db.execute(invitations.update().where(invitations.c.used_by == user_id).values(used_by=None))
            db.execute(invitations.update().where(invitations.c.created_by == user_id).values(created_by=None))
            db.execute(users.delete().where(users.c.id == user_id))
        for key in keys:  # after the rows: a file left over is harmless, a row without its file is not
            try:
                self.files.delete(key)
            except OSError as error:
                log.warning("could not delete attachment file %s: %s", key, error)

    def usage(self, user_id: str, days: int) -> list[DailyUsage]:
        if not is_uuid(user_id):
            return []
        day = sa.func.date(messages.c.created_at).label("day")
        is_user = sa.case((messages.c.role == "user", 1), else_=0)
        is_reply = sa.case((messages.c.role == "assistant", 1), else_=0)
        query = (sa.select(day, sa.func.sum(is_user), sa.func.sum(is_reply),
                           sa.func.coalesce(sa.func.sum(messages.c.prompt_tokens), 0),
                           sa.func.coalesce(sa.func.sum(messages.c.completion_tokens), 0))
                 .where(messages.c.owner_id == user_id, messages.c.created_at >= _now() - timedelta(days=days))
                 .group_by(day).order_by(day.desc()))
        with self.engine.connect() as db:
            return [DailyUsage(_date(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))
                    for row in db.execute(query)]

    def model_usage(self, user_id: str, since: date) -> list[ModelUsage]:
        if not is_uuid(user_id):
            return []
        day = sa.func.date(messages.c.created_at).label("day")
        query = (sa.select(day, messages.c.model, sa.func.count(),
                           sa.func.coalesce(sa.func.sum(messages.c.prompt_tokens), 0),
                           sa.func.coalesce(sa.func.sum(messages.c.completion_tokens), 0))
                 .where(messages.c.owner_id == user_id, messages.c.role == "assistant",
                        messages.c.created_at >= datetime.combine(since, time(), timezone.utc))
                 .group_by(day, messages.c.model).order_by(day.desc(), messages.c.model))
        with self.engine.connect() as db:
            return [ModelUsage(_date(row[0]), row[1], int(row[2]), int(row[3]), int(row[4])) for row in db.execute(query)]

    def setting(self, name: str) -> str | None:
        with self.engine.connect() as db:
            return db.execute(sa.select(app_settings.c.value).where(app_settings.c.name == name)).scalar()

    def set_setting(self, name: str, value: str) -> None:
        with self.engine.begin() as db:
            if db.execute(app_settings.update().where(app_settings.c.name == name).values(value=value)).rowcount == 0:
                db.execute(app_settings.insert().values(name=name, value=value))

    def add_invitation(self, token_hash: str, created_by: str, valid_for: float) -> Invitation:
        stamp = _now()
        invitation = Invitation(str(uuid.uuid4()), created_by, stamp, stamp + timedelta(seconds=valid_for), None)
        with self.engine.begin() as db:
            db.execute(invitations.insert().values(id=invitation.id, token_hash=token_hash, created_by=created_by,
                                                   created_at=stamp, expires_at=invitation.expires_at))
        return invitation

    def invitations(self) -> list[Invitation]:
        with self.engine.connect() as db:
            rows = db.execute(invitations.select().where(invitations.c.used_at.is_(None),
                                                         invitations.c.expires_at > _now())
                              .order_by(invitations.c.created_at.desc()))
            return [_invitation(row) for row in rows]

    def revoke_invitation(self, invitation_id: str) -> bool:
        if not is_uuid(invitation_id):
            return False
        with self.engine.begin() as db:
            return db.execute(invitations.delete().where(invitations.c.id == invitation_id,
                                                         invitations.c.used_at.is_(None))).rowcount == 1

    def use_invitation(self, token_hash: str, user_id: str) -> bool:
        stamp = _now()
        with self.engine.begin() as db:
            return db.execute(invitations.update().where(
                invitations.c.token_hash == token_hash, invitations.c.used_at.is_(None),
                invitations.c.expires_at > stamp).values(used_by=user_id, used_at=stamp)).rowcount == 1

    def invitation_valid(self, token_hash: str) -> bool:
        with self.engine.connect() as db:
            return db.execute(sa.select(invitations.c.id).where(
                invitations.c.token_hash == token_hash, invitations.c.used_at.is_(None),
                invitations.c.expires_at > _now())).first() is not None


def _date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
