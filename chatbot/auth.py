"""Sign up, log in, log out, reset a forgotten password."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from .backends import backends, settings
from .accounts import RESET_LINK_INVALID
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


@bp.route("/forgot", methods=("GET", "POST"))
def forgot():
    """Ask for a password-reset link by email. The answer is the same whether or not the
    email has an account."""
    accounts = backends().accounts
    if request.method == "POST" and accounts.can_reset_passwords:
        accounts.request_password_reset(request.form.get("email", ""), _reset_link)
        return render_template("auth/forgot.html", can_reset=True, sent=True, errors={})
    return render_template("auth/forgot.html", can_reset=accounts.can_reset_passwords, sent=False, errors={})


@bp.route("/reset/<token>", methods=("GET", "POST"))
def reset(token):
    """Choose a new password with the emailed link; signs in on success."""
    accounts = backends().accounts
    if request.method == "POST":
        try:
            user = accounts.reset_password(token, request.form.get("password", ""))
        except InvalidInput as error:
            status = 400 if error.field == "token" else 422
            return render_template("auth/reset.html", token=token, errors={error.field: error.message}), status
        login_user(SignedInUser(user.id, user.email))
        flash("Your password has been changed.")
        return redirect(url_for("chat.index"))
    if accounts.reset_user(token) is None:
        return render_template("auth/reset.html", token=token, errors={"token": RESET_LINK_INVALID}), 400
    return render_template("auth/reset.html", token=token, errors={})


def _reset_link(token: str) -> str:
    path = url_for("auth.reset", token=token)
    # PUBLIC_URL when set (required in production): never the request's own Host header,
    # which whoever asks for the reset controls.
    public = settings().public_url
    return (public.rstrip("/") if public else request.host_url.rstrip("/")) + path


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: never send a user off to another site after logging in."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target
