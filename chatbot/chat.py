"""Chat pages: the list, one conversation, and the forms that change them (send, stop,
regenerate, rename, delete). The live side (socket, event streams) is in live/."""
from __future__ import annotations

from dataclasses import asdict, replace
from urllib.parse import quote

from flask import Blueprint, Response, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from . import attachments, chats, presets, usage
from .attachments import Upload
from .store import Attachment
from .backends import backends, settings
from .conversation import turns
from .accounts.limits import rate_limits
from .errors import Busy, InvalidInput, NotFound, TooMany, Unavailable
from .live.feed import catch_up_from
from .htmx import is_htmx

bp = Blueprint("chat", __name__)


@bp.before_request
@login_required
def require_login():
    """Every chat page needs a signed-in user."""


@bp.errorhandler(NotFound)
def chat_not_found(_error):
    """Someone else's chat looks exactly like one that does not exist."""
    return render_template("errors/404.html"), 404


@bp.app_template_global()
def model_picker(remembered: str | None = None) -> dict:
    """What the composer's model picker shows: the models on offer, grouped by provider
    (in the configured order), and the one chosen (``remembered``, the chat's, if on offer)."""
    models = backends().models
    offered = models.offered()
    groups: dict[str, list] = {}
    for choice in offered:
        groups.setdefault(choice.group, []).append(choice)
    return {"groups": list(groups.items()), "count": len(offered),
            "chosen": models.chosen([choice.id for choice in offered], remembered)}


@bp.app_template_global()
def model_label(model_id: str) -> str:
    """The name a model is shown by (on replies)."""
    return backends().models.label(model_id)


@bp.get("/")
def index():
    """A new chat: the message box, ready; the chat is made when its first message is sent.
    With ``preset``, the chat starts from that preset of yours."""
    return _new_chat_page()


@bp.post("/chats")
def create():
    """Start a chat with its first message (from a preset, if one was chosen), and open it
    (the reply streams there)."""
    b = backends()
    content = request.form.get("content", "")
    preset = _chosen_preset()
    try:
        before_asking_a_model(current_user.id)
        model = turns.choose_model(b.models, b.store, current_user.id, None,
                                   request.form.get("model") or (preset.model if preset else None))
        turn = turns.start_chat(b.store, model, b.runner, current_user.id, content, limits(), files=b.files,
                                uploads=_uploads(), client_id=request.form.get("client_id"), preset=preset)
    except (InvalidInput, Busy, TooMany, Unavailable) as error:
        return _refused(None, content, error)
    return redirect(url_for("chat.show", chat_id=turn.chat.id, _anchor=f"m-{turn.answer.id}"), code=303)


@bp.get("/chats/<chat_id>")
def show(chat_id):
    """One conversation, its newest messages, with the chat list beside it; with
    ``before``, the page of messages before that one (for htmx, just those, to prepend);
    with ``at`` (a message: a search's hit), the page that ends at that message."""
    before, at = request.args.get("before", type=int), request.args.get("at")
    if at:
        chat, messages, earlier = chats.open_chat_at(backends().store, current_user.id, chat_id, at)
        return _chat_page(chat, messages, earlier=earlier, paged=True)
    chat, messages, earlier = chats.open_chat(backends().store, current_user.id, chat_id, before=before)
    if before is not None and is_htmx():
        return render_template("chat/_earlier.html", chat=chat, messages=messages, earlier=earlier)
    return _chat_page(chat, messages, earlier=earlier, paged=before is not None)


@bp.post("/chats/<chat_id>/rename")
def rename(chat_id):
    """Give a chat a new title."""
    store = backends().store
    try:
        chats.rename_chat(store, backends().channel, current_user.id, chat_id, request.form.get("title", ""))
    except InvalidInput as error:
        chat, messages, earlier = chats.open_chat(store, current_user.id, chat_id)
        return _chat_page(chat, messages, errors={error.field: error.message}, status=422, earlier=earlier)
    return redirect(url_for("chat.show", chat_id=chat_id))


@bp.post("/chats/<chat_id>/settings")
def update_settings(chat_id):
    """Set the chat's system prompt and model parameters."""
    store = backends().store
    try:
        chats.save_settings(store, current_user.id, chat_id, request.form)
    except InvalidInput as error:
        chat, messages, earlier = chats.open_chat(store, current_user.id, chat_id)
        return _chat_page(chat, messages, errors={error.field: error.message}, status=422, earlier=earlier,
                          settings_form=request.form)
    return redirect(url_for("chat.show", chat_id=chat_id))


