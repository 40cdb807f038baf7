"""The accounts seam: who may sign in. ``LocalAccounts`` keeps them in our own store,
passwords hashed with argon2 off the event loop."""
from __future__ import annotations

import re
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import InvalidInput
from .offload import offload
from .store import DuplicateEmail, Store, User

MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # hashing is deliberately slow; do not let anyone feed it megabytes
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# One message for both cases, so the form never tells which emails have accounts.
SIGNUP_REFUSED = "We couldn't create an account with these details. If you already have one, log in instead."
LOGIN_REFUSED = "That email and password don't match an account."


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

    def __init__(self, store: Store) -> None:
        self.store = store
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
