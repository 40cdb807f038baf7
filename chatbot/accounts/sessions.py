"""Server-side sessions: a signed-in browser's cookie holds a random token and nothing else;
what Flask's session keeps for it (the user's id, CSRF token, flashes, an identity provider's
credentials) lives in a record that the server can end at any moment.

A visitor who is not signed in has no record: their session (a CSRF token for the log-in
form, a flash) stays in Flask's signed cookie, so a stream of strangers asking for /login
adds nothing to the database. Signing in turns the session into a record, under a new token
(no one can plant a token before sign-in and share the session after); signing out, or any
end of the record, turns it back into a fresh anonymous one.

Records are found by a hash of their token, so a copy of the database holds no cookie. Each
has a public ``id`` too, for the account page's list and for live views, which learn that
their session ended by it.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol

from flask import Flask, Request, Response
from flask import session as flask_session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from ..errors import Unavailable
from ..live import topics
from ..live.channel import Channel, announce
from ..live.events import SessionsEnded
from . import Credentials

_TOKEN_BYTES = 32  # 256 bits; token_urlsafe makes 43 characters of [A-Za-z0-9_-], never a "."
_SERIALIZER = SecureCookieSessionInterface.serializer  # Flask's tagged JSON: flashes and bytes round-trip


@dataclass(frozen=True)
class SessionPolicy:
    """How long sessions last, in seconds: since the last request (idle), with "remember me"
    (a longer idle time on the same record, never a second credential), and at most (absolute)."""
    idle: float
    remembered_idle: float
    absolute: float

    def idle_for(self, remember: bool) -> float:
        return min(self.remembered_idle if remember else self.idle, self.absolute)


@dataclass(frozen=True)
class SessionRecord:
    id: str  # public: shown on the account page, carried by live events
    user_id: str
    data: dict[str, Any]
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime  # the sooner of last_seen_at + idle and the absolute end
    remember: bool
    user_agent: str
    address: str


class Sessions(Protocol):
    """Where session records live (the store's database, or Redis). ``token_hash`` is
    ``hash_token(token)``; records past ``expires_at`` are never returned."""

    def create(self, token_hash: str, user_id: str, data: dict[str, Any], *, idle: float, absolute: float,
               remember: bool, user_agent: str, address: str) -> SessionRecord: ...

    def load(self, token_hash: str) -> SessionRecord | None: ...

    def save(self, token_hash: str, data: dict[str, Any] | None, *, idle: float) -> None:
        """Seen now: its idle time starts again (never past the absolute end); with ``data``,
        that replaces what it holds."""
        ...

    def end(self, token_hash: str) -> str | None:
        """End this session; its public id, if it was running."""
        ...

    def end_user_sessions(self, user_id: str, keep: str | None = None) -> list[str]:
        """End every session of ``user_id`` (but the one with public id ``keep``); their ids."""
        ...

    def end_session(self, user_id: str, session_id: str) -> bool:
        """End one session of ``user_id`` by its public id (someone else's is not found)."""
        ...

    def user_sessions(self, user_id: str) -> list[SessionRecord]:
        """The running sessions of ``user_id``, the most recently seen first."""
        ...


def new_token() -> str:
    return secrets.token_urlsafe(_TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(value: str) -> bool:
    # A signed (anonymous) cookie always holds a ".", a token never does.
    return len(value) == 43 and "." not in value


def now() -> datetime:
    return datetime.now(timezone.utc)


def expiry(last_seen: datetime, idle: float, absolute_end: datetime) -> datetime:
    return min(last_seen + timedelta(seconds=idle), absolute_end)


def encode(data: dict[str, Any]) -> str:
    """Session data as stored: Flask's own tagged JSON, as its cookie holds it."""
    return _SERIALIZER.dumps(dict(data))


def decode(text: str) -> dict[str, Any]:
    return _SERIALIZER.loads(text) if text else {}


class ServerSession(SecureCookieSession):
    """Flask's session, with the record behind it when signed in (``token`` set)."""

    def __init__(self, initial: dict[str, Any] | None = None, token: str | None = None,
                 record: SessionRecord | None = None, unavailable: bool = False) -> None:
        super().__init__(initial)
        self.token = token
        self.record = record
        self.new_cookie = False  # the cookie must be (re)sent: a new token, or none any more
        self.unavailable = unavailable  # its record could not be read: the database is away

    @property
    def public_id(self) -> str | None:
        return self.record.id if self.record else None


class ServerSessionInterface(SecureCookieSessionInterface):
    """Loads a signed-in session's record by the token in the cookie; anonymous sessions stay
    in the signed cookie, as Flask keeps them."""

    session_class: type[SecureCookieSession] = ServerSession

    def __init__(self, sessions: Sessions, policy: SessionPolicy) -> None:
        self.sessions = sessions
        self.policy = policy

    def open_session(self, app: Flask, request: Request) -> ServerSession | None:
        cookie = request.cookies.get(self.get_cookie_name(app), "")
        if looks_like_token(cookie):
            try:
                record = self.sessions.load(hash_token(cookie))
            except Unavailable:
                # Not "signed out": the request is refused (503) by ``refuse_if_unavailable``
                # before anything reads the session, and its cookie is left as it is.
                return ServerSession(token=cookie, unavailable=True)
            if record is not None:
                return ServerSession(record.data, cookie, record)
            session = ServerSession()
            session.new_cookie = True  # ended or expired: take the dead token away
            return session
        return super().open_session(app, request)  # type: ignore[return-value]

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:  # type: ignore[override]
        if session.unavailable:
            return
        if session.token is None:
            if session.new_cookie and not session:
                response.delete_cookie(self.get_cookie_name(app), domain=self.get_cookie_domain(app),
                                       path=self.get_cookie_path(app))
                response.vary.add("Cookie")
                return
            if session.new_cookie:
                session.modified = True  # back to a signed cookie, replacing the token
            super().save_session(app, session, response)
            return
        response.vary.add("Cookie")
        record = session.record
        assert record is not None
        idle = self.policy.idle_for(record.remember)
        if session.modified:
            self.sessions.save(hash_token(session.token), dict(session), idle=idle)
        elif _due_for_touch(record, idle):
            self.sessions.save(hash_token(session.token), None, idle=idle)
        elif not session.new_cookie:
            return
        self._set_token_cookie(app, session, response, idle)

    def _set_token_cookie(self, app: Flask, session: ServerSession, response: Response, idle: float) -> None:
        # A remembered session's cookie outlives the browser, for as long as the record may;
        # any other is a browser-session cookie.
        max_age = int(idle) if session.record and session.record.remember else None
        response.set_cookie(self.get_cookie_name(app), session.token or "", max_age=max_age,
                            domain=self.get_cookie_domain(app), path=self.get_cookie_path(app),
                            secure=self.get_cookie_secure(app), httponly=self.get_cookie_httponly(app),
                            samesite=self.get_cookie_samesite(app), partitioned=self.get_cookie_partitioned(app))


class SignOutAtProvider:
    """Session records that hold an identity provider's credentials (Supabase Auth's): ending
    a record signs its provider session out too, whichever store keeps the records, so a
    refresh token copied out of a record dies with it. ``sign_out`` is the accounts'
    ``log_out``: best effort, it never raises (the provider out of reach must not keep
    anyone from signing out)."""

    def __init__(self, sessions: Sessions, sign_out: Callable[[Credentials | None], None]) -> None:
        self.sessions = sessions
        self._sign_out = sign_out

    def create(self, token_hash: str, user_id: str, data: dict[str, Any], *, idle: float, absolute: float,
               remember: bool, user_agent: str, address: str) -> SessionRecord:
        return self.sessions.create(token_hash, user_id, data, idle=idle, absolute=absolute, remember=remember,
                                    user_agent=user_agent, address=address)

    def load(self, token_hash: str) -> SessionRecord | None:
        return self.sessions.load(token_hash)

    def save(self, token_hash: str, data: dict[str, Any] | None, *, idle: float) -> None:
        self.sessions.save(token_hash, data, idle=idle)

    def user_sessions(self, user_id: str) -> list[SessionRecord]:
        return self.sessions.user_sessions(user_id)

    # The records are read before they end: what they hold goes with them.
    def end(self, token_hash: str) -> str | None:
        record = self.sessions.load(token_hash)
        ended = self.sessions.end(token_hash)
        if record is not None:
            self._sign_out_of([record])
        return ended

    def end_user_sessions(self, user_id: str, keep: str | None = None) -> list[str]:
        running = {record.id: record for record in self.sessions.user_sessions(user_id)}
        ended = self.sessions.end_user_sessions(user_id, keep)
        self._sign_out_of([running[i] for i in ended if i in running])
        return ended

    def end_session(self, user_id: str, session_id: str) -> bool:
        record = next((r for r in self.sessions.user_sessions(user_id) if r.id == session_id), None)
        ended = self.sessions.end_session(user_id, session_id)
        if ended and record is not None:
            self._sign_out_of([record])
        return ended

    def _sign_out_of(self, records: list[SessionRecord]) -> None:
        for record in records:
            credentials = record.data.get("credentials")
            if isinstance(credentials, dict):
                self._sign_out(Credentials(**credentials))


def refuse_if_unavailable() -> None:
    """(Before each request) a signed-in session whose record could not be read is a 503,
    never a quiet sign-out."""
    if getattr(flask_session, "unavailable", False):
        raise Unavailable()


def _due_for_touch(record: SessionRecord, idle: float) -> bool:
    """Whether to write "seen now": once a minute at most (or a tenth of the idle time, if
    shorter), not on every request."""
    return (now() - record.last_seen_at).total_seconds() >= min(60.0, idle / 10)


def begin(session: ServerSession, sessions: Sessions, user_id: str, *, remember: bool, policy: SessionPolicy,
          user_agent: str, address: str) -> None:
    """Make ``session`` a new signed-in record, keeping what it held (flashes, a pending
    sign-in step) but the CSRF token, which a signed-in session gets afresh."""
    data = {k: v for k, v in session.items() if k != "csrf_token"}
    session.clear()
    token = new_token()
    session.record = sessions.create(hash_token(token), user_id, data, idle=policy.idle_for(remember),
                                     absolute=policy.absolute, remember=remember,
                                     user_agent=user_agent[:300], address=address[:64])
    session.token = token
    session.update(data)
    session.new_cookie = True


def announce_ended(channel: Channel, user_id: str, session_ids: list[str]) -> None:
    """Tell the live views of these sessions, in every process, that they are over."""
    if session_ids:
        announce(channel, topics.user(user_id), SessionsEnded(tuple(session_ids)))


def end_user_sessions(sessions: Sessions, channel: Channel, user_id: str, keep: str | None = None) -> int:
    """End all of ``user_id``'s sessions (but ``keep``), wherever they are open; how many."""
    ended = sessions.end_user_sessions(user_id, keep)
    announce_ended(channel, user_id, ended)
    return len(ended)


def end_one_session(sessions: Sessions, channel: Channel, user_id: str, session_id: str) -> bool:
    """End one of ``user_id``'s sessions by its public id (someone else's is not found)."""
    if not sessions.end_session(user_id, session_id):
        return False
    announce_ended(channel, user_id, [session_id])
    return True


def finish(session: ServerSession, sessions: Sessions) -> str | None:
    """End the record behind ``session`` (if any) and leave it anonymous and empty; the ended
    session's public id."""
    ended = sessions.end(hash_token(session.token)) if session.token else None
    session.clear()
    session.token = session.record = None
    session.new_cookie = True
    return ended
