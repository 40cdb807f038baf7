"""Who is signed in, kept in the server-side session (``accounts.sessions``): flask-login's
user id and, with an identity provider (Supabase Auth), the credentials that data requests
carry, renewed before they expire."""
from __future__ import annotations

import logging
from dataclasses import asdict

from flask import flash, request, session
from flask_login import UserMixin, login_user, logout_user

from .accounts import Accounts, Credentials, Pending, SessionEnded, SignedIn
from .accounts import sessions as server_sessions
from .backends import backends, settings

log = logging.getLogger("chatbot.auth")

_CREDENTIALS = "credentials"
_PENDING = "pending_sign_in"
_RECOVERING = "recovering"


class SignedInUser(UserMixin):
    """What flask-login keeps for the request: the id, the email to show, the role."""

    def __init__(self, user_id: str, email: str, role: str = "user") -> None:
        self.id = user_id
        self.email = email
        self.role = role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def sign_in(signed_in: SignedIn, remember: bool = False) -> None:
    """Start a new server-side session for the user ("remember me": a longer idle time)."""
    server_sessions.begin(session, backends().sessions, signed_in.user_id, remember=remember,
                          policy=settings().session_policy, user_agent=request.user_agent.string,
                          address=client_address())
    if signed_in.credentials:
        session[_CREDENTIALS] = asdict(signed_in.credentials)
    login_user(SignedInUser(signed_in.user_id, signed_in.email, signed_in.role))
    log.info("signed in: user %s from %s", signed_in.user_id, client_address())


def sign_out() -> None:
    """End this session (and, through the session store, the provider's session it holds)."""
    user_id = session.get("_user_id")
    ended = server_sessions.finish(session, backends().sessions)
    logout_user()
    if ended and user_id:
        server_sessions.announce_ended(backends().channel, user_id, [ended])
        log.info("signed out: user %s from %s", user_id, client_address())


def current_session_id() -> str | None:
    """The public id of the signed-in session (None when not signed in)."""
    return getattr(session, "public_id", None)


def client_address() -> str:
    """The client's address: the real peer, or what trusted proxies say it is (ProxyFix)."""
    return request.remote_addr or ""


def start_recovery() -> None:
    """A recovery link signed this session in: it may now set a new password, once. (A
    session alone may not: whoever borrowed it could lock the owner out.)"""
    session[_RECOVERING] = True


def recovering() -> bool:
    return bool(session.get(_RECOVERING))


def end_recovery() -> None:
    session.pop(_RECOVERING, None)


def current_credentials() -> Credentials | None:
    data = session.get(_CREDENTIALS)
    return Credentials(**data) if data else None


def keep_fresh(accounts: Accounts) -> None:
    """Renew the credentials when due, before the request uses them (run before each request).

    Not on a WebSocket handshake: its answer cannot carry the renewed cookie, and the
    refresh token just used would be spent. The socket closes instead when its token is
    due, and the page's next HTTP request renews it."""
    if not credentials_due() or is_websocket_handshake():
        return
    try:
        session[_CREDENTIALS] = asdict(accounts.refresh(current_credentials()))
    except SessionEnded:
        sign_out()
        flash("Your session has ended. Log in again.", "info")


def credentials_due() -> bool:
    credentials = current_credentials()
    return credentials is not None and credentials.due_for_refresh()


def renew_at() -> float:
    """When the session's credentials are due for renewal (never, without any)."""
    credentials = current_credentials()
    return credentials.renew_at if credentials else float("inf")


def is_websocket_handshake() -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def remember_pending(pending: Pending | None) -> None:
    """Keep a link's PKCE verifier in this session until the link comes back (our own
    confirmation links carry their proof in the link itself: nothing to keep)."""
    if pending is not None and pending.verifier:
        session[_PENDING] = asdict(pending)


def take_pending() -> Pending | None:
    data = session.pop(_PENDING, None)
    return Pending(**data) if data else None
