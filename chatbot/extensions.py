"""Flask extensions, created unbound and bound to the app in create_app."""
from __future__ import annotations

from flask_login import LoginManager, UserMixin
from flask_wtf.csrf import CSRFProtect

from .backends import backends

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Log in to see your chats."
login_manager.login_message_category = "info"
login_manager.session_protection = "basic"


class SignedInUser(UserMixin):
    """What flask-login keeps for the request: the id and the email to show."""

    def __init__(self, user_id: str, email: str) -> None:
        self.id = user_id
        self.email = email


@login_manager.user_loader
def load_user(user_id: str) -> SignedInUser | None:
    user = backends().accounts.user(user_id)
    return SignedInUser(user.id, user.email) if user else None
