"""Accounts at Supabase Auth: sign-up (with or without email confirmation), log-in and
log-out, refresh of rotating tokens, password recovery by email, and sign-in with GitHub or
Google, all through supabase-py.

The redirect flows are PKCE: the step that sends the user away (a confirmation or recovery
email, a provider's sign-in page) makes a code verifier, which waits in the user's own
session (``Pending``) until the link brings them back with a code that only it redeems.

Whether an account may sign in, and its role, is its profile's (``profiles``): checked with
the new session's token at every sign-in, and with the request's token at every request.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from supabase_auth import SyncMemoryStorage
from supabase_auth.errors import AuthApiError, AuthError, AuthRetryableError, AuthWeakPasswordError
from supabase_auth.types import Session

from ..accounts import (ACCOUNT_DISABLED, AWAITING_APPROVAL, LOGIN_REFUSED, MAX_PASSWORD, RESET_LINK_INVALID,
                        SIGNUP_REFUSED, AccountClosed, Credentials, EmailTaken, Pending, SessionEnded, SignedIn,
                        check_new_credentials, normalise_email)
from ..accounts.directory import ACTIVE, PENDING
from ..errors import InvalidInput
from . import SupabaseProject
from .profiles import NotReadable
from .refreshes import SharedRefreshes

log = logging.getLogger(__name__)

PROVIDERS = ("github", "google")
# An access token this close to its end is refreshed before signing out with it, so that a
# clock a little ahead of Supabase's, or a slow request, does not make the sign-out fail.
EXPIRY_MARGIN = 60  # seconds
LINK_INVALID = "This link has expired or has been used already. Try again."
TOO_MANY = "Too many attempts. Wait a few minutes and try again."


def _credentials(session: Session) -> Credentials:
    return Credentials(session.user.id, session.user.email or "", session.access_token, session.refresh_token,
                       session.expires_at or int(time.time()) + session.expires_in, session.expires_in)


def _signed_in(session: Session, role: str = "user") -> SignedIn:
    credentials = _credentials(session)
    return SignedIn(credentials.user_id, credentials.email, credentials, role)


def _verifier(storage: SyncMemoryStorage) -> str:
    """The PKCE code verifier supabase-py kept in the client's storage for this flow
    (stored as "<verifier>" or "<verifier>/PASSWORD_RECOVERY")."""
    stored = next(value for key, value in storage.storage.items() if key.endswith("-code-verifier"))
    return stored.partition("/")[0]


class SupabaseAccounts:
    def __init__(self, project: SupabaseProject, providers: tuple[str, ...] = ()) -> None:
        self.project = project
        self.sign_in_providers = providers
        self._refreshes = SharedRefreshes(self._refresh_now)
        self._directory = project.directory()  # to give a new account the standing the app decided

    # Supabase confirms email addresses itself (a project setting), through ``return_to``.
    confirms_email = False

    def confirmed_user(self, token: str) -> None:
        return None

    def sign_up(self, email: str, password: str, return_to: str, status: str = ACTIVE,
                link_for: Callable[[str], str] | None = None) -> SignedIn | Pending:
        email = check_new_credentials(email, password)
        storage = SyncMemoryStorage()
        try:
            answer = self.project.user_client(storage=storage).auth.sign_up(
                {"email": email, "password": password, "options": {"email_redirect_to": return_to}})
        except (AuthApiError, AuthWeakPasswordError) as error:
            if error.code in ("user_already_exists", "email_exists"):
                raise EmailTaken() from None
            raise _form_error(error, "email", SIGNUP_REFUSED) from None
        # The profile Supabase's trigger just made has the database's default standing: set
        # the one the app decided. (For an address that has an account, with confirmations on,
        # Supabase answers a made-up user without identities: nothing to set.)
        if answer.user is not None and answer.user.identities:
            self._directory.set_status(answer.user.id, status)
        if answer.session and status != ACTIVE:
            self.log_out(_credentials(answer.session))  # it waits for an admin: no session yet
            return SignedIn(answer.session.user.id, email)
        if answer.session:
            return _signed_in(answer.session)
        # Confirmation is on: a link is on its way. (For an email that already has an
        # account, Supabase answers the same and sends nothing, so nobody learns which.)
        new = answer.user.id if answer.user is not None and answer.user.identities else None
        return Pending(_verifier(storage), "signup", new)

    def log_in(self, email: str, password: str) -> SignedIn:
        try:
            answer = self.project.user_client().auth.sign_in_with_password(
                {"email": normalise_email(email), "password": password})
        except AuthApiError as error:
            if error.code == "email_not_confirmed":
                raise InvalidInput("email", "Confirm your email address first: follow the link we sent you.") from None
            raise _form_error(error, "password", LOGIN_REFUSED) from None
        return self._admitted(answer.session)

    def _admitted(self, session: Session | None) -> SignedIn:
        """A new session's account, if its profile lets it sign in; otherwise the session
        ends again and AccountClosed says why (to whoever gave the right password only)."""
        if session is None:  # Supabase answers a sign-in with a session, or an error
            raise InvalidInput("password", LOGIN_REFUSED)
        credentials = _credentials(session)
        profile = self.project.profiles.get(credentials.user_id, lambda: self.project.user_client(
            credentials.access_token), fresh=True)
        if profile is None or not profile.active:
            self.log_out(credentials)
            pending = profile is not None and profile.status == PENDING
            raise AccountClosed("email", AWAITING_APPROVAL if pending else ACCOUNT_DISABLED)
        return _signed_in(session, profile.role)

    def log_out(self, credentials: Credentials | None) -> None:
        """End this Supabase session (scope "local": the user's other devices stay signed in)
        with its own token, refreshed first if it has run out: Supabase takes no expired
        token, and the refresh token is the part that lives on. Never raises, never logs a
        token: Supabase out of reach must not keep anyone from signing out."""
        if credentials is None:
            return
        auth = self.project.user_client().auth
        try:
            access_token = credentials.access_token
            if credentials.expires_at <= time.time() + EXPIRY_MARGIN:
                renewed = auth.refresh_session(credentials.refresh_token).session
                if renewed is None:
                    return
                access_token = renewed.access_token
            auth.admin.sign_out(access_token, "local")
        except AuthRetryableError as error:
            log.warning("Supabase sign-out failed: %s", type(error).__name__)
        except AuthError as error:  # most often: already over (signed out elsewhere, revoked)
            log.info("Supabase sign-out: %s", error.code or type(error).__name__)

    def user(self, user_id: str, credentials: Credentials | None) -> SignedIn | None:
        """Run on every request: the profile is read with the request's own token, and kept
        a few seconds (see ``profiles`` for what that costs)."""
        if credentials is None or credentials.user_id != user_id:
            return None
        try:
            profile = self.project.profiles.get(user_id, lambda: self.project.user_client(credentials.access_token))
        except NotReadable:
            # A token Supabase no longer takes (a socket's, past its end): not signed in for
            # this request; the next HTTP request renews it, or signs the session out.
            return None
        if profile is None or not profile.active:
            return None
        return SignedIn(credentials.user_id, credentials.email, credentials, profile.role)

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
        return self._admitted(answer.session)

    def set_password(self, user: SignedIn, password: str) -> None:
        check_new_credentials(user.email, password)
        auth = self.project.user_client(user.credentials.access_token).auth
        try:
            auth.set_session(user.credentials.access_token, user.credentials.refresh_token)
            auth.update_user({"password": password})
        except (AuthApiError, AuthWeakPasswordError) as error:
            raise _form_error(error, "password", "Choose another password.") from None

    def check_password(self, user: SignedIn, password: str) -> bool:
        """Signs in with the password: only Supabase knows it. That session ends at once."""
        try:
            answer = self.project.user_client().auth.sign_in_with_password(
                {"email": normalise_email(user.email), "password": password[:MAX_PASSWORD]})
        except AuthApiError as error:
            if error.status == 429 or (error.code or "").startswith("over_"):
                raise InvalidInput("current_password", TOO_MANY) from None
            return False
        if answer.session is None:
            return False
        self.log_out(_credentials(answer.session))
        return answer.session.user.id == user.user_id

    def delete_user(self, user: SignedIn) -> None:
        pass  # the directory's delete_member deletes the user at Supabase Auth, with its data

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
