"""The accounts seam: who may sign in. ``LocalAccounts`` (``local``) keeps them in our own
store; ``SupabaseAccounts`` (in ``chatbot.supabase_backend``) leaves them to Supabase Auth."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from ..errors import InvalidInput
from .passwords import weakness

MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # hashing is deliberately slow; do not let anyone feed it megabytes
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# One message for both cases, so the form never tells which emails have accounts.
SIGNUP_REFUSED = "We couldn't create an account with these details. If you already have one, log in instead."
LOGIN_REFUSED = "That email and password don't match an account."
# Said only to whoever gives the right password.
AWAITING_APPROVAL = "Your account is waiting for an administrator's approval. Try again once you hear from them."
ACCOUNT_DISABLED = "This account has been disabled. Ask the administrator of this site."
CONFIRM_FIRST = "Confirm your email address first: follow the link we sent you."
CONFIRM_VALID_FOR = 2 * 86400  # seconds
RESET_LINK_INVALID = "This link has expired or has been used already. Ask for a new one."
RESET_VALID_FOR = 3600  # seconds
# Access tokens are renewed once less than this is left (or half their life, if shorter):
# every request, and every reply task it starts, holds a token good for that long still.
REFRESH_MARGIN = 15 * 60  # seconds


@dataclass(frozen=True)
class Credentials:
    """A session at an identity provider (Supabase Auth), kept in the user's signed session
    cookie: the access token that data requests carry, and the refresh token that renews it."""
    user_id: str
    email: str
    access_token: str
    refresh_token: str
    expires_at: int  # epoch seconds
    lifetime: int  # seconds an access token lasts

    @property
    def renew_at(self) -> float:
        """When to renew them (epoch seconds)."""
        return self.expires_at - min(REFRESH_MARGIN, self.lifetime / 2)

    def due_for_refresh(self) -> bool:
        return time.time() >= self.renew_at


@dataclass(frozen=True)
class SignedIn:
    user_id: str
    email: str
    credentials: Credentials | None = None  # local accounts need none
    role: str = "user"  # "admin" may open the admin pages


@dataclass(frozen=True)
class Pending:
    """A step that finishes when the user follows a link (an email's, or a sign-in
    provider's redirect) back to the app, carrying a code that only ``verifier`` redeems
    (PKCE). The verifier waits in the user's session meanwhile."""
    verifier: str
    purpose: str  # "signup", "recovery" or "oauth"
    user_id: str | None = None  # a sign-up's new account, which waits for the link


class EmailTaken(InvalidInput):
    """Sign-up with the email of an existing account (shown as the same refusal as others)."""

    def __init__(self) -> None:
        super().__init__("email", SIGNUP_REFUSED)


class AccountClosed(InvalidInput):
    """The right password, for an account that may not sign in (pending or disabled)."""


class SessionEnded(Exception):
    """The provider no longer honours this session (signed out elsewhere, revoked)."""


class Accounts(Protocol):
    def sign_up(self, email: str, password: str, return_to: str, status: str = "active",
                link_for: Callable[[str], str] | None = None) -> SignedIn | Pending:
        """Create an account and sign in, or Pending when the email must be confirmed first.
        ``status``: "active"; "pending" (an admin's approval); or "unconfirmed" (where
        ``confirms_email``: a link to ``link_for(token)`` is emailed, and an email that has an
        account already gets a note instead, with the same answer). Supabase's own
        confirmation links lead to ``return_to``. EmailTaken, or InvalidInput (with the field
        to blame) if it cannot be."""
        ...

    @property
    def confirms_email(self) -> bool:
        """Whether new accounts may be made "unconfirmed", to confirm by a link we email."""
        ...

    def confirmed_user(self, token: str) -> SignedIn | None:
        """The unconfirmed account a confirmation token names, while it is valid."""
        ...

    def log_in(self, email: str, password: str) -> SignedIn:
        """The account these credentials open; InvalidInput otherwise."""
        ...

    def log_out(self, credentials: Credentials | None) -> None:
        """End the session at the provider too, if it keeps one."""
        ...

    def user(self, user_id: str, credentials: Credentials | None) -> SignedIn | None:
        """The account behind a session, if it still stands and may sign in."""
        ...

    def refresh(self, credentials: Credentials) -> Credentials:
        """Renewed credentials; SessionEnded if the provider refuses."""
        ...

    @property
    def sign_in_providers(self) -> tuple[str, ...]:
        """Outside sign-in providers on offer ("github", "google")."""
        ...

    def start_sign_in(self, provider: str, return_to: str) -> tuple[str, Pending]:
        """Where to send the browser to sign in with ``provider``; it comes back to ``return_to``."""
        ...

    def finish(self, code: str, pending: Pending) -> SignedIn:
        """Redeem the code a link brought back; InvalidInput("code") if it is no good."""
        ...

    def set_password(self, user: SignedIn, password: str) -> None:
        """Change the signed-in user's password; InvalidInput("password") if unfit."""
        ...

    def check_password(self, user: SignedIn, password: str) -> bool:
        """Whether ``password`` is the user's (before a change of password or a deletion)."""
        ...

    def delete_user(self, user: SignedIn) -> None:
        """Delete the account itself (its data is the directory's and the stores' to delete)."""
        ...

    @property
    def can_reset_passwords(self) -> bool:
        """Whether password-reset emails can be sent at all."""
        ...

    def request_password_reset(self, email: str, link_for: Callable[[str], str], return_to: str) -> Pending | None:
        """Email a reset link if an account has this email: to ``link_for(token)`` (local
        accounts, see ``reset_password``) or, Pending, through ``return_to`` signed in for a
        new password. Says nothing either way: the answer must not reveal who has an account."""
        ...

    def reset_password(self, token: str, password: str) -> SignedIn:
        """Set a new password with a reset token; InvalidInput ("token" or "password")."""
        ...


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_new_credentials(email: str, password: str) -> str:
    """The normalised email, or InvalidInput naming the field at fault."""
    email = normalise_email(email)
    if not _EMAIL.match(email) or len(email) > 320:
        raise InvalidInput("email", "Enter a valid email address.")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("password", f"Use at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput("password", f"Use at most {MAX_PASSWORD} characters.")
    problem = weakness(password, email)
    if problem:
        raise InvalidInput("password", problem)
    return email
