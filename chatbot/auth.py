"""Sign up, log in, log out, reset a forgotten password; with Supabase Auth, also the
links that come back to the app (email confirmation, recovery, sign-in providers)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

import hashlib
import logging
import re

from .accounts import RESET_LINK_INVALID, Pending, SignedIn, normalise_email
from .accounts.limits import limiter
from .accounts.sessions import end_user_sessions
from .accounts import signup as registration
from .backends import backends, settings
from .errors import InvalidInput
from .signin import (client_address, current_credentials, current_session_id, end_recovery, keep_fresh, recovering,
                     remember_pending, sign_in, sign_out, start_recovery, take_pending)

bp = Blueprint("auth", __name__)
log = logging.getLogger("chatbot.auth")


@bp.before_app_request
def _keep_session_fresh():
    keep_fresh(backends().accounts)


@bp.after_app_request
def _forget_remember_me_cookie(response):
    """flask-login's remember-me cookie is no credential here (see extensions.load_user):
    browsers that kept one from an earlier version lose it."""
    name = current_app.config["REMEMBER_COOKIE_NAME"]
    if name in request.cookies:
        response.delete_cookie(name, path="/", secure=current_app.config["REMEMBER_COOKIE_SECURE"])
    return response


@bp.context_processor
def _sign_in_providers():
    return {"sign_in_providers": backends().accounts.sign_in_providers}


@bp.route("/signup", methods=("GET", "POST"))
@limiter.limit(lambda: settings().limits.signup_per_address, methods=["POST"])
def signup():
    """Create an account as the sign-up policy allows, and sign in (or say what comes next:
    a confirmation email, an admin's approval)."""
    b = backends()
    invitation = request.values.get("invitation") or None
    policy = signup_policy()
    if request.method == "POST":
        try:
            result = registration.sign_up(b.accounts, b.directory, policy, request.form.get("email", ""),
                                          request.form.get("password", ""), public_link("auth.finish"), invitation,
                                          confirm_link=lambda token: public_link("auth.confirm", token=token))
        except InvalidInput as error:
            log.info("sign-up refused (%s) from %s", error.field, client_address())
            return _signup_page(policy, invitation, {error.field: error.message}, 422)
        if isinstance(result, registration.AwaitingApproval):
            log.info("sign-up awaiting approval from %s", client_address())
            return render_template("auth/awaiting.html")
        if isinstance(result, Pending):
            remember_pending(result)
            return render_template("auth/check_email.html", email=request.form.get("email", ""))
        log.info("signed up: user %s%s from %s", result.user_id, " (admin)" if result.role == "admin" else "",
                 client_address())
        sign_in(result)
        return redirect(url_for("chat.index"))
    if current_user.is_authenticated:
        return redirect(url_for("chat.index"))
    return _signup_page(policy, invitation)


@bp.route("/confirm/<token>", methods=("GET", "POST"))
def confirm(token):
    """Confirm an email address with the emailed link. The GET only asks (mail scanners
    open links); the button confirms and signs in."""
    b = backends()
    action = url_for("auth.confirm", token=token)
    if request.method == "POST":
        try:
            user = registration.confirm(b.accounts, b.directory, token)
        except InvalidInput as error:
            return render_template("auth/confirm.html", action=action, errors={"token": error.message}), 400
        log.info("email confirmed: user %s from %s", user.user_id, client_address())
        sign_in(user)
        flash("Your email address is confirmed. Welcome!")
        return redirect(url_for("chat.index"))
    if b.accounts.confirmed_user(token) is None:
        return render_template("auth/confirm.html", action=action,
                               errors={"token": registration.CONFIRM_LINK_INVALID}), 400
    return render_template("auth/confirm.html", action=action, errors={})


def signup_policy() -> str:
    return registration.policy(backends().directory, settings().signup_policy)


def _signup_page(policy: str, invitation: str | None, errors: dict | None = None, status: int = 200):
    refusal = registration.can_sign_up(backends().directory, policy, invitation)
    return render_template("auth/signup.html", errors=errors or {}, refusal=refusal, invitation=invitation,
                           approval=policy == "approval"), status


@bp.route("/login", methods=("GET", "POST"))
@limiter.limit(lambda: settings().limits.login_per_address, methods=["POST"])
@limiter.limit(lambda: settings().limits.login_per_account, methods=["POST"], key_func=lambda: _login_account(),
               deduct_when=lambda response: response.status_code != 302)  # failures count, not successes
def login():
    """Sign in with email and password."""
    if request.method == "POST":
        email = request.form.get("email", "")
        try:
            signed_in = backends().accounts.log_in(email, request.form.get("password", ""))
        except InvalidInput as error:
            log.warning("log-in refused (%s): %s from %s", error.message, _loggable(email), client_address())
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
        url, pending = backends().accounts.start_sign_in(provider, public_link("auth.finish"))
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
    sign_out()
    return redirect(url_for("auth.login"))


@bp.route("/forgot", methods=("GET", "POST"))
@limiter.limit(lambda: settings().limits.reset_per_address, methods=["POST"])
def forgot():
    """Ask for a password-reset link by email. The answer is the same whether or not the
    email has an account."""
    accounts = backends().accounts
    if request.method == "POST" and accounts.can_reset_passwords:
        remember_pending(accounts.request_password_reset(request.form.get("email", ""), _reset_link,
                                                         public_link("auth.finish")))
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
        # Whoever knew the old password is out, everywhere; this browser signs in anew.
        ended = end_user_sessions(backends().sessions, backends().channel, signed_in.user_id)
        log.info("password reset: user %s from %s; %d sessions ended", signed_in.user_id, client_address(), ended)
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
        ended = end_user_sessions(backends().sessions, backends().channel, user.user_id, keep=current_session_id())
        log.info("password reset: user %s from %s; %d other sessions ended", user.user_id, client_address(), ended)
        end_recovery()
        flash("Your password has been changed.")
        return redirect(url_for("chat.index"))
    return render_template("auth/reset.html", action=action, errors={})


def _loggable(email: str) -> str:
    """The email a log-in named, for the log, if it is one: people type passwords into the
    wrong field, and a password must never reach the log."""
    email = normalise_email(email)
    return email[:320] if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email) else "(not an email address)"


def _login_account() -> str:
    """The account a log-in tries to open: its limit holds whatever address the tries come from."""
    return "account:" + hashlib.sha256(normalise_email(request.form.get("email", "")).encode()).hexdigest()


def _reset_link(token: str) -> str:
    return public_link("auth.reset", token=token)


def public_link(endpoint: str, **values: str) -> str:
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
