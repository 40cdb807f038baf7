"""Session records on Supabase: the ``sessions`` table (supabase/migrations/*_sessions.sql),
read and written with the secret key's client, since records are the server's own business
across users (and hold their Supabase refresh tokens, which no user may read back).

The database's clock decides when a record runs out: every step that depends on the time is
one of the migration's functions (create, find, touch, end by token, list), so app instances
need not agree on the time. Ending records by user or by public id are plain deletes.

A record of a user signed in through Supabase Auth holds that session's credentials (the
``credentials`` key of its data). Whenever a record ends here, its Supabase session is signed
out too, so a refresh token copied out of a record (a backup, a log, a stolen laptop's
cookie jar) dies with it. That is best effort: Supabase out of reach must not keep anyone
from signing out, so failures are logged, never raised.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable, cast

from postgrest import APIResponse
from supabase import Client
from supabase_auth.errors import AuthError, AuthRetryableError

from ..accounts import Credentials
from ..accounts.sessions import SessionRecord, decode, encode
from ..store import is_uuid

log = logging.getLogger(__name__)

# An access token this close to its end is refreshed before signing out with it, so that a
# clock a little ahead of Supabase's, or a slow request, does not make the sign-out fail.
EXPIRY_MARGIN = 60  # seconds


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
    """The ``Sessions`` protocol over Supabase's REST API, as the server (secret key).

    ``auth_client`` makes a client with the publishable key alone, for signing Supabase
    sessions out with their own tokens (the secret key is never sent along with them)."""

    def __init__(self, service_client: Client, auth_client: Callable[[], Client]) -> None:
        self.db = service_client
        self._auth_client = auth_client

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
        if not rows:
            return None
        self._sign_out(rows[0]["data"])  # a session that ran out may still be alive at Supabase
        return rows[0]["id"] if rows[0]["running"] else None

    def end_user_sessions(self, user_id: str, keep: str | None = None) -> list[str]:
        if not is_uuid(user_id):
            return []
        query = self.db.table("sessions").delete().eq("user_id", user_id)
        if keep is not None and is_uuid(keep):
            query = query.neq("id", keep)  # (a "keep" that is no id names no session: none is kept)
        rows = _rows(query.select("id", "data").execute())
        for row in rows:
            self._sign_out(row["data"])
        return [row["id"] for row in rows]

    def end_session(self, user_id: str, session_id: str) -> bool:
        if not (is_uuid(user_id) and is_uuid(session_id)):
            return False
        rows = _rows(self.db.table("sessions").delete().eq("id", session_id).eq("user_id", user_id)
                     .select("data").execute())
        for row in rows:
            self._sign_out(row["data"])
        return bool(rows)

    def user_sessions(self, user_id: str) -> list[SessionRecord]:
        if not is_uuid(user_id):
            return []
        rows = _rows(self.db.rpc("user_sessions", {"user_id": user_id}).execute())
        # Sorted here: a function's rows come in no promised order (and a user has few).
        return sorted((_record(row) for row in rows), key=lambda record: record.last_seen_at, reverse=True)

    def _sign_out(self, stored: str) -> None:
        """End the Supabase session an ended record held, if any: scope "local", that session
        alone (the user's other devices stay signed in). Never raises; never logs a token."""
        try:
            credentials = decode(stored).get("credentials")
            if not isinstance(credentials, dict):
                return  # not signed in through Supabase Auth (or not yet)
            _revoke(self._auth_client(), Credentials(**credentials))
        except AuthRetryableError as error:  # Supabase out of reach: the record is gone all the same
            log.warning("Supabase sign-out of an ended session failed: %s", type(error).__name__)
        except AuthError as error:  # most often: already over (signed out elsewhere, revoked)
            log.info("Supabase sign-out of an ended session: %s", error.code or type(error).__name__)
        except Exception as error:  # noqa: BLE001 - unreadable data, a bug: never in the way of ending
            log.warning("Supabase sign-out of an ended session failed: %s", type(error).__name__)


def _revoke(auth_client: Client, credentials: Credentials) -> None:
    """Sign out the session of ``credentials`` with its own access token, refreshing it first
    if it has run out (Supabase accepts no expired token, and the refresh token is the part
    that lives on)."""
    auth = auth_client.auth
    access_token = credentials.access_token
    if credentials.expires_at <= time.time() + EXPIRY_MARGIN:
        renewed = auth.refresh_session(credentials.refresh_token).session
        if renewed is None:
            return
        access_token = renewed.access_token
    auth.admin.sign_out(access_token, "local")
