"""Sign up, log in, log out."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from .backends import backends
from .errors import InvalidInput
from .extensions import SignedInUser

bp = Blueprint("auth", __name__)


@bp.route("/signup", methods=("GET", "POST"))
def signup():
    """Create a local account and sign in."""
    if request.method == "POST":
        try:
            user = backends().accounts.sign_up(request.form.get("email", ""), request.form.get("password", ""))
        except InvalidInput as error:
            return render_template("auth/signup.html", errors={error.field: error.message}), 422
        login_user(SignedInUser(user.id, user.email))
        return redirect(url_for("chat.index"))
    if current_user.is_authenticated:
        return redirect(url_for("chat.index"))
    return render_template("auth/signup.html", errors={})


@bp.route("/login", methods=("GET", "POST"))
def login():
    """Sign in with email and password."""
    if request.method == "POST":
        try:
            user = backends().accounts.log_in(request.form.get("email", ""), request.form.get("password", ""))
        except InvalidInput as error:
            return render_template("auth/login.html", errors={error.field: error.message}), 422
        login_user(SignedInUser(user.id, user.email), remember=request.form.get("remember") == "on")
        return redirect(_safe_next(request.args.get("next")) or url_for("chat.index"))
    if current_user.is_authenticated:
        return redirect(url_for("chat.index"))
    return render_template("auth/login.html", errors={})


@bp.post("/logout")
def logout():
    """Sign out (a POST, so no link or image can sign anyone out)."""
    logout_user()
    return redirect(url_for("auth.login"))


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: never send a user off to another site after logging in."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target
