"""The accounts seam: who may sign in. ``LocalAccounts`` keeps them in our own store,
passwords hashed with argon2 off the event loop; ``SupabaseAccounts`` (in
``chatbot.supabase_backend``) leaves them to Supabase Auth."""
from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadData, URLSafeTimedSerializer

from ..errors import InvalidInput
from ..mail import Mailer
from ..offload import offload
from ..store import DuplicateEmail, User, Users
from .passwords import weakness

log = logging.getLogger(__name__)

MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # hashing is deliberately slow; do not let anyone feed it megabytes
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# One message for both cases, so the form never tells which emails have accounts.
SIGNUP_REFUSED = "We couldn't create an account with these details. If you already have one, log in instead."
LOGIN_REFUSED = "That email and password don't match an account."
# Said only to whoever gives the right password.
AWAITING_APPROVAL = "Your account is waiting for an administrator's approval. Try again once you hear from them."
ACCOUNT_DISABLED = "This account has been disabled. Ask the administrator of this site."
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
    def sign_up(self, email: str, password: str, return_to: str, status: str = "active") -> SignedIn | Pending:
        """Create an account (``status``: "active", or "pending" an admin's approval) and sign
        in, or Pending when the email must be confirmed first (the link leads to
        ``return_to``); EmailTaken, or InvalidInput (with the field to blame) if it cannot be."""
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


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class LocalAccounts:
    """Accounts in the app's own database."""

    def __init__(self, store: Users, secret_key: str = "", mailer: Mailer | None = None) -> None:
        self.store = store
        self.mailer = mailer
        self.reset_tokens = URLSafeTimedSerializer(secret_key, salt="password-reset")
        self.hasher = PasswordHasher()
        # Verified when the email is unknown, so a wrong email takes as long as a wrong password.
        self._dummy_hash = self.hasher.hash("not a real password")

    def sign_up(self, email: str, password: str, return_to: str = "", status: str = "active") -> SignedIn:
        email = check_new_credentials(email, password)
        # Hashed whether or not the email is taken: both answers take as long.
        password_hash = offload(self.hasher.hash, password)
        try:
            return _signed_in(self.store.add_user(email, password_hash, status))
        except DuplicateEmail:
            raise EmailTaken() from None

    def log_in(self, email: str, password: str) -> SignedIn:
        user = self.store.user_by_email(normalise_email(email))
        matches = self._matches(user.password_hash if user else self._dummy_hash, password[:MAX_PASSWORD])
        if not (matches and user):
            raise InvalidInput("password", LOGIN_REFUSED)
        if user.status == "pending":
            raise AccountClosed("email", AWAITING_APPROVAL)
        if user.status != "active":
            raise AccountClosed("email", ACCOUNT_DISABLED)
        return _signed_in(user)

    def log_out(self, credentials: Credentials | None) -> None:
        pass  # the session cookie is all there is

    def user(self, user_id: str, credentials: Credentials | None = None) -> SignedIn | None:
        user = self.store.user_by_id(user_id)
        return _signed_in(user) if user and user.status == "active" else None

    def refresh(self, credentials: Credentials) -> Credentials:
        raise SessionEnded("local accounts issue no credentials")

    sign_in_providers: tuple[str, ...] = ()

    def start_sign_in(self, provider: str, return_to: str) -> tuple[str, Pending]:
        raise InvalidInput("provider", "Sign-in providers are not available here.")

    def finish(self, code: str, pending: Pending) -> SignedIn:
        raise InvalidInput("code", RESET_LINK_INVALID)

    def set_password(self, user: SignedIn, password: str) -> None:
        check_new_credentials(user.email, password)
        self.store.set_password_hash(user.user_id, offload(self.hasher.hash, password))

    def check_password(self, user: SignedIn, password: str) -> bool:
        stored = self.store.user_by_id(user.user_id)
        return stored is not None and self._matches(stored.password_hash, password[:MAX_PASSWORD])

    def delete_user(self, user: SignedIn) -> None:
        pass  # the directory deletes the row with everything the account owns

    def _matches(self, password_hash: str, password: str) -> bool:
        # The answer, not an exception, crosses the thread pool: gevent's pool logs the
        # traceback of every exception it hands back, and a wrong password is no error.
        return offload(_verify, self.hasher, password_hash, password)

    # Password resets. A token names the account and a fingerprint of its password hash:
    # it expires after RESET_VALID_FOR seconds and dies once the password changes, so it
    # works once.
    @property
    def can_reset_passwords(self) -> bool:
        return self.mailer is not None

    def request_password_reset(self, email: str, link_for: Callable[[str], str], return_to: str = "") -> None:
        user = self.store.user_by_email(normalise_email(email))
        if user is None or self.mailer is None:
            return
        token = self.reset_tokens.dumps({"user": user.id, "hash": _fingerprint(user.password_hash)})
        body = (f"Someone (we hope you) asked to reset the password of your Chatbot account.\n\n"
                f"Choose a new password here within the hour:\n{link_for(token)}\n\n"
                f"If it wasn't you, ignore this email: your password stays as it is.\n")
        # Sent in the background, so the answer takes as long whether the account exists or not.
        threading.Thread(target=self._send, args=(user.email, "Reset your Chatbot password", body),
                         daemon=True, name="mail").start()

    def _send(self, to: str, subject: str, body: str) -> None:
        if self.mailer is None:
            return
        try:
            self.mailer.send(to, subject, body)
        except Exception as error:  # noqa: BLE001 - logged; the user can ask again
            log.error("could not send a password-reset email: %s", error)

    def reset_password(self, token: str, password: str) -> SignedIn:
        user = self.reset_user(token)
        if user is None:
            raise InvalidInput("token", RESET_LINK_INVALID)
        signed_in = _signed_in(user)
        self.set_password(signed_in, password)
        return signed_in

    def reset_user(self, token: str) -> User | None:
        """The account a valid, unused reset token opens."""
        try:
            claims = self.reset_tokens.loads(token, max_age=RESET_VALID_FOR)
        except BadData:
            return None
        user = self.store.user_by_id(str(claims.get("user", ""))) if isinstance(claims, dict) else None
        if user is None or claims.get("hash") != _fingerprint(user.password_hash):
            return None
        return user


def _signed_in(user: User) -> SignedIn:
    return SignedIn(user.id, user.email, role=user.role)


def _fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]
