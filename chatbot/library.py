"""Organising chats: pinning, archiving (and the archive page), folders (their page, and
filing a chat in one), and the sidebar's groups. Plain forms, also without JavaScript;
each change re-renders the list in the user's other tabs."""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from . import chats, export, folders
from .backends import backends
from .errors import InvalidInput, NotFound

bp = Blueprint("library", __name__)


@bp.before_request
@login_required
def require_login():
    """A user organises their own chats."""


@bp.errorhandler(NotFound)
def not_found(_error):
    return render_template("errors/404.html"), 404


@bp.app_template_global()
def my_folders() -> list:
    """The signed-in user's folders, as they are now. (Not kept for the request: a chat's
    socket renders the list anew for each change within one long request.)"""
    return folders.list_folders(backends().store, current_user.id)


@bp.app_template_filter("grouped")
def grouped(items):
    """The chat list in the sidebar's groups (pinned, folders, then by day)."""
    return chats.grouped(items, datetime.now(timezone.utc).date(), my_folders())


@bp.post("/chats/<chat_id>/pin")
def pin(chat_id):
    """Pin a chat to the top of the list (``pinned=0``: unpin it)."""
    chats.organise(backends().store, backends().channel, current_user.id, chat_id,
                   pinned=request.form.get("pinned") != "0")
    return redirect(url_for("chat.show", chat_id=chat_id), code=303)


@bp.post("/chats/<chat_id>/archive")
def archive(chat_id):
    """Move a chat out of the list into the archive (``archived=0``: back into the list)."""
    b = backends()
    chat = chats.get_chat(b.store, current_user.id, chat_id)
    archived = request.form.get("archived") != "0"
    chats.organise(b.store, b.channel, current_user.id, chat.id, archived=archived)
    if archived:
        flash(f"“{chat.title}” is in your archive.")
        return redirect(url_for("chat.index"), code=303)
    return redirect(url_for("chat.show", chat_id=chat_id), code=303)


@bp.get("/archive")
def archived():
    """The chats in your archive, to open or bring back."""
    store = backends().store
    return render_template("chat/archive.html", archived=chats.archived_chats(store, current_user.id),
                           chats=chats.list_chats(store, current_user.id))


@bp.get("/chats/older")
def older():
    """The chats the list leaves out (neither pinned nor filed, past its newest), a page at a time."""
    store = backends().store
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    found, more = chats.older_chats(store, current_user.id, page)
    return render_template("chat/older.html", older=found, page=page, more=more,
                           chats=chats.list_chats(store, current_user.id))


@bp.get("/folders")
def folder_list():
    """Your folders, to rename or delete, and a form for a new one."""
    return _folders_page()


@bp.post("/folders")
def create_folder():
    """Make a folder."""
    b = backends()
    try:
        folder = folders.create_folder(b.store, b.channel, current_user.id, request.form.get("name", ""))
    except InvalidInput as error:
        return _folders_page(errors={"new": error.message}, status=422)
    flash(f"Folder “{folder.name}” made: file chats in it from their pages.")
    return redirect(url_for("library.folder_list"), code=303)


@bp.post("/folders/<folder_id>/rename")
def rename_folder(folder_id):
    """Rename a folder."""
    b = backends()
    try:
        folders.rename_folder(b.store, b.channel, current_user.id, folder_id, request.form.get("name", ""))
    except InvalidInput as error:
        return _folders_page(errors={folder_id: error.message}, status=422)
    return redirect(url_for("library.folder_list"), code=303)


@bp.post("/folders/<folder_id>/delete")
def delete_folder(folder_id):
    """Delete a folder; its chats stay, in no folder."""
    b = backends()
    folders.delete_folder(b.store, b.channel, current_user.id, folder_id)
    flash("Folder deleted; its chats are still in your list.")
    return redirect(url_for("library.folder_list"), code=303)


@bp.post("/chats/<chat_id>/folder")
def file_chat(chat_id):
    """File a chat in a folder (``folder``; empty: in none)."""
    b = backends()
    folders.file_chat(b.store, b.channel, current_user.id, chat_id, request.form.get("folder", ""))
    return redirect(url_for("chat.show", chat_id=chat_id), code=303)


def _folders_page(errors=None, status=200):
    return render_template("folders/index.html", errors=errors or {},
                           chats=chats.list_chats(backends().store, current_user.id)), status


@bp.get("/chats/<chat_id>/export.<kind>")
def export_chat(chat_id, kind):
    """One chat to download: JSON (every message of every branch, lossless; what Import takes
    back) or Markdown (the conversation shown, to read)."""
    if kind not in ("json", "md"):
        raise NotFound(kind)
    store = backends().store
    chat = chats.get_chat(store, current_user.id, chat_id)
    messages = store.all_messages(current_user.id, chat.id)
    if kind == "json":
        body, mimetype = export.chat_json(chat, messages, datetime.now(timezone.utc)), "application/json"
    else:
        body, mimetype = export.chat_markdown(chat, messages), "text/markdown"
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(export.file_name(chat))}.{kind}",
        "Cache-Control": "private, no-store"})
