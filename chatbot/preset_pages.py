"""The presets page: a user's named ways to start a chat, to make, change, delete and start
chats from. (Saving a chat's own settings as a preset is on the chat page: chat.py.)"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from . import chats, presets
from .backends import backends
from .errors import InvalidInput, NotFound

bp = Blueprint("presets", __name__, url_prefix="/presets")


@bp.before_request
@login_required
def require_login():
    """Presets are their owner's alone."""


@bp.errorhandler(NotFound)
def not_found(_error):
    """Someone else's preset looks exactly like one that does not exist."""
    return render_template("errors/404.html"), 404


@bp.get("")
def index():
    """Your presets, and a form for a new one."""
    return _page()


@bp.post("")
def create():
    """Save a new preset."""
    b = backends()
    try:
        saved = presets.save_preset(b.store, b.models, current_user.id, request.form)
    except InvalidInput as error:
        return _page(errors={error.field: error.message}, form=request.form, status=422)
    flash(f"Preset “{saved.name}” saved.")
    return redirect(url_for("presets.index", _anchor=f"preset-{saved.id}"), code=303)


@bp.get("/<preset_id>")
def edit_form(preset_id):
    """One preset in a form, to change."""
    preset = presets.get_preset(backends().store, current_user.id, preset_id)
    return _edit_page(preset, _form_of(preset))


@bp.post("/<preset_id>")
def update(preset_id):
    """Save the changes to a preset (chats already started from it keep their settings)."""
    b = backends()
    preset = presets.get_preset(b.store, current_user.id, preset_id)
    try:
        saved = presets.save_preset(b.store, b.models, current_user.id, request.form, preset_id=preset.id)
    except InvalidInput as error:
        return _edit_page(preset, request.form, errors={error.field: error.message}, status=422)
    flash(f"Preset “{saved.name}” saved.")
    return redirect(url_for("presets.index", _anchor=f"preset-{saved.id}"), code=303)


@bp.post("/<preset_id>/delete")
def delete(preset_id):
    """Delete a preset (chats started from it keep their settings)."""
    store = backends().store
    preset = presets.get_preset(store, current_user.id, preset_id)
    presets.delete_preset(store, current_user.id, preset.id)
    flash(f"Preset “{preset.name}” deleted.")
    return redirect(url_for("presets.index"), code=303)


def _form_of(preset) -> dict:
    """What the preset form shows for a saved preset."""
    return {"name": preset.name, "system_prompt": preset.system_prompt, "model": preset.model,
            **{name: "" if value is None else value for name, value in vars(preset.parameters).items()}}


def _page(errors=None, form=None, status=200):
    store = backends().store
    return render_template("presets/index.html", presets=presets.list_presets(store, current_user.id),
                           errors=errors or {}, form=form or {}, chats=chats.list_chats(store, current_user.id)), status


def _edit_page(preset, form, errors=None, status=200):
    return render_template("presets/edit.html", preset=preset, form=form, errors=errors or {},
                           chats=chats.list_chats(backends().store, current_user.id)), status
