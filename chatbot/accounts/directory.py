"""The operator's view of the accounts: who they are, their role and standing, the sign-up
policy and invitations, and how much each one uses the model. Local accounts keep it in the
app's database (``sqldirectory``); on Supabase, beside Supabase Auth."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

# Roles and standings. A pending account waits for an admin's approval; an unconfirmed one
# for its owner to follow the link emailed to them; a disabled one was turned away. None of
# them can sign in or keep a socket open.
USER, ADMIN = "user", "admin"
ACTIVE, PENDING, UNCONFIRMED, DISABLED = "active", "pending", "unconfirmed", "disabled"
ROLES = (USER, ADMIN)
STATUSES = (ACTIVE, PENDING, UNCONFIRMED, DISABLED)

# Sign-up policies: anyone; anyone, once an admin approves; only with an invitation link; nobody.
OPEN, APPROVAL, INVITE, CLOSED = "open", "approval", "invite", "closed"
SIGNUP_POLICIES = (OPEN, APPROVAL, INVITE, CLOSED)


@dataclass(frozen=True)
class Member:
    """An account as the admin pages show it."""
    id: str
    email: str
    role: str
    status: str
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


@dataclass(frozen=True)
class DailyUsage:
    day: date
    messages: int  # the user's own messages sent that day
    replies: int
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class ModelUsage:
    day: date  # UTC
    model: str | None  # the model that wrote the replies
    replies: int
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Invitation:
    id: str
    created_by: str | None
    created_at: datetime
    expires_at: datetime
    used_by: str | None  # the account it made, once used


class Directory(Protocol):
    def member(self, user_id: str) -> Member | None: ...

    def members(self, search: str = "", limit: int = 50, offset: int = 0) -> list[Member]:
        """Accounts whose email contains ``search``, pending ones first, then the newest."""
        ...

    def set_role(self, user_id: str, role: str) -> None: ...
    def set_status(self, user_id: str, status: str) -> None: ...

    def count_admins(self) -> int:
        """Active admins."""
        ...

    def claim_first_admin(self, user_id: str) -> bool:
        """Make ``user_id`` an active admin if there is no admin yet (the first account)."""
        ...

    def delete_member(self, user_id: str) -> None:
        """Delete everything the account owns (chats, messages, files, session records) and
        the account itself."""
        ...

    def usage(self, user_id: str, days: int) -> list[DailyUsage]:
        """Messages and tokens per day over the last ``days`` days, newest first (days with none left out)."""
        ...

    def model_usage(self, user_id: str, since: date) -> list[ModelUsage]:
        """Replies and their tokens per day (UTC) and model since ``since``, newest day first."""
        ...

    def setting(self, name: str) -> str | None: ...
    def set_setting(self, name: str, value: str) -> None: ...

    def add_invitation(self, token_hash: str, created_by: str, valid_for: float) -> Invitation: ...
    def invitations(self) -> list[Invitation]:
        """Invitations not yet used nor expired, the newest first."""
        ...
    def revoke_invitation(self, invitation_id: str) -> bool: ...
    def use_invitation(self, token_hash: str, user_id: str) -> bool:
        """Mark a running invitation used by ``user_id``; False if none is (used, expired, revoked)."""
        ...
    def invitation_valid(self, token_hash: str) -> bool: ...
