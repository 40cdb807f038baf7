"""Local accounts: sign up, log in. Passwords hashed with argon2, off the event loop."""
from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import InvalidInput
from .offload import offload
from .store import DuplicateEmail, Store, User

MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # hashing is deliberately slow; do not let anyone feed it megabytes
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_hasher = PasswordHasher()
# Verified when the email is unknown, so a wrong email takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a real password")

# One message for both cases, so the form never tells which emails have accounts.
SIGNUP_REFUSED = "We couldn't create an account with these details. If you already have one, log in instead."
LOGIN_REFUSED = "That email and password don't match an account."


def normalise_email(email: str) -> str:
    return email.strip().lower()


def sign_up(store: Store, email: str, password: str) -> User:
    email = normalise_email(email)
    if not _EMAIL.match(email) or len(email) > 320:
        raise InvalidInput("email", "Enter a valid email address.")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("password", f"Use at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput("password", f"Use at most {MAX_PASSWORD} characters.")
    password_hash = offload(_hasher.hash, password)
    try:
        return store.add_user(email, password_hash)
    except DuplicateEmail:
        raise InvalidInput("email", SIGNUP_REFUSED) from None


def log_in(store: Store, email: str, password: str) -> User:
    user = store.user_by_email(normalise_email(email))
    if not _password_matches(user.password_hash if user else _DUMMY_HASH, password[:MAX_PASSWORD]) or not user:
        raise InvalidInput("password", LOGIN_REFUSED)
    return user


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return offload(_hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
