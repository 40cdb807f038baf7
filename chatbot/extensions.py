"""Flask extensions, created unbound and bound to the app in create_app."""
from __future__ import annotations

from flask import session
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from .backends import backends
from .signin import SignedInUser, current_credentials

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Log in to see your chats."
login_manager.login_message_category = "info"
login_manager.session_protection = "basic"


@login_manager.user_loader
def load_user(user_id: str) -> SignedInUser | None:
    """The user of a running server-side session, and only of one: a user id in an old
    signed cookie, or in flask-login's remember-me cookie, opens nothing."""
    record = getattr(session, "record", None)
    if record is None or record.user_id != user_id:
        return None
    signed_in = backends().accounts.user(user_id, current_credentials())
    return SignedInUser(signed_in.user_id, signed_in.email, signed_in.role) if signed_in else None
