"""Accounts at Supabase Auth: sign-up (with or without email confirmation), log-in and
log-out, refresh of rotating tokens, password recovery by email, and sign-in with GitHub or
Google, all through supabase-py.

The redirect flows are PKCE: the step that sends the user away (a confirmation or recovery
email, a provider's sign-in page) makes a code verifier, which waits in the user's own
session (``Pending``) until the link brings them back with a code that only it redeems.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from supabase_auth import SyncMemoryStorage
from supabase_auth.errors import AuthApiError, AuthError, AuthRetryableError, AuthWeakPasswordError
from supabase_auth.types import Session

from ..accounts import (LOGIN_REFUSED, RESET_LINK_INVALID, SIGNUP_REFUSED, Credentials, Pending, SessionEnded,
                        SignedIn, check_new_credentials, normalise_email)
from ..errors import InvalidInput
from . import SupabaseProject

log = logging.getLogger(__name__)

PROVIDERS = ("github", "google")
# A refresh token rotates when used. Requests of one session that find it due at the same
# moment share one refresh, and the result stays on hand this long for any that come late.
# (Across processes, Supabase's own reuse interval, 10 s by default, does the same.)
REFRESH_SHARED_FOR = 30  # seconds
LINK_INVALID = "This link has expired or has been used already. Try again."
TOO_MANY = "Too many attempts. Wait a few minutes and try again."


def _credentials(session: Session) -> Credentials:
    return Credentials(session.user.id, session.user.email or "", session.access_token, session.refresh_token,
                       session.expires_at or int(time.time()) + session.expires_in, session.expires_in)


def _signed_in(session: Session) -> SignedIn:
    credentials = _credentials(session)
    return SignedIn(credentials.user_id, credentials.email, credentials)


def _verifier(storage: SyncMemoryStorage) -> str:
    """The PKCE code verifier supabase-py kept in the client's storage for this flow
    (stored as "<verifier>" or "<verifier>/PASSWORD_RECOVERY")."""
    stored = next(value for key, value in storage.storage.items() if key.endswith("-code-verifier"))
    return stored.partition("/")[0]


class SupabaseAccounts:
    def __init__(self, project: SupabaseProject, providers: tuple[str, ...] = ()) -> None:
        self.project = project
        self.sign_in_providers = providers
        self._refreshes = _SharedRefreshes(self._refresh_now)

    def sign_up(self, email: str, password: str, return_to: str) -> SignedIn | Pending:
        email = check_new_credentials(email, password)
        storage = SyncMemoryStorage()
        try:
            answer = self.project.user_client(storage=storage).auth.sign_up(
                {"email": email, "password": password, "options": {"email_redirect_to": return_to}})
        except (AuthApiError, AuthWeakPasswordError) as error:
            raise _form_error(error, "email", SIGNUP_REFUSED) from None
        if answer.session:
            return _signed_in(answer.session)
        # Confirmation is on: a link is on its way. (For an email that already has an
        # account, Supabase answers the same and sends nothing, so nobody learns which.)
        return Pending(_verifier(storage), "signup")

    def log_in(self, email: str, password: str) -> SignedIn:
        try:
            answer = self.project.user_client().auth.sign_in_with_password(
                {"email": normalise_email(email), "password": password})
        except AuthApiError as error:
            if error.code == "email_not_confirmed":
                raise InvalidInput("email", "Confirm your email address first: follow the link we sent you.") from None
            raise _form_error(error, "password", LOGIN_REFUSED) from None
        return _signed_in(answer.session)

    def log_out(self, credentials: Credentials | None) -> None:
        if credentials is None:
            return
        try:  # ends this session's refresh tokens at Supabase; other devices stay signed in
            self.project.user_client().auth.admin.sign_out(credentials.access_token, "local")
        except AuthError as error:  # already over (expired, revoked): signed out all the same
            log.info("Supabase sign-out: %s", error.code)

    def user(self, user_id: str, credentials: Credentials | None) -> SignedIn | None:
        if credentials is None or credentials.user_id != user_id:
            return None
        return SignedIn(credentials.user_id, credentials.email, credentials)

    def refresh(self, credentials: Credentials) -> Credentials:
        try:
            return self._refreshes.get(credentials.refresh_token)
        except AuthRetryableError as error:
            # Supabase out of reach: not a reason to sign anyone out. The token is still
            # good for a while (refreshes start early); the next request tries again.
            log.warning("Supabase session refresh failed, will retry: %s", error.message)
            return credentials

    def _refresh_now(self, refresh_token: str) -> Credentials:
        try:
            answer = self.project.user_client().auth.refresh_session(refresh_token)
        except AuthApiError as error:
            raise SessionEnded(error.code) from None
        return _credentials(answer.session)

    def start_sign_in(self, provider: str, return_to: str) -> tuple[str, Pending]:
        if provider not in self.sign_in_providers:
            raise InvalidInput("provider", "That way of signing in is not available.")
        storage = SyncMemoryStorage()
        answer = self.project.user_client(storage=storage).auth.sign_in_with_oauth(
            {"provider": provider, "options": {"redirect_to": return_to}})
        return answer.url, Pending(_verifier(storage), "oauth")

    def finish(self, code: str, pending: Pending) -> SignedIn:
        try:
            answer = self.project.user_client().auth.exchange_code_for_session(
                {"auth_code": code, "code_verifier": pending.verifier})
        except AuthApiError:
            raise InvalidInput("code", LINK_INVALID) from None
        return _signed_in(answer.session)

    def set_password(self, user: SignedIn, password: str) -> None:
        check_new_credentials(user.email, password)
        auth = self.project.user_client(user.credentials.access_token).auth
        try:
            auth.set_session(user.credentials.access_token, user.credentials.refresh_token)
            auth.update_user({"password": password})
        except (AuthApiError, AuthWeakPasswordError) as error:
            raise _form_error(error, "password", "Choose another password.") from None

    # Recovery goes through Supabase's own email and link, so there are no tokens of ours.
    can_reset_passwords = True

    def request_password_reset(self, email: str, link_for: Callable[[str], str], return_to: str) -> Pending | None:
        storage = SyncMemoryStorage()
        try:
            self.project.user_client(storage=storage).auth.reset_password_for_email(
                normalise_email(email), {"redirect_to": return_to})
        except AuthApiError as error:  # the answer must not differ, whatever went wrong
            log.warning("Supabase password recovery: %s", error.code)
            return None
        return Pending(_verifier(storage), "recovery")

    def reset_password(self, token: str, password: str) -> SignedIn:
        raise InvalidInput("token", RESET_LINK_INVALID)

    def reset_user(self, token: str) -> None:
        return None


def _form_error(error: AuthApiError | AuthWeakPasswordError, field: str, fallback: str) -> InvalidInput:
    """Supabase's refusal as a message next to the form field it concerns."""
    if error.status == 429 or (error.code or "").startswith("over_"):
        return InvalidInput(field, TOO_MANY)
    if error.code in ("weak_password", "same_password"):
        return InvalidInput("password", error.message)
    if error.code in ("email_address_invalid", "validation_failed"):
        return InvalidInput("email", "Enter a valid email address.")
    return InvalidInput(field, fallback)


class _SharedRefreshes:
    """One refresh at a time per refresh token in this process, its result shared."""

    def __init__(self, refresh: Callable[[str], Credentials]) -> None:
        self._refresh = refresh
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._done: dict[str, tuple[float, Credentials]] = {}

    def get(self, refresh_token: str) -> Credentials:
        with self._guard:
            self._forget_old()
            lock = self._locks.setdefault(refresh_token, threading.Lock())
        with lock:
            done = self._done.get(refresh_token)
            if done:
                return done[1]
            try:
                renewed = self._refresh(refresh_token)
            except Exception:
                with self._guard:
                    self._locks.pop(refresh_token, None)
                raise
            with self._guard:
                self._done[refresh_token] = (time.monotonic(), renewed)
            return renewed

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - REFRESH_SHARED_FOR
        for token in [t for t, (at, _) in self._done.items() if at < cutoff]:
            del self._done[token]
            self._locks.pop(token, None)