@bp.post("/chats/<chat_id>/preset")
def save_as_preset(chat_id):
    """Save the settings form's system prompt and parameters, with the chat's model, as a
    new preset to start other chats from (the chat's own settings stay as they were)."""
    b = backends()
    chat = chats.get_chat(b.store, current_user.id, chat_id)
    # The chat's model while it is on offer, else the one its next message would go to.
    form = {**request.form.to_dict(), "model": b.models.pick(remembered=chat.model).name}
    try:
        saved = presets.save_preset(b.store, b.models, current_user.id, form)
    except InvalidInput as error:
        chat, messages, earlier = chats.open_chat(b.store, current_user.id, chat_id)
        return _chat_page(chat, messages, errors={error.field: error.message}, status=422, earlier=earlier,
                          settings_form=request.form)
    flash(f"Saved as the preset “{saved.name}”: start a chat from it on the new chat page.")
    return redirect(url_for("chat.show", chat_id=chat_id), code=303)


@bp.get("/chats/<chat_id>/delete")
def confirm_delete(chat_id):
    """Ask before deleting. (A GET, and so a HEAD, only ever asks.)"""
    store = backends().store
    chat = chats.get_chat(store, current_user.id, chat_id)
    return render_template("chat/delete.html", chat=chat, chats=chats.list_chats(store, current_user.id))


@bp.post("/chats/<chat_id>/delete")
def delete(chat_id):
    """Delete the chat, its messages and their files."""
    chats.delete_chat(backends().store, backends().channel, current_user.id, chat_id, backends().files)
    return redirect(url_for("chat.index"))


@bp.post("/chats/<chat_id>/messages")
def send(chat_id):
    """Send a message. htmx gets both messages at once, the reply streaming into the
    second; a plain form post, the chat page, which refreshes until the reply is done."""
    b = backends()
    content = request.form.get("content", "")
    try:
        before_asking_a_model(current_user.id)
        model = turns.choose_model(b.models, b.store, current_user.id, chat_id, request.form.get("model"))
        turn = turns.send_message(b.store, model, b.runner, current_user.id, chat_id,
                                  content, limits(), files=b.files, uploads=_uploads(),
                                  client_id=request.form.get("client_id"))
    except (InvalidInput, Busy, TooMany, Unavailable) as error:
        return _refused(chat_id, content, error)
    if is_htmx():
        return render_template("chat/sent.html", chat=turn.chat, messages=[turn.question, turn.answer],
                               chats=chats.list_chats(b.store, current_user.id) if turn.list_changed else None)
    # Without JavaScript: the chat page at once, showing the reply as it is written.
    return redirect(url_for("chat.show", chat_id=chat_id, _anchor=f"m-{turn.answer.id}"), code=303)


def before_asking_a_model(user_id: str) -> None:
    """What is checked before a model is asked (a send, a regenerate, an edit, a Continue):
    the sends limit, then the monthly token budget. TooMany if either is used up."""
    rate_limits().sent(user_id)
    usage.check_budget(backends().directory, settings().monthly_token_budget, user_id)


def _uploads() -> list[Upload]:
    return [Upload(f.filename or "", f.read()) for f in request.files.getlist("files")]


def limits() -> turns.Limits:
    s = settings()
    return turns.Limits(s.message_max_chars, s.context_tokens, s.attachment_max_bytes, s.limits.replies_per_user)


@bp.get("/attachments/<attachment_id>")
def attachment(attachment_id):
    """An attached file, to its owner only. Images are shown; anything else is downloaded,
    and nothing in it can run: the type is the one recognised at upload, never sniffed."""
    found, data = attachments.open_attachment(backends().store, backends().files, current_user.id, attachment_id)
    response = file_response(found, data)
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


def file_response(found: Attachment, data: bytes) -> Response:
    """An attached file, to whoever may have it: an image shown, anything else downloaded,
    as the type recognised at upload, and nothing in it can run."""
    disposition = "inline" if found.is_image else "attachment"
    return Response(data, mimetype=found.content_type, headers={
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(found.name)}",
        "Content-Security-Policy": "default-src 'none'; sandbox"})


