"""What an admin may do to accounts, and what a user may do to their own: the rules, with
the backends as arguments. Every change that takes someone's access away also ends their
sessions, so their open pages close within seconds wherever they are."""
from __future__ import annotations

import logging

from ..errors import InvalidInput, NotFound
from ..live.channel import Channel
from . import Accounts, SignedIn, check_new_credentials
from .directory import ACTIVE, ADMIN, DISABLED, PENDING, USER, Directory, Member
from .sessions import Sessions, end_user_sessions

log = logging.getLogger("chatbot.auth")

LAST_ADMIN = "This is the only admin: make someone else an admin first."
NOT_YOURSELF = "Use your account page to change your own account."
WRONG_PASSWORD = "That is not your current password."


class Admin:
    """One admin acting on the directory; the actor's id for the log and the rules."""

    def __init__(self, directory: Directory, sessions: Sessions, channel: Channel, actor_id: str) -> None:
        self.directory, self.sessions, self.channel, self.actor_id = directory, sessions, channel, actor_id

    def member(self, user_id: str) -> Member:
        member = self.directory.member(user_id)
        if member is None:
            raise NotFound(user_id)
        return member

    def approve(self, user_id: str) -> None:
        self._set_status(user_id, ACTIVE)

    def disable(self, user_id: str) -> None:
        self._set_status(user_id, DISABLED)

    def enable(self, user_id: str) -> None:
        self._set_status(user_id, ACTIVE)

    def make_admin(self, user_id: str) -> None:
        member = self._other(user_id)
        self.directory.set_role(member.id, ADMIN)
        log.info("admin %s made user %s an admin", self.actor_id, member.id)

    def remove_admin(self, user_id: str) -> None:
        member = self._other(user_id)
        self._keep_an_admin(member)
        self.directory.set_role(member.id, USER)
        log.info("admin %s removed admin from user %s", self.actor_id, member.id)

    def delete(self, user_id: str) -> None:
        member = self._other(user_id)
        self._keep_an_admin(member)
        end_user_sessions(self.sessions, self.channel, member.id)
        self.directory.delete_member(member.id)
        log.info("admin %s deleted user %s and their data", self.actor_id, member.id)

    def _set_status(self, user_id: str, status: str) -> None:
        member = self._other(user_id)
        if status != ACTIVE:
            self._keep_an_admin(member)
        self.directory.set_status(member.id, status)
        if status != ACTIVE:
            end_user_sessions(self.sessions, self.channel, member.id)
        log.info("admin %s set user %s %s", self.actor_id, member.id, status)

    def _other(self, user_id: str) -> Member:
        member = self.member(user_id)
        if member.id == self.actor_id:
            raise InvalidInput("user", NOT_YOURSELF)
        return member

    def _keep_an_admin(self, member: Member) -> None:
        if member.is_admin and member.status == ACTIVE and self.directory.count_admins() <= 1:
            raise InvalidInput("user", LAST_ADMIN)


def change_password(accounts: Accounts, sessions: Sessions, channel: Channel, user: SignedIn, current: str,
                    new: str, keep: str | None) -> int:
    """Change the password, then end every other session of the user (how many)."""
    if not accounts.check_password(user, current):
        raise InvalidInput("current_password", WRONG_PASSWORD)
    check_new_credentials(user.email, new)
    accounts.set_password(user, new)
    ended = end_user_sessions(sessions, channel, user.user_id, keep=keep)
    log.info("password changed: user %s; %d other sessions ended", user.user_id, ended)
    return ended


def delete_own_account(accounts: Accounts, directory: Directory, sessions: Sessions, channel: Channel,
                       user: SignedIn, password: str) -> None:
    """Delete the account and all its data, once the password confirms it is its owner."""
    if not accounts.check_password(user, password):
        raise InvalidInput("password", WRONG_PASSWORD)
    member = directory.member(user.user_id)
    if member is not None and member.is_admin and directory.count_admins() <= 1:
        raise InvalidInput("password", "You are the only admin: make someone else an admin before you go.")
    end_user_sessions(sessions, channel, user.user_id)
    directory.delete_member(user.user_id)
    accounts.delete_user(user)
    log.info("account deleted by its owner: user %s", user.user_id)


def set_admin_by_email(directory: Directory, email: str, admin: bool) -> Member:
    """For the command line: make the account with ``email`` an admin (and active), or not."""
    match = next((m for m in directory.members(email.strip().lower(), limit=1000)
                  if m.email == email.strip().lower()), None)
    if match is None:
        raise NotFound(email)
    if admin:
        directory.set_role(match.id, ADMIN)
        if match.status == PENDING:
            directory.set_status(match.id, ACTIVE)
    else:
        if match.is_admin and directory.count_admins() <= 1:
            raise InvalidInput("email", LAST_ADMIN)
        directory.set_role(match.id, USER)
    return directory.member(match.id) or match
