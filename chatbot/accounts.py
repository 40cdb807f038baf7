"""The accounts seam: who may sign in. ``LocalAccounts`` keeps them in our own store,
passwords hashed with argon2 off the event loop."""
from __future__ import annotations

import hashlib
import logging
import re
import threading
from typing import Callable, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadData, URLSafeTimedSerializer

from .errors import InvalidInput
from .mail import Mailer
from .offload import offload
from .store import DuplicateEmail, Store, User

log = logging.getLogger(__name__)

MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # hashing is deliberately slow; do not let anyone feed it megabytes
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# One message for both cases, so the form never tells which emails have accounts.
SIGNUP_REFUSED = "We couldn't create an account with these details. If you already have one, log in instead."
LOGIN_REFUSED = "That email and password don't match an account."
RESET_LINK_INVALID = "This link has expired or has been used already. Ask for a new one."
RESET_VALID_FOR = 3600  # seconds


class Accounts(Protocol):
    def sign_up(self, email: str, password: str) -> User:
        """Create an account; InvalidInput (with the field to blame) if it cannot be."""
        ...

    def log_in(self, email: str, password: str) -> User:
        """The account these credentials open; InvalidInput otherwise."""
        ...

    def user(self, user_id: str) -> User | None:
        """The account behind a session, if it still exists."""
        ...

    @property
    def can_reset_passwords(self) -> bool:
        """Whether password-reset emails can be sent at all."""
        ...

    def request_password_reset(self, email: str, link_for: Callable[[str], str]) -> None:
        """Email a reset link (``link_for(token)``) if an account has this email. Says
        nothing either way: the caller's answer must not reveal who has an account."""
        ...

    def reset_password(self, token: str, password: str) -> User:
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
    return email


class LocalAccounts:
    """Accounts in the app's own database."""

    def __init__(self, store: Store, secret_key: str = "", mailer: Mailer | None = None) -> None:
        self.store = store
        self.mailer = mailer
        self.reset_tokens = URLSafeTimedSerializer(secret_key, salt="password-reset")
        self.hasher = PasswordHasher()
        # Verified when the email is unknown, so a wrong email takes as long as a wrong password.
        self._dummy_hash = self.hasher.hash("not a real password")

    def sign_up(self, email: str, password: str) -> User:
        email = check_new_credentials(email, password)
        password_hash = offload(self.hasher.hash, password)
        try:
            return self.store.add_user(email, password_hash)
        except DuplicateEmail:
            raise InvalidInput("email", SIGNUP_REFUSED) from None

    def log_in(self, email: str, password: str) -> User:
        user = self.store.user_by_email(normalise_email(email))
        matches = self._matches(user.password_hash if user else self._dummy_hash, password[:MAX_PASSWORD])
        if not (matches and user):
            raise InvalidInput("password", LOGIN_REFUSED)
        return user

    def user(self, user_id: str) -> User | None:
        return self.store.user_by_id(user_id)

    def _matches(self, password_hash: str, password: str) -> bool:
        try:
            return offload(self.hasher.verify, password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    # Password resets. A token names the account and a fingerprint of its password hash:
    # it expires after RESET_VALID_FOR seconds and dies once the password changes, so it
    # works once.
    @property
    def can_reset_passwords(self) -> bool:
        return self.mailer is not None

    def request_password_reset(self, email: str, link_for: Callable[[str], str]) -> None:
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
        try:
            self.mailer.send(to, subject, body)
        except Exception as error:  # noqa: BLE001 - logged; the user can ask again
            log.error("could not send a password-reset email: %s", error)

    def reset_password(self, token: str, password: str) -> User:
        user = self.reset_user(token)
        if user is None:
            raise InvalidInput("token", RESET_LINK_INVALID)
        check_new_credentials(user.email, password)
        self.store.set_password_hash(user.id, offload(self.hasher.hash, password))
        return user

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


def _fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]
