"""Share links: making one from a chat, the owner's list of them (and revoking), and the
shared page itself, which anyone with the link may read without an account or JavaScript."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from . import chats, shares
from .auth import public_link
from .backends import backends
from .chat import file_response
from .errors import InvalidInput, NotFound
from .store import Share

bp = Blueprint("shares", __name__)

# A shared page is for whoever has its link, not for search engines; and the link, which is
# its only key, must not leave in a Referer header when a reader follows a link in it.
READER_HEADERS = {"X-Robots-Tag": "noindex, nofollow", "Referrer-Policy": "no-referrer",
                  "Cache-Control": "private, no-store"}  # revoked: gone at once, from caches too


@bp.errorhandler(NotFound)
def not_found(_error):
    return render_template("errors/404.html"), 404, READER_HEADERS


@bp.app_template_global()
def share_link(share: Share) -> str:
    """The link to give out: on PUBLIC_URL, as the links in emails are."""
    return public_link("shares.read", token=share.token)


@bp.get("/chats/<chat_id>/share")
@login_required
def new(chat_id):
    """The form to share a chat (all of it, or up to one of its replies), and its links."""
    return _share_page(chats.get_chat(backends().store, current_user.id, chat_id), made=request.args.get("made"))


def _share_page(chat, errors=None, status=200, made=None):
    """``made``: the id of the link just made, shown first to copy."""
    store = backends().store
    conversation = [m for m in store.messages(current_user.id, chat.id) if m.status != "streaming"]
    links = shares.chat_shares(store, current_user.id, chat.id)
    return render_template("shares/new.html", chat=chat, conversation=conversation, errors=errors or {}, links=links,
                           made=next((link for link in links if link.id == made), None),
                           has_files=any(m.attachments for m in conversation),
                           chats=chats.list_chats(store, current_user.id)), status


@bp.post("/chats/<chat_id>/share")
@login_required
def create(chat_id):
    store = backends().store
    chat = chats.get_chat(store, current_user.id, chat_id)
    try:
        made = shares.share_chat(store, current_user.id, chat.id, request.form.get("upto") or None,
                                 request.form.get("with_files") == "1")
    except InvalidInput as error:
        return _share_page(chat, {error.field: error.message}, 422)
    return redirect(url_for("shares.new", chat_id=chat.id, made=made.id), code=303)


@bp.get("/shares")
@login_required
def index():
    """Every link the user has made, to copy or revoke."""
    store = backends().store
    return render_template("shares/index.html", links=store.shares(current_user.id),
                           chats=chats.list_chats(store, current_user.id))


@bp.post("/shares/<share_id>/revoke")
@login_required
def revoke(share_id):
    shares.revoke(backends().store, current_user.id, share_id)
    back = request.form.get("back")
    return redirect(url_for("shares.new", chat_id=back) if back else url_for("shares.index"), code=303)


@bp.get("/s/<token>")
def read(token):
    """The shared conversation: for anyone with the link, signed in or not."""
    share = shares.shared(backends().shared, token)
    return render_template("shares/read.html", share=share), READER_HEADERS


@bp.get("/s/<token>/files/<attachment_id>")
def file(token, attachment_id):
    """A file of a link that includes its files: shown if an image, else downloaded, and
    nothing in it can run (as the owner's own attachments)."""
    found, data = shares.shared_file(backends().shared, backends().shared_files, token, attachment_id)
    response = file_response(found, data)
    response.headers.update(READER_HEADERS)
    return response


@bp.post("/s/<token>/continue")
@login_required
def continue_chat(token):
    """Copy the shared conversation into a chat of the reader's own, and open it."""
    b = backends()
    share = shares.shared(b.shared, token)
    chat_id = shares.continue_shared(b.store, b.files, b.shared_files, b.channel, current_user.id, share,
                                     b.models.pick().name)
    return redirect(url_for("chat.show", chat_id=chat_id), code=303)
