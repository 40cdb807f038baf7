"""The search page: your chats by title and by what was said in them, as you type (htmx
swaps the results in) or with a plain form."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from . import chats, search
from .backends import backends
from .htmx import is_htmx

bp = Blueprint("search", __name__)
bp.add_app_template_filter(search.highlighted, "highlighted")


@bp.before_request
@login_required
def require_login():
    """A user searches their own chats."""


@bp.get("/search")
def index():
    """Search your chats (``q``); htmx gets the results alone."""
    store = backends().store
    results = search.search(store, current_user.id, request.args.get("q", ""))
    if is_htmx():
        return render_template("search/_results.html", results=results, oob=True)  # and the count, in place
    return render_template("search/index.html", results=results, chats=chats.list_chats(store, current_user.id))
