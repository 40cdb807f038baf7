"""The operator's directory on Supabase: profiles, settings and invitations in the tables of
supabase/migrations/*_directory.sql, and the accounts themselves at Supabase Auth.

It works with the secret key's client, past RLS: the admin pages act across users, and no
user may read settings or invitations, nor anyone's email but their own. Where one REST
call cannot ask the question (the accounts with their emails, usage per day) or the
database's clock decides (invitations), it calls the migration's functions, which only
the secret key may call.

Deleting an account deletes its files in Storage, then the user at Supabase Auth, whose
deletion cascades to everything else it owns (chats, messages, attachment rows, session
records, profile). The caller ends the account's sessions first.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timezone
from typing import Any, cast

from postgrest import APIResponse
from supabase import Client
from supabase_auth.errors import AuthApiError

from ..accounts.directory import ACTIVE, ADMIN, ROLES, STATUSES, DailyUsage, Invitation, Member, ModelUsage
from ..store import is_uuid
from .files import BUCKET
from .profiles import Profiles

log = logging.getLogger(__name__)

# The setting the sign-up policy is saved under (chatbot.accounts.signup.POLICY_SETTING), and
# the one holding the configured default: the trigger that makes profiles reads both.
DEFAULT_POLICY_SETTING = "signup_policy_default"
LIST_PAGE = 1000  # Storage answers at most this many entries of a folder at a time
REMOVE_BATCH = 1000  # and removes at most this many objects per request


def _rows(response: APIResponse) -> list[dict[str, Any]]:
    return cast("list[dict[str, Any]]", response.data)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(timezone.utc)


def _member(row: dict[str, Any]) -> Member:
    return Member(row["id"], row["email"] or "", row["role"], row["status"], _time(row["created_at"]))


def _invitation(row: dict[str, Any]) -> Invitation:
    return Invitation(row["id"], row["created_by"], _time(row["created_at"]), _time(row["expires_at"]),
                      row["used_by"])


def _pending_first(member: Member) -> tuple[bool, float, str]:
    return member.status != "pending", -member.created_at.timestamp(), member.id


class SupabaseDirectory:
    """The ``Directory`` protocol as the server (secret key). ``profiles`` is the process's
    cache of roles and standings, forgotten for every account changed here."""

    def __init__(self, service_client: Client, profiles: Profiles) -> None:
        self.db = service_client
        self.profiles = profiles

    def __repr__(self) -> str:  # the client holds the secret key: never shown
        return "SupabaseDirectory()"

    def member(self, user_id: str) -> Member | None:
        if not is_uuid(user_id):
            return None
        rows = _rows(self.db.rpc("list_members", {"only_user": user_id, "max_rows": 1}).execute())
        return _member(rows[0]) if rows else None

    def members(self, search: str = "", limit: int = 50, offset: int = 0) -> list[Member]:
        rows = _rows(self.db.rpc("list_members", {"search": search, "max_rows": limit, "skip": offset}).execute())
        # Sorted again here: a function's rows come in no promised order.
        return sorted((_member(row) for row in rows), key=_pending_first)

    def set_role(self, user_id: str, role: str) -> None:
        if role in ROLES:
            self._update(user_id, role=role)

    def set_status(self, user_id: str, status: str) -> None:
        if status in STATUSES:
            self._update(user_id, status=status)

    def _update(self, user_id: str, **values: str) -> None:
        if is_uuid(user_id):
            self.db.table("profiles").update(values).eq("user_id", user_id).execute()
            self.profiles.forget(user_id)

    def count_admins(self) -> int:
        # Admins are few: their ids are a small answer (the REST API counts only with a header).
        return len(_rows(self.db.table("profiles").select("user_id").eq("role", ADMIN).eq("status", ACTIVE)
                         .execute()))

    def claim_first_admin(self, user_id: str) -> bool:
        if not is_uuid(user_id):
            return False
        claimed = bool(self.db.rpc("claim_first_admin", {"user_id": user_id}).execute().data)
        self.profiles.forget(user_id)
        return claimed

    def delete_member(self, user_id: str) -> None:
        if not is_uuid(user_id):
            return
        self._delete_files(user_id)
        try:  # cascades to every row the account owns, its profile included
            self.db.auth.admin.delete_user(user_id)
        except AuthApiError as error:
            if error.code != "user_not_found":
                raise
        self.profiles.forget(user_id)

    def _delete_files(self, user_id: str) -> None:
        """Every file in the account's folder of the bucket, those no attachment row names
        included. Before the account: should its deletion then fail, deleting it again
        finishes the job; the other way round, a failure would leave files that no account
        leads to any more."""
        bucket = self.db.storage.from_(BUCKET)
        keys: list[str] = []
        listed = 0
        while True:
            page = bucket.list(user_id, {"limit": LIST_PAGE, "offset": listed})
            listed += len(page)
            # Keys are "<owner id>/<attachment id>": a subfolder (an entry without an id) is no file.
            keys.extend(f"{user_id}/{entry['name']}" for entry in page if entry.get("id"))
            if len(page) < LIST_PAGE:
                break
        for start in range(0, len(keys), REMOVE_BATCH):
            bucket.remove(keys[start:start + REMOVE_BATCH])
        if keys:
            log.info("deleted %d files of user %s", len(keys), user_id)

    def usage(self, user_id: str, days: int) -> list[DailyUsage]:
        if not is_uuid(user_id):
            return []
        rows = _rows(self.db.rpc("member_usage", {"user_id": user_id, "days": days}).execute())
        usage = [DailyUsage(date.fromisoformat(row["day"]), int(row["messages"]), int(row["replies"]),
                            int(row["prompt_tokens"]), int(row["completion_tokens"])) for row in rows]
        return sorted(usage, key=lambda day: day.day, reverse=True)

    def model_usage(self, user_id: str, since: date) -> list[ModelUsage]:
        if not is_uuid(user_id):
            return []
        rows = _rows(self.db.rpc("member_model_usage", {"user_id": user_id, "since": since.isoformat()}).execute())
        return [ModelUsage(date.fromisoformat(row["day"]), row["model"], int(row["replies"]), int(row["prompt_tokens"]),
                           int(row["completion_tokens"])) for row in rows]

    def setting(self, name: str) -> str | None:
        rows = _rows(self.db.table("app_settings").select("value").eq("name", name).execute())
        return rows[0]["value"] if rows else None

    def set_setting(self, name: str, value: str) -> None:
        self.db.rpc("save_setting", {"setting_name": name, "setting_value": value}).execute()

    def keep_default_policy(self, policy: str) -> None:
        """Record the configured sign-up policy, for accounts made outside the app (see the
        migration's trigger) while no admin has chosen one."""
        if self.setting(DEFAULT_POLICY_SETTING) != policy:
            self.set_setting(DEFAULT_POLICY_SETTING, policy)

    def add_invitation(self, token_hash: str, created_by: str, valid_for: float) -> Invitation:
        rows = _rows(self.db.rpc("add_invitation", {"token_hash": token_hash, "created_by": created_by,
                                                    "valid_seconds": valid_for}).execute())
        return _invitation(rows[0])

    def invitations(self) -> list[Invitation]:
        rows = _rows(self.db.rpc("running_invitations", {}).execute())
        return sorted((_invitation(row) for row in rows), key=lambda i: (i.created_at, i.id), reverse=True)

    def revoke_invitation(self, invitation_id: str) -> bool:
        if not is_uuid(invitation_id):
            return False
        return bool(_rows(self.db.table("invitations").delete().eq("id", invitation_id).is_("used_at", "null")
                          .execute()))

    def use_invitation(self, token_hash: str, user_id: str) -> bool:
        if not is_uuid(user_id):
            return False
        return bool(self.db.rpc("use_invitation", {"token_hash": token_hash, "user_id": user_id}).execute().data)

    def invitation_valid(self, token_hash: str) -> bool:
        return bool(self.db.rpc("invitation_valid", {"token_hash": token_hash}).execute().data)
