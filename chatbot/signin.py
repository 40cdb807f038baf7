"""Who is signed in, kept in the session cookie: flask-login's user id and, with an identity
provider (Supabase Auth), the credentials that data requests carry, renewed before they
expire."""
from __future__ import annotations

from dataclasses import asdict

from flask import flash, request, session
from flask_login import UserMixin, login_user, logout_user

from .accounts import Accounts, Credentials, Pending, SessionEnded, SignedIn

_CREDENTIALS = "credentials"
_PENDING = "pending_sign_in"
_RECOVERING = "recovering"


class SignedInUser(UserMixin):
    """What flask-login keeps for the request: the id and the email to show."""

    def __init__(self, user_id: str, email: str) -> None:
        self.id = user_id
        self.email = email


def sign_in(signed_in: SignedIn, remember: bool = False) -> None:
    if signed_in.credentials:
        session[_CREDENTIALS] = asdict(signed_in.credentials)
        # The provider's session lives in this cookie, so "remember me" keeps the cookie.
        session.permanent = remember
        remember = False
    login_user(SignedInUser(signed_in.user_id, signed_in.email), remember=remember)


def sign_out() -> Credentials | None:
    """Forget the signed-in user here; the credentials, for the provider to forget too."""
    credentials = current_credentials()
    session.pop(_CREDENTIALS, None)
    session.pop(_RECOVERING, None)
    logout_user()
    return credentials


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
    if pending is not None:
        session[_PENDING] = asdict(pending)


def take_pending() -> Pending | None:
    data = session.pop(_PENDING, None)
    return Pending(**data) if data else None
