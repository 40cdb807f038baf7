"""Who may create an account: the sign-up policy, invitations, and the first account, which
becomes the admin whatever the policy (a fresh install must have someone to run it).

With admin approval the answer is the same whether or not the email has an account already
(the account waits either way, as far as anyone can tell), so sign-up tells no one which
emails are registered. Open sign-up without email confirmation cannot hide it, since a new
account is signed in at once; there the per-address limit on sign-ups keeps anyone from
asking about many emails."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Callable

from ..errors import InvalidInput
from . import Accounts, EmailTaken, Pending, SignedIn
from .directory import ACTIVE, ADMIN, APPROVAL, CLOSED, INVITE, PENDING, SIGNUP_POLICIES, UNCONFIRMED, Directory
from .sessions import hash_token

POLICY_SETTING = "signup_policy"
INVITATION_VALID_FOR = 7 * 86400  # seconds
SIGNUPS_CLOSED = "Sign-ups are closed on this site. Ask its administrator for an account."
INVITATION_NEEDED = "Sign-up here is by invitation. Open the link from your invitation to sign up."
INVITATION_INVALID = "This invitation has expired or has been used already. Ask for a new one."
CONFIRM_LINK_INVALID = "This link has expired or has been used already. Sign up again, or log in if you have confirmed."


@dataclass(frozen=True)
class AwaitingApproval:
    """The sign-up is received; an admin approves the account before it can sign in."""


def policy(directory: Directory, default: str) -> str:
    """The sign-up policy: as the admin set it, else the configured default."""
    chosen = directory.setting(POLICY_SETTING)
    return chosen if chosen in SIGNUP_POLICIES else default


def set_policy(directory: Directory, chosen: str) -> None:
    if chosen not in SIGNUP_POLICIES:
        raise InvalidInput("policy", "Choose one of the sign-up policies.")
    directory.set_setting(POLICY_SETTING, chosen)


def can_sign_up(directory: Directory, current_policy: str, invitation: str | None) -> str | None:
    """Why sign-up is not open to this visitor (None: it is)."""
    if directory.count_admins() == 0:
        return None  # the first account
    if current_policy == CLOSED:
        return SIGNUPS_CLOSED
    if current_policy == INVITE:
        if not invitation:
            return INVITATION_NEEDED
        if not directory.invitation_valid(hash_token(invitation)):
            return INVITATION_INVALID
    return None


def sign_up(accounts: Accounts, directory: Directory, current_policy: str, email: str, password: str,
            return_to: str, invitation: str | None = None, confirm_link: Callable[[str], str] | None = None
            ) -> SignedIn | Pending | AwaitingApproval:
    """Create an account as the policy allows; InvalidInput with the field to blame.

    Where the accounts can email a confirmation link (a real mail server), an open or
    invited sign-up waits for it, so that its answer ("check your email") is the same for an
    email that has an account (whose owner is told by email instead)."""
    first = directory.count_admins() == 0
    refusal = can_sign_up(directory, current_policy, invitation)
    if refusal:
        raise InvalidInput("invitation" if current_policy == INVITE else "email", refusal)
    waits = current_policy == APPROVAL and not first
    status = PENDING if waits else UNCONFIRMED if accounts.confirms_email and not first else ACTIVE
    try:
        result = accounts.sign_up(email, password, return_to, status=status, link_for=confirm_link)
    except EmailTaken:
        if waits:
            return AwaitingApproval()  # the same answer as for a new email
        raise
    if waits:
        return AwaitingApproval()
    # The new account's id: signed in at once, or waiting for its confirmation link (None
    # when the email had an account already, which the answer must not tell).
    user_id = result.user_id
    if user_id is None:
        return result
    if first and directory.claim_first_admin(user_id):
        if isinstance(result, SignedIn):
            result = SignedIn(result.user_id, result.email, result.credentials, role=ADMIN)
    elif current_policy == INVITE and not first and not directory.use_invitation(hash_token(invitation or ""),
                                                                                    user_id):
        directory.delete_member(user_id)  # someone used it a moment before
        raise InvalidInput("invitation", INVITATION_INVALID)
    return result


def confirm(accounts: Accounts, directory: Directory, token: str) -> SignedIn:
    """Confirm an account's email address with the emailed link's token: it may sign in."""
    user = accounts.confirmed_user(token)
    if user is None:
        raise InvalidInput("token", CONFIRM_LINK_INVALID)
    directory.set_status(user.user_id, ACTIVE)
    return user


def new_invitation(directory: Directory, admin_id: str) -> str:
    """A new single-use invitation; its token, for the link (only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    directory.add_invitation(hash_token(token), admin_id, INVITATION_VALID_FOR)
    return token


