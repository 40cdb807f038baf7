"""Sign up, log in, log out, reset a forgotten password; with Supabase Auth, also the
links that come back to the app (email confirmation, recovery, sign-in providers)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from .accounts import RESET_LINK_INVALID, Pending, SignedIn
from .backends import backends, settings
from .errors import InvalidInput
from .signin import (current_credentials, end_recovery, keep_fresh, recovering, remember_pending, sign_in, sign_out,
                     start_recovery, take_pending)

bp = Blueprint("auth", __name__)


@bp.before_app_request
def _keep_session_fresh():
    keep_fresh(backends().accounts)


@bp.context_processor
def _sign_in_providers():
    return {"sign_in_providers": backends().accounts.sign_in_providers}


@bp.route("/signup", methods=("GET", "POST"))
def signup():
    """Create an account and sign in (or, when the email must be confirmed, say so)."""
    if request.method == "POST":
        try:
            result = backends().accounts.sign_up(request.form.get("email", ""), request.form.get("password", ""),
                                                 _link("auth.finish"))
        except InvalidInput as error:
            return render_template("auth/signup.html", errors={error.field: error.message}), 422
        if isinstance(result, Pending):
            remember_pending(result)
            return render_template("auth/check_email.html", email=request.form.get("email", ""))
        sign_in(result)
        return redirect(url_for("chat.index"))
    if current_user.is_authenticated:
        return redirect(url_for("chat.index"))
    return render_template("auth/signup.html", errors={})


@bp.route("/login", methods=("GET", "POST"))
def login():
    """Sign in with email and password."""
    if request.method == "POST":
        try:
            signed_in = backends().accounts.log_in(request.form.get("email", ""), request.form.get("password", ""))
        except InvalidInput as error:
            return render_template("auth/login.html", errors={error.field: error.message}), 422
        sign_in(signed_in, remember=request.form.get("remember") == "on")
        return redirect(_safe_next(request.args.get("next")) or url_for("chat.index"))
    if current_user.is_authenticated:
        return redirect(url_for("chat.index"))
    return render_template("auth/login.html", errors={})


@bp.post("/login/<provider>")
def login_with(provider):
    """Off to a sign-in provider (GitHub, Google), who sends the user back to ``finish``."""
    try:
        url, pending = backends().accounts.start_sign_in(provider, _link("auth.finish"))
    except InvalidInput:
        abort(404)
    remember_pending(pending)
    return redirect(url)


@bp.get("/auth/finish")
def finish():
    """Where links come back: a confirmation or recovery email's, a sign-in provider's.

    The code in the link is redeemed with the verifier this browser kept when it asked
    (PKCE), so a link only works where it was asked for, and nobody can sign someone else
    in by sending them a link of their own."""
    pending = take_pending()
    code = request.args.get("code", "")
    if pending is None or not code:
        message = request.args.get("error_description") or (
            "This link could not be used. Open it in the browser where you asked for it, or ask for a new one.")
        return render_template("auth/login.html", errors={"link": message}), 400
    try:
        signed_in = backends().accounts.finish(code, pending)
    except InvalidInput as error:
        return render_template("auth/login.html", errors={"link": error.message}), 400
    sign_in(signed_in)
    if pending.purpose == "recovery":
        start_recovery()
        return redirect(url_for("auth.new_password"))
    if pending.purpose == "signup":
        flash("Your email address is confirmed. Welcome!")
    return redirect(url_for("chat.index"))


@bp.post("/logout")
def logout():
    """Sign out, at the identity provider too (a POST, so no link or image can sign anyone out)."""
    backends().accounts.log_out(sign_out())
    return redirect(url_for("auth.login"))


@bp.route("/forgot", methods=("GET", "POST"))
def forgot():
    """Ask for a password-reset link by email. The answer is the same whether or not the
    email has an account."""
    accounts = backends().accounts
    if request.method == "POST" and accounts.can_reset_passwords:
        remember_pending(accounts.request_password_reset(request.form.get("email", ""), _reset_link,
                                                         _link("auth.finish")))
        return render_template("auth/forgot.html", can_reset=True, sent=True, errors={})
    return render_template("auth/forgot.html", can_reset=accounts.can_reset_passwords, sent=False, errors={})


@bp.route("/reset/<token>", methods=("GET", "POST"))
def reset(token):
    """Choose a new password with the emailed link (local accounts); signs in on success."""
    accounts = backends().accounts
    action = url_for("auth.reset", token=token)
    if request.method == "POST":
        try:
            signed_in = accounts.reset_password(token, request.form.get("password", ""))
        except InvalidInput as error:
            status = 400 if error.field == "token" else 422
            return render_template("auth/reset.html", action=action, errors={error.field: error.message}), status
        sign_in(signed_in)
        flash("Your password has been changed.")
        return redirect(url_for("chat.index"))
    if accounts.reset_user(token) is None:
        return render_template("auth/reset.html", action=action, errors={"token": RESET_LINK_INVALID}), 400
    return render_template("auth/reset.html", action=action, errors={})


@bp.route("/password", methods=("GET", "POST"))
@login_required
def new_password():
    """Choose a new password, where a recovery link (Supabase's) signed the user in."""
    if not recovering():
        abort(404)
    action = url_for("auth.new_password")
    if request.method == "POST":
        user = SignedIn(current_user.id, current_user.email, current_credentials())
        try:
            backends().accounts.set_password(user, request.form.get("password", ""))
        except InvalidInput as error:
            return render_template("auth/reset.html", action=action, errors={error.field: error.message}), 422
        end_recovery()
        flash("Your password has been changed.")
        return redirect(url_for("chat.index"))
    return render_template("auth/reset.html", action=action, errors={})


def _reset_link(token: str) -> str:
    return _link("auth.reset", token=token)


def _link(endpoint: str, **values: str) -> str:
    """An absolute link for emails and redirects: on PUBLIC_URL when set (required in
    production), never on the request's own Host header, which whoever asks controls."""
    path = url_for(endpoint, **values)
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
