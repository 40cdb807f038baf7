"""The operator's pages: accounts (approve, disable, delete, make admin), each one's usage,
and who may sign up (the policy, invitation links). Admins only; to anyone else they do not
exist (404)."""
from __future__ import annotations

import click
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from datetime import datetime, timezone

from . import chats, usage
from .accounts import EmailTaken
from .accounts import signup as registration
from .accounts.administration import Admin, set_admin_by_email
from .accounts.directory import SIGNUP_POLICIES
from .auth import public_link
from .backends import backends, settings
from .errors import InvalidInput, NotFound

bp = Blueprint("admin", __name__, url_prefix="/admin", cli_group="admin")
bp.cli.help = "Admins' accounts: create one, promote or demote one."

PAGE_SIZE = 50
USAGE_DAYS = 30
ACTIONS = {"approve": Admin.approve, "disable": Admin.disable, "enable": Admin.enable,
           "make-admin": Admin.make_admin, "remove-admin": Admin.remove_admin}
DONE = {"approve": "approved", "disable": "disabled", "enable": "enabled again", "make-admin": "made an admin",
        "remove-admin": "no longer an admin"}


@bp.before_request
@login_required
def require_admin():
    """Admins only."""
    if not current_user.is_admin:
        abort(404)


@bp.errorhandler(NotFound)
def no_such_user(_error):
    return render_template("errors/404.html"), 404


@bp.get("")
def index():
    """Accounts (pending ones first), the sign-up policy and open invitations."""
    b = backends()
    search = request.args.get("q", "").strip()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    members = b.directory.members(search, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    return render_template("admin/index.html", members=members[:PAGE_SIZE], more=len(members) > PAGE_SIZE,
                           page=page, search=search, policies=SIGNUP_POLICIES,
                           policy=registration.policy(b.directory, settings().signup_policy),
                           invitations=b.directory.invitations(), chats=_sidebar(),
                           models=b.models.choices() if b.models.fixed is None else [],
                           allowed=b.models.restriction())


@bp.post("/models")
def restrict_models():
    """Choose which of the models on offer users may pick."""
    models = backends().models
    on_offer = [choice.id for choice in models.choices()]
    picked = set(request.form.getlist("model")) & set(on_offer)
    if not picked:
        flash("Allow at least one model: users need one to chat.")
    else:
        models.restrict(None if picked == set(on_offer) else picked)
        flash("Users may pick every model on offer." if picked == set(on_offer) else
              f"Users may pick {len(picked)} of the {len(on_offer)} models on offer.")
    return redirect(url_for("admin.index") + "#models-heading")


@bp.post("/policy")
def set_policy():
    """Choose who may sign up."""
    try:
        registration.set_policy(backends().directory, request.form.get("policy", ""))
    except InvalidInput as error:
        flash(error.message)
    else:
        flash("The sign-up policy has been saved.")
    return redirect(url_for("admin.index"))


@bp.post("/invitations")
def invite():
    """A new single-use invitation link, shown once."""
    token = registration.new_invitation(backends().directory, current_user.id)
    flash(f"Invitation link (valid for 7 days, for one account): {public_link('auth.signup', invitation=token)}")
    return redirect(url_for("admin.index"))


@bp.post("/invitations/<invitation_id>/revoke")
def revoke(invitation_id):
    """Withdraw an invitation nobody has used yet."""
    if backends().directory.revoke_invitation(invitation_id):
        flash("The invitation has been withdrawn.")
    return redirect(url_for("admin.index"))


@bp.get("/users/<user_id>")
def member(user_id):
    """One account: its standing, its usage per day, what can be done to it."""
    return _member_page(_admin().member(user_id))


@bp.post("/users/<user_id>/<action>")
def act(user_id, action):
    """Approve, disable, enable, make admin or remove admin."""
    if action not in ACTIONS:
        abort(404)
    admin = _admin()
    found = admin.member(user_id)
    try:
        ACTIONS[action](admin, user_id)
    except InvalidInput as error:
        return _member_page(found, error.message, 422)
    flash(f"{found.email} is {DONE[action]}.")
    return redirect(request.form.get("back") == "list" and url_for("admin.index") or
                    url_for("admin.member", user_id=user_id))


@bp.get("/users/<user_id>/delete")
def confirm_delete(user_id):
    """Ask before deleting an account."""
    return render_template("admin/delete.html", member=_admin().member(user_id), chats=_sidebar())


@bp.post("/users/<user_id>/delete")
def delete(user_id):
    """Delete the account and everything it owns; its sessions end at once."""
    admin = _admin()
    found = admin.member(user_id)
    try:
        admin.delete(user_id)
    except InvalidInput as error:
        return _member_page(found, error.message, 422)
    flash(f"{found.email} and all their data have been deleted.")
    return redirect(url_for("admin.index"))


def _admin() -> Admin:
    b = backends()
    return Admin(b.directory, b.sessions, b.channel, current_user.id)


def _member_page(found, error: str | None = None, status: int = 200):
    b = backends()
    default = settings().monthly_token_budget
    month = usage.report(b.directory, b.models, found.id, usage.budget_of(b.directory, default, found.id),
                         datetime.now(timezone.utc).date())
    return render_template("admin/member.html", member=found, usage=b.directory.usage(found.id, USAGE_DAYS),
                           days=USAGE_DAYS, error=error, chats=_sidebar(), month=month, default_budget=default), status


@bp.post("/users/<user_id>/budget")
def set_budget(user_id):
    """The account's own monthly token budget (blank: the server's, MONTHLY_TOKEN_BUDGET)."""
    found = _admin().member(user_id)
    if settings().monthly_token_budget is None:
        abort(404)  # budgets are off
    text = request.form.get("budget", "").strip().replace(",", "")
    if text and not (text.isdigit() and int(text) > 0):
        return _member_page(found, "A budget is a whole number of tokens above 0, or blank for the server's.", 422)
    backends().directory.set_setting(usage.budget_setting(found.id), text)
    flash(f"{found.email}'s budget is now {int(text):,} tokens a month." if text else
          f"{found.email}'s budget is the server's again.")
    return redirect(url_for("admin.member", user_id=found.id))


def _sidebar():
    return chats.list_chats(backends().store, current_user.id)



@bp.cli.command("create")
@click.argument("email")
@click.password_option(help="The password (asked for, twice, if not given).")
def create_command(email, password):
    """Make an account with EMAIL and PASSWORD, an admin from the start."""
    try:
        backends().accounts.sign_up(email, password, return_to="")
    except EmailTaken:
        raise click.ClickException(f"an account has the email {email} already: "
                                   f"`chatbot admin promote {email}` makes it an admin") from None
    except InvalidInput as error:
        raise click.ClickException(error.message) from None
    _set_admin(email, True)


@bp.cli.command("promote")
@click.argument("email")
def promote_command(email):
    """Make the account with EMAIL an admin (approving it if it was pending)."""
    _set_admin(email, True)


@bp.cli.command("demote")
@click.argument("email")
def demote_command(email):
    """Make the account with EMAIL an ordinary user again."""
    _set_admin(email, False)


def _set_admin(email: str, admin: bool) -> None:
    try:
        found = set_admin_by_email(backends().directory, email, admin)
    except NotFound:
        raise click.ClickException(f"no account has the email {email}") from None
    except InvalidInput as error:
        raise click.ClickException(error.message) from None
    click.echo(f"{found.email} is {'an admin' if found.is_admin else 'not an admin'} ({found.status}).")
