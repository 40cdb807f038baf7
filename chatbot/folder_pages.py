"""Folders: the page to make, rename and delete them, and filing a chat in one (from the
chat's page). Without JavaScript, plain forms."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from . import chats, folders
from .backends import backends
from .errors import InvalidInput, NotFound

bp = Blueprint("folders", __name__)


@bp.before_request
@login_required
def require_login():
    """Folders are their owner's alone."""


@bp.errorhandler(NotFound)
def not_found(_error):
    return render_template("errors/404.html"), 404


@bp.app_template_global()
def my_folders() -> list:
    """The signed-in user's folders, as they are now. (Not kept for the request: a chat's
    socket renders the list anew for each change within one long request.)"""
    return folders.list_folders(backends().store, current_user.id)


@bp.get("/folders")
def index():
    """Your folders, to rename or delete, and a form for a new one."""
    return _page()


@bp.post("/folders")
def create():
    """Make a folder."""
    b = backends()
    try:
        folder = folders.create_folder(b.store, b.channel, current_user.id, request.form.get("name", ""))
    except InvalidInput as error:
        return _page(errors={"new": error.message}, status=422)
    flash(f"Folder “{folder.name}” made: file chats in it from their pages.")
    return redirect(url_for("folders.index"), code=303)


@bp.post("/folders/<folder_id>/rename")
def rename(folder_id):
    """Rename a folder."""
    b = backends()
    try:
        folders.rename_folder(b.store, b.channel, current_user.id, folder_id, request.form.get("name", ""))
    except InvalidInput as error:
        return _page(errors={folder_id: error.message}, status=422)
    return redirect(url_for("folders.index"), code=303)


@bp.post("/folders/<folder_id>/delete")
def delete(folder_id):
    """Delete a folder; its chats stay, in no folder."""
    b = backends()
    folders.delete_folder(b.store, b.channel, current_user.id, folder_id)
    flash("Folder deleted; its chats are still in your list.")
    return redirect(url_for("folders.index"), code=303)


@bp.post("/chats/<chat_id>/folder")
def file_chat(chat_id):
    """File a chat in a folder (``folder``; empty: in none)."""
    b = backends()
    folders.file_chat(b.store, b.channel, current_user.id, chat_id, request.form.get("folder", ""))
    return redirect(url_for("chat.show", chat_id=chat_id), code=303)


def _page(errors=None, status=200):
    return render_template("folders/index.html", errors=errors or {},
                           chats=chats.list_chats(backends().store, current_user.id)), status
