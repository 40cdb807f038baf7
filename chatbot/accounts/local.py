"""Local accounts: kept in the app's own database, passwords hashed with argon2 off the
event loop, password resets and email confirmations by signed links."""
from __future__ import annotations

import hashlib
import logging
import threading
from typing import Callable
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadData, URLSafeTimedSerializer

from ..errors import InvalidInput
from ..mail import Mailer
from ..offload import offload
from ..store import DuplicateEmail, User, Users
from . import (ACCOUNT_DISABLED, AWAITING_APPROVAL, CONFIRM_FIRST, CONFIRM_VALID_FOR, LOGIN_REFUSED, MAX_PASSWORD,
               RESET_LINK_INVALID, RESET_VALID_FOR, AccountClosed, Credentials, EmailTaken, Pending, SessionEnded,
               SignedIn, check_new_credentials, normalise_email)

log = logging.getLogger(__name__)


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class LocalAccounts:
    """Accounts in the app's own database."""

    def __init__(self, store: Users, secret_key: str = "", mailer: Mailer | None = None,
                 confirm_by_email: bool = False) -> None:
        self.store = store
        self.mailer = mailer
        self.confirm_by_email = confirm_by_email  # with a real mail server (not development's log)
        self.reset_tokens = URLSafeTimedSerializer(secret_key, salt="password-reset")
        self.confirm_tokens = URLSafeTimedSerializer(secret_key, salt="confirm-email")
        self.hasher = PasswordHasher()
        # Verified when the email is unknown, so a wrong email takes as long as a wrong password.
        self._dummy_hash = self.hasher.hash("not a real password")

    def sign_up(self, email: str, password: str, return_to: str = "", status: str = "active",
                link_for: Callable[[str], str] | None = None) -> SignedIn | Pending:
        email = check_new_credentials(email, password)
        # Hashed whether or not the email is taken, and an email sent either way when one
        # is (in the background): both answers take as long.
        password_hash = offload(self.hasher.hash, password)
        confirming = status == "unconfirmed" and link_for is not None
        try:
            user = self.store.add_user(email, password_hash, status)
        except DuplicateEmail:
            if not confirming:
                raise EmailTaken() from None
            self._mail(email, "You already have a Chatbot account", already_registered(_site(return_to)))
            return Pending("", "signup")
        if confirming:
            assert link_for is not None
            link = link_for(self.confirm_tokens.dumps({"user": user.id}))
            self._mail(email, "Confirm your Chatbot account", confirm_email(link))
            return Pending("", "signup", user.id)
        return _signed_in(user)

    @property
    def confirms_email(self) -> bool:
        return self.mailer is not None and self.confirm_by_email

    def confirmed_user(self, token: str) -> SignedIn | None:
        named = self._token_user(self.confirm_tokens, token, CONFIRM_VALID_FOR)
        return _signed_in(named[0]) if named and named[0].status == "unconfirmed" else None

    def _token_user(self, tokens: URLSafeTimedSerializer, token: str, max_age: int) -> tuple[User, dict] | None:
        """The account a signed, unexpired token of ours names, and the token's claims."""
        try:
            claims = tokens.loads(token, max_age=max_age)
        except BadData:
            return None
        user = self.store.user_by_id(str(claims.get("user", ""))) if isinstance(claims, dict) else None
        return (user, claims) if user is not None else None

    def log_in(self, email: str, password: str) -> SignedIn:
        user = self.store.user_by_email(normalise_email(email))
        matches = self._matches(user.password_hash if user else self._dummy_hash, password[:MAX_PASSWORD])
        if not (matches and user):
            raise InvalidInput("password", LOGIN_REFUSED)
        if user.status == "pending":
            raise AccountClosed("email", AWAITING_APPROVAL)
        if user.status == "unconfirmed":
            raise AccountClosed("email", CONFIRM_FIRST)
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
        self._mail(user.email, "Reset your Chatbot password", body)

    def _mail(self, to: str, subject: str, body: str) -> None:
        """Sent in the background, so an answer takes as long whether an account exists or not."""
        threading.Thread(target=self._send, args=(to, subject, body), daemon=True, name="mail").start()

    def _send(self, to: str, subject: str, body: str) -> None:
        if self.mailer is None:
            return
        try:
            self.mailer.send(to, subject, body)
        except Exception as error:  # noqa: BLE001 - logged; the user can ask again
            log.error("could not send an email (%s): %s", subject, error)

    def reset_password(self, token: str, password: str) -> SignedIn:
        user = self.reset_user(token)
        if user is None:
            raise InvalidInput("token", RESET_LINK_INVALID)
        signed_in = _signed_in(user)
        self.set_password(signed_in, password)
        return signed_in

    def reset_user(self, token: str) -> User | None:
        """The account a valid, unused reset token opens."""
        named = self._token_user(self.reset_tokens, token, RESET_VALID_FOR)
        if named is None or named[1].get("hash") != _fingerprint(named[0].password_hash):
            return None
        return named[0]


def confirm_email(link: str) -> str:
    return (f"Welcome to Chatbot! Confirm that this address is yours within two days:\n{link}\n\n"
            f"If you did not sign up, ignore this email: no account is made without it.\n")


def already_registered(site: str) -> str:
    return (f"Someone (we hope you) tried to sign up with this address, which has an account already.\n\n"
            f"Log in at {site}/login, or choose a new password at {site}/forgot if you have forgotten it.\n"
            f"If it wasn't you, ignore this email: nothing has changed.\n")


def _site(link: str) -> str:
    """The site's address (scheme and host) from one of its links."""
    parts = urlsplit(link)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _signed_in(user: User) -> SignedIn:
    return SignedIn(user.id, user.email, role=user.role)


def _fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]
