"""The signed-in user's own account: change the password, see and end sessions, download
everything, delete the account."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from . import chats, export, usage
from .accounts import SignedIn
from .accounts.administration import change_password, delete_own_account
from .accounts.sessions import end_one_session, end_user_sessions
from .backends import backends, settings
from .errors import InvalidInput
from .signin import current_credentials, current_session_id, sign_out

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.before_request
@login_required
def require_login():
    """Every account page needs a signed-in user."""


@bp.get("")
def index():
    """The account page."""
    return _page()


@bp.get("/usage")
def usage_page():
    """What your replies used: tokens per day, month and model, and what they cost."""
    b = backends()
    report = usage.report(b.directory, b.models, current_user.id,
                          usage.budget_of(b.directory, settings().monthly_token_budget, current_user.id),
                          datetime.now(timezone.utc).date())
    return render_template("account/usage.html", report=report, chats=chats.list_chats(b.store, current_user.id))


@bp.post("/password")
def password():
    """Change the password; every other session ends."""
    b = backends()
    try:
        ended = change_password(b.accounts, b.sessions, b.channel, _me(), request.form.get("current_password", ""),
                                request.form.get("new_password", ""), keep=current_session_id())
    except InvalidInput as error:
        field = "new_password" if error.field == "password" else error.field
        return _page({field: error.message}, 422)
    flash("Your password has been changed." + (f" {_sessions_ended(ended)}" if ended else ""))
    return redirect(url_for("account.index"))


@bp.post("/sessions/<session_id>/end")
def end_session(session_id):
    """Log out one other device or browser."""
    b = backends()
    if session_id == current_session_id():
        sign_out()
        return redirect(url_for("auth.login"))
    if end_one_session(b.sessions, b.channel, current_user.id, session_id):
        flash("That session has been logged out.")
    return redirect(url_for("account.index"))


@bp.post("/sessions/end-others")
def end_other_sessions():
    """Log out every other device and browser."""
    b = backends()
    ended = end_user_sessions(b.sessions, b.channel, current_user.id, keep=current_session_id())
    flash(_sessions_ended(ended) if ended else "There were no other sessions.")
    return redirect(url_for("account.index"))


@bp.post("/sessions/end-all")
def logout_everywhere():
    """Log out everywhere, this browser too."""
    b = backends()
    user_id = current_user.id
    sign_out()
    end_user_sessions(b.sessions, b.channel, user_id)
    flash("You have been logged out everywhere.")
    return redirect(url_for("auth.login"))


@bp.get("/export")
def download():
    """All of the user's chats, messages and files, as one zip."""
    b = backends()
    stamp = datetime.now(timezone.utc)
    data = export.account_archive(b.store, b.files, current_user.id, current_user.email, stamp)
    return Response(data, mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="chatbot-{stamp:%Y-%m-%d}.zip"',
        "Cache-Control": "private, no-store",
    })


@bp.post("/delete")
def delete():
    """Delete the account and all its data (the password confirms it)."""
    b = backends()
    try:
        delete_own_account(b.accounts, b.directory, b.sessions, b.channel, _me(),
                           request.form.get("delete_password", ""))
    except InvalidInput as error:
        return _page({"delete_password": error.message}, 422)
    sign_out()
    flash("Your account and all its data have been deleted.")
    return redirect(url_for("auth.signup"))


@bp.app_template_filter("device")
def device(user_agent: str) -> str:
    """"Firefox on Windows", from a User-Agent header, for the list of sessions."""
    browsers = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("HeadlessChrome", "Headless Chrome"),
                ("Chrome/", "Chrome"), ("Safari/", "Safari"))
    systems = (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("Windows", "Windows"),
               ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))
    browser = next((name for mark, name in browsers if mark in user_agent), None)
    system = next((name for mark, name in systems if mark in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or (user_agent[:40] if user_agent else "Unknown browser")


@bp.app_template_filter("ago")
def ago(moment: datetime) -> str:
    seconds = (datetime.now(timezone.utc) - moment).total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def _me() -> SignedIn:
    return SignedIn(current_user.id, current_user.email, current_credentials(), current_user.role)


def _sessions_ended(count: int) -> str:
    return f"{count} other session{'s' if count != 1 else ''} logged out."


def _page(errors: dict | None = None, status: int = 200):
    b = backends()
    return render_template("account/index.html", errors=errors or {}, current=current_session_id(),
                           sessions=b.sessions.user_sessions(current_user.id),
                           chats=chats.list_chats(b.store, current_user.id)), status
