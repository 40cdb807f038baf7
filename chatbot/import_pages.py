"""Import: a file of chats (a ChatGPT data export, a Chatbot download) is read and previewed,
then, confirmed, stored. Plain forms, also without JavaScript."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from . import chats, imports
from .backends import backends, settings
from .errors import InvalidInput

bp = Blueprint("imports", __name__)


@bp.before_request
@login_required
def require_login():
    """A user imports into their own account."""


def _form(errors=None, status=200):
    return render_template("imports/index.html", errors=errors or {}, max_bytes=settings().import_max_bytes,
                           chats=chats.list_chats(backends().store, current_user.id)), status


@bp.get("/import")
def index():
    return _form()


@bp.post("/import")
def preview():
    """Read the uploaded file and show what it holds; nothing is stored yet but the upload."""
    b, limit = backends(), settings().import_max_bytes
    if (request.content_length or 0) > limit + 64 * 1024:  # refused before it is read
        return _form({"file": f"That file is over {limit:,} bytes, the most an import can be."}, 413)
    request.max_content_length = limit + 64 * 1024
    upload = request.files.get("file")
    data = upload.read() if upload else b""
    try:
        found = imports.check_here(b.store, current_user.id, imports.read(data, limit, b.models.pick().name))
    except InvalidInput as error:
        return _form({error.field: error.message}, 422)
    return render_template("imports/preview.html", found=found, upload=imports.stash(b.files, current_user.id, data),
                           name=upload.filename if upload else "", chats=chats.list_chats(b.store, current_user.id))


@bp.post("/import/confirm")
def confirm():
    """Store the previewed file's chats (those not here already), all of them or none."""
    b, upload = backends(), request.form.get("upload", "")
    try:
        data = imports.unstash(b.files, current_user.id, upload)
        found = imports.read(data, settings().import_max_bytes, b.models.pick().name)
    except InvalidInput as error:
        return _form({error.field: error.message}, 422)
    stored, here = imports.store_chats(b.store, b.files, b.channel, current_user.id, found)
    imports.drop(b.files, current_user.id, upload)
    flash(f"Imported {stored} chat{'s' if stored != 1 else ''} from {found.source}"
          + (f" ({here} {'was' if here == 1 else 'were'} here already)." if here else "."))
    return redirect(url_for("chat.index"), code=303)


@bp.post("/import/cancel")
def cancel():
    imports.drop(backends().files, current_user.id, request.form.get("upload", ""))
    return redirect(url_for("imports.index"), code=303)