@bp.post("/chats/<chat_id>/messages/<message_id>/stop")
def stop(chat_id, message_id):
    """Stop a reply being written; what it has written so far stays."""
    b = backends()
    turns.stop(b.store, b.runner, current_user.id, chat_id, message_id)
    if is_htmx():
        return "", 204  # the finished message arrives on the page's stream
    return redirect(url_for("chat.show", chat_id=chat_id, _anchor=f"m-{message_id}"), code=303)


@bp.post("/chats/<chat_id>/regenerate")
def regenerate(chat_id):
    """Write a reply again (the last one, or ``message_id``), as a new version beside it;
    also how a failed reply is retried."""
    b = backends()
    try:
        before_asking_a_model(current_user.id)
        model = turns.choose_model(b.models, b.store, current_user.id, chat_id, None)
        answer = turns.regenerate(b.store, model, b.runner, current_user.id, chat_id, limits(), files=b.files,
                                  message_id=request.form.get("message_id"))
    except (InvalidInput, Busy, TooMany, Unavailable) as error:
        return _refused(chat_id, "", error)
    return _conversation_changed(chat_id, answer)


@bp.post("/chats/<chat_id>/messages/<message_id>/continue")
def continue_reply(chat_id, message_id):
    """Carry on a reply that the model's length limit cut off, into the same message."""
    b = backends()
    try:
        before_asking_a_model(current_user.id)
        model = turns.choose_model(b.models, b.store, current_user.id, chat_id, None)
        answer = turns.continue_reply(b.store, model, b.runner, current_user.id, chat_id, message_id, limits(),
                                      files=b.files)
    except (InvalidInput, Busy, TooMany, Unavailable) as error:
        return _refused(chat_id, "", error)
    if is_htmx():
        return render_template("chat/_upsert.html", messages=[answer])
    return redirect(url_for("chat.show", chat_id=chat_id, _anchor=f"m-{answer.id}"), code=303)


@bp.get("/chats/<chat_id>/messages/<message_id>/edit")
def edit_form(chat_id, message_id):
    """A sent message in a form, to change and send again (htmx: the message alone)."""
    return _editing(chat_id, message_id)


@bp.post("/chats/<chat_id>/messages/<message_id>/edit")
def edit(chat_id, message_id):
    """Send an edited message as a new version of ``message_id``: the conversation goes on
    from it, and the old continuation stays, a click away (‹ 1/2 ›)."""
    b = backends()
    content = request.form.get("content", "")
    try:
        before_asking_a_model(current_user.id)
        model = turns.choose_model(b.models, b.store, current_user.id, chat_id, None)
        turn = turns.send_message(b.store, model, b.runner, current_user.id, chat_id, content, limits(),
                                  files=b.files, client_id=request.form.get("client_id"), edit_of=message_id)
    except InvalidInput as error:
        return _editing(chat_id, message_id, content, errors={"edit": error.message}, status=422)
    except (Busy, TooMany, Unavailable) as error:
        return _refused(chat_id, "", error)
    return _conversation_changed(chat_id, turn.answer)


def _editing(chat_id: str, message_id: str, content: str | None = None, errors=None, status=200):
    """The chat with the user's message ``message_id`` in a form to edit (holding
    ``content``, if it was sent and refused); htmx gets the message alone."""
    store = backends().store
    found = chats.get_message(store, current_user.id, chat_id, message_id, role="user")
    if content is not None:
        found = replace(found, content=content)
    if is_htmx():
        response = make_response(render_template("chat/_message.html", message=found, editing=found.id,
                                                 errors=errors or {}), status)
        if status != 200:  # in place of the form that was sent
            response.headers["HX-Retarget"] = f"#m-{found.id}"
            response.headers["HX-Reswap"] = "outerHTML"
        return response
    chat, messages, earlier = chats.open_chat(store, current_user.id, chat_id)
    if found.id not in {m.id for m in messages}:  # further back than the newest page: shown alone
        messages, earlier = [found], True
    messages = [found if m.id == found.id else m for m in messages]
    return _chat_page(chat, messages, errors=errors, status=status, earlier=earlier, editing=found.id)


@bp.get("/chats/<chat_id>/messages/<message_id>")
def show_message(chat_id, message_id):
    """One message as the conversation shows it (htmx: in place of its edit form)."""
    store = backends().store
    found = chats.get_message(store, current_user.id, chat_id, message_id)
    if not is_htmx():
        return redirect(url_for("chat.show", chat_id=chat_id, _anchor=f"m-{message_id}"))
    return render_template("chat/_message.html", message=found)


