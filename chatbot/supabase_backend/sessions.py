"""Session records on Supabase: the ``sessions`` table (supabase/migrations/*_sessions.sql),
read and written with the secret key's client, since records are the server's own business
across users (and hold their Supabase refresh tokens, which no user may read back).

The database's clock decides when a record runs out: every step that depends on the time is
one of the migration's functions (create, find, touch, end by token, list), so app instances
need not agree on the time. Ending records by user or by public id are plain deletes.

A record of a user signed in through Supabase Auth holds that session's credentials (the
``credentials`` key of its data); ``accounts.sessions.SignOutAtProvider``, around whichever
store keeps the records, signs that Supabase session out when its record ends.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, cast

from postgrest import APIResponse
from supabase import Client

from ..accounts.sessions import SessionRecord, decode, encode
from ..store import is_uuid


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(timezone.utc)


def _rows(response: APIResponse) -> list[dict[str, Any]]:
    """A response's rows: every call here answers a JSON array of objects."""
    return cast("list[dict[str, Any]]", response.data)


def _record(row: dict[str, Any]) -> SessionRecord:
    return SessionRecord(row["id"], row["user_id"], decode(row["data"]), _time(row["created_at"]),
                         _time(row["last_seen_at"]), _time(row["expires_at"]), row["remember"], row["user_agent"],
                         row["address"])


class SupabaseSessions:
    """The ``Sessions`` protocol over Supabase's REST API, as the server (secret key)."""

    def __init__(self, service_client: Client) -> None:
        self.db = service_client

    def __repr__(self) -> str:  # the client holds the secret key: never shown
        return "SupabaseSessions()"

    def create(self, token_hash: str, user_id: str, data: dict[str, Any], *, idle: float, absolute: float,
               remember: bool, user_agent: str, address: str) -> SessionRecord:
        if not is_uuid(user_id):
            raise LookupError(user_id)
        rows = _rows(self.db.rpc("create_session", {
            "token_hash": token_hash, "user_id": user_id, "data": encode(data), "idle_seconds": idle,
            "absolute_seconds": absolute, "remember": remember, "user_agent": user_agent, "address": address,
        }).execute())
        return _record(rows[0])

    def load(self, token_hash: str) -> SessionRecord | None:
        rows = _rows(self.db.rpc("find_session", {"token_hash": token_hash}).execute())
        return _record(rows[0]) if rows else None

    def save(self, token_hash: str, data: dict[str, Any] | None, *, idle: float) -> None:
        self.db.rpc("touch_session", {"token_hash": token_hash, "idle_seconds": idle,
                                      "new_data": None if data is None else encode(data)}).execute()

    def end(self, token_hash: str) -> str | None:
        rows = _rows(self.db.rpc("delete_session", {"token_hash": token_hash}).execute())
        return rows[0]["id"] if rows and rows[0]["running"] else None

    def end_user_sessions(self, user_id: str, keep: str | None = None) -> list[str]:
        if not is_uuid(user_id):
            return []
        query = self.db.table("sessions").delete().eq("user_id", user_id)
        if keep is not None and is_uuid(keep):
            query = query.neq("id", keep)  # (a "keep" that is no id names no session: none is kept)
        return [row["id"] for row in _rows(query.select("id").execute())]

    def end_session(self, user_id: str, session_id: str) -> bool:
        if not (is_uuid(user_id) and is_uuid(session_id)):
            return False
        return bool(_rows(self.db.table("sessions").delete().eq("id", session_id).eq("user_id", user_id)
                          .select("id").execute()))

    def user_sessions(self, user_id: str) -> list[SessionRecord]:
        if not is_uuid(user_id):
            return []
        rows = _rows(self.db.rpc("user_sessions", {"user_id": user_id}).execute())
        # Sorted here: a function's rows come in no promised order (and a user has few).
        return sorted((_record(row) for row in rows), key=lambda record: record.last_seen_at, reverse=True)