@bp.post("/chats/<chat_id>/messages/<message_id>/versions")
def show_version(chat_id, message_id):
    """Show another version of a message (‹ or ›), and the conversation that goes on from it."""
    b = backends()
    step = -1 if request.form.get("step") == "-1" else 1
    turns.show_version(b.store, b.channel, current_user.id, chat_id, message_id, step)
    return _conversation_changed(chat_id)


def _conversation_changed(chat_id: str, focus=None):
    """After a change to the version shown: htmx gets the conversation anew (the socket
    brings it to the other views); a plain form, the chat page at the new reply."""
    if is_htmx():
        chat, messages, earlier = chats.open_chat(backends().store, current_user.id, chat_id)
        return render_template("chat/conversation_changed.html", chat=chat, messages=messages, earlier=earlier)
    anchor = f"m-{focus.id}" if focus is not None else None
    return redirect(url_for("chat.show", chat_id=chat_id, _anchor=anchor), code=303)


def _chosen_preset():
    """The preset a new chat starts from (``preset``, in the address or the form), if any."""
    preset_id = request.values.get("preset")
    return presets.get_preset(backends().store, current_user.id, preset_id) if preset_id else None


def _new_chat_page(errors=None, draft="", status=200):
    store = backends().store
    return render_template("chat/new.html", chats=chats.list_chats(store, current_user.id),
                           presets=presets.list_presets(store, current_user.id), preset=_chosen_preset(),
                           errors=errors or {}, draft=draft, offline=backends().models.offline), status


def _chat_page(chat, messages, errors=None, status=200, draft="", earlier=False, paged=False, editing=None,
               settings_form=None, notice=None):
    """The chat page. ``settings_form``: what its settings form shows (the chat's own, unless a
    refused form's values are to be kept)."""
    return render_template(
        "chat/chat.html", chat=chat, messages=messages, errors=errors or {}, draft=draft, notice=notice,
        earlier=earlier, paged=paged, since=catch_up_from(messages), editing=editing,
        settings_form=settings_form or {"system_prompt": chat.system_prompt, **asdict(chat.parameters)},
        reasons=backends().models.reasons(chat.model),
        used=usage.chat_total(backends().store, backends().models, current_user.id, chat.id),
        chats=chats.list_chats(backends().store, current_user.id),
        offline=backends().models.offline,
    ), status


def refusal(error: InvalidInput | Busy | TooMany | Unavailable) -> str:
    if isinstance(error, Unavailable):
        return f"Not sent: {error.message}"
    if isinstance(error, (InvalidInput, TooMany)):
        return error.message
    return "A reply is still being written. Wait for it to finish, or stop it, then send again."


def _refused(chat_id, content, error):
    """The message was not stored: show why beside the composer, keeping the draft (and,
    over a limit or with the database away, say when to come back: 429 or 503 with
    Retry-After)."""
    status = {InvalidInput: 422, TooMany: 429, Unavailable: 503}.get(type(error), 409)
    # A reply still being written is no mistake of the sender's: said as a notice, not an error.
    errors = {} if status == 409 else {error.field if isinstance(error, InvalidInput) else "content": refusal(error)}
    notice = refusal(error) if status == 409 else None
    # With the database away nothing can be read back: the composer alone (it needs only
    # the chat's id), holding the draft to send again.
    away = isinstance(error, Unavailable)
    known = {"id": chat_id} if chat_id else None  # None: a new chat's first message
    if is_htmx():
        chat = known if away or not chat_id else chats.get_chat(backends().store, current_user.id, chat_id)
        response = Response(render_template("chat/_composer.html", chat=chat, errors=errors, notice=notice,
                                            draft=content), status=status)
        response.headers["HX-Retarget"] = "#composer"
        response.headers["HX-Reswap"] = "outerHTML"
    elif away:
        response = make_response(render_template("chat/unsent.html", chat=known, errors=errors, draft=content), status)
    elif not chat_id:
        response = make_response(_new_chat_page(errors, draft=content, status=status))
    else:
        chat, messages, earlier = chats.open_chat(backends().store, current_user.id, chat_id)
        response = make_response(_chat_page(chat, messages, errors=errors, status=status, draft=content,
                                            earlier=earlier, notice=notice))
    if isinstance(error, (TooMany, Unavailable)):
        response.headers["Retry-After"] = str(error.retry_after)
    return response
