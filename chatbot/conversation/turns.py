"""The conversation's rules: send a message, regenerate or stop a reply, and what of the
chat the model is given (DESIGN.md, "The central flow").

The user's message is stored first, together with an empty streaming reply (atomically:
the database holds at most one streaming reply per chat, on every instance, so two sends
never interleave). The process's reply runner writes the reply in the background. Every
change is announced on the chat's topic (and the chat list's, on the user's topic) so every
open view, on any process, can follow.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

from .. import attachments
from ..attachments import Upload
from ..chats import DEFAULT_TITLE, announce_chats, get_chat, title_from, write_title
from ..errors import Busy, InvalidInput, NotFound, TooMany
from ..files import FileStore
from ..live import topics
from ..live.channel import Channel, announce
from ..live.events import ConversationChanged, MessageChanged
from ..models import ChatModel, estimate_tokens
from ..models.catalog import Catalog
from ..models.parameters import Parameters
from ..store import COMPLETE, STOPPED, STREAMING, Chat, Message, Preset, ReplyInProgress, Store, Turn, is_uuid
from .runner import ReplyRunner


REPLY_WAIT_HINT = 5  # seconds to come back in when too many replies are being written
HISTORY_PAGE = 100  # messages first read from a chat's newest end for the model's conversation
HISTORY_PAGE_MAX = 999  # a bigger page reads the whole chat (a PostgREST server caps pages at 1,000 rows)


@dataclass(frozen=True)
class Limits:
    message_max_chars: int
    context_tokens: int
    attachment_max_bytes: int = 10 * 1024 * 1024
    replies_per_user: int = 3  # replies being written at once, over all the user's chats


def start_chat(store: Store, model: ChatModel, runner: ReplyRunner, owner_id: str, content: str, limits: Limits,
               *, files: FileStore, uploads: Sequence[Upload] = (), client_id: str | None = None,
               preset: Preset | None = None) -> Turn:
    """Start a new chat with its first message: a chat is stored with its first message,
    never empty; from a ``preset``, with its system prompt and parameters (the model is
    ``model``, which the picker showed as the preset's). Sent again (the same ``client_id``),
    the turn made the first time, in its chat."""
    if not content.strip() and not any(u.name or u.data for u in uploads):  # (a form with no file sends an empty part)
        raise InvalidInput("content", "Write a message first.")
    if is_uuid(client_id) and (sent_into := store.chat_sent_with(owner_id, client_id)):
        return send_message(store, model, runner, owner_id, sent_into, content, limits, files=files,
                            uploads=uploads, client_id=client_id)  # a repeat: that chat answers it
    chat = store.add_chat(owner_id, DEFAULT_TITLE, model.name, system_prompt=preset.system_prompt if preset else "",
                          parameters=preset.parameters if preset else Parameters())
    try:
        turn = send_message(store, model, runner, owner_id, chat.id, content, limits, files=files, uploads=uploads,
                            client_id=client_id)
    except BaseException:
        store.delete_chat(owner_id, chat.id)  # refused (too long, a bad file, a limit): nothing stays
        raise
    if turn.repeated:  # sent twice at once: the first send made its chat
        store.delete_chat(owner_id, chat.id)
    return turn


def send_message(store: Store, model: ChatModel, runner: ReplyRunner, owner_id: str, chat_id: str,
                 content: str, limits: Limits, *, files: FileStore, uploads: Sequence[Upload] = (),
                 client_id: str | None = None, edit_of: str | None = None) -> Turn:
    """Store the user's message (and its attached ``uploads``) and start the reply; return
    the turn, with its chat as it is now (named after the message, if it had no name yet)
    and whether the chat list changed (the chat moved to the top, or was named).

    ``client_id``: the sender's id for this send (a form's hidden field). Sent again (a
    resubmitted form, a retried request), it returns the turn made the first time, marked
    ``repeated``: nothing is stored twice and the model is not asked again.

    ``edit_of``: a user message of the chat that this one is a new version of (edit and
    resend): the conversation goes on from there, and the old continuation stays as the
    other version. Without ``uploads`` of its own, the new version keeps that one's files."""
    content = content.strip()
    checked = attachments.check(list(uploads), limits.attachment_max_bytes) if uploads else []
    if edit_of is not None and not checked:
        checked = attachments.carried_over(store, files, owner_id, edit_of)
    if not content and not checked:
        raise InvalidInput("content", "Write a message first.")
    if len(content) > limits.message_max_chars:
        raise InvalidInput("content", f"Messages can be at most {limits.message_max_chars:,} characters; "
                                      f"this one has {len(content):,}.")
    _check_replies_running(store, owner_id, limits)
    runner.start_background()  # the lease first: the reply names this process
    try:
        turn = store.add_turn(owner_id, chat_id, content, model.name, runner.worker, history=HISTORY_PAGE + 1,
                              client_id=client_id if is_uuid(client_id) else None, edit_of=edit_of)
    except LookupError:
        raise NotFound(edit_of or chat_id) from None
    except ReplyInProgress:
        raise Busy(chat_id) from None
    if turn.repeated:
        return turn
    chat, question, answer, history = turn.chat, turn.question, turn.answer, turn.history
    if checked:
        question = replace(question, attachments=tuple(attachments.attach(store, files, owner_id, question.id, checked)))
        history = [question if m.id == question.id else m for m in history]
    changes = {}
    if chat.title == DEFAULT_TITLE:
        changes["title"] = title_from(content or question.attachments[0].name)
    if chat.model != model.name:  # another model was picked: the chat keeps to it from now on
        changes["model"] = model.name
    if changes:
        chat = store.update_chat(owner_id, chat.id, **changes) or chat
    history = [m for m in _history(store, owner_id, chat, limits.context_tokens, history) if m.id != answer.id]
    runner.start(store, model, owner_id, answer,
                 build_conversation(chat.system_prompt, history, limits.context_tokens, files),
                 then=_title_after(store, runner, model, owner_id, chat, changes.get("title"), content),
                 parameters=chat.parameters)
    if edit_of is None:
        for message in (question, answer):
            announce(runner.channel, topics.chat(chat.id), MessageChanged(message))
    else:  # another version is shown from the edited message on
        announce(runner.channel, topics.chat(chat.id), ConversationChanged())
    list_changed = turn.list_changed or chat.title != turn.chat.title  # moved to the top, or named
    if list_changed:
        announce_chats(runner.channel, owner_id)
    return replace(turn, chat=chat, question=question, list_changed=list_changed)


def regenerate(store: Store, model: ChatModel, runner: ReplyRunner, owner_id: str, chat_id: str,
               limits: Limits, *, files: FileStore, message_id: str | None = None) -> Message:
    """Write reply ``message_id`` (by default the last one shown) again, as a new version
    beside it, which stays (also how a failed reply is retried). The reply now being written."""
    chat = get_chat(store, owner_id, chat_id)
    old = store.message(owner_id, message_id) if is_uuid(message_id) else next(iter(store.messages(
        owner_id, chat.id, newest=1)), None)
    if old is None or old.chat_id != chat.id or old.role != "assistant":
        raise InvalidInput("content", "There is no reply to regenerate.")
    if old.status == STREAMING:
        raise Busy(chat.id)
    _check_replies_running(store, owner_id, limits)
    runner.start_background()
    try:
        answer = store.add_version(owner_id, chat.id, old.id, model.name, runner.worker)
    except ReplyInProgress:
        raise Busy(chat.id) from None
    except LookupError:
        raise NotFound(old.id) from None
    history = [m for m in _history(store, owner_id, chat, limits.context_tokens) if m.id != answer.id]
    runner.start(store, model, owner_id, answer,
                 build_conversation(chat.system_prompt, history, limits.context_tokens, files),
                 parameters=chat.parameters)
    announce(runner.channel, topics.chat(chat.id), ConversationChanged())
    return answer


def continue_reply(store: Store, model: ChatModel, runner: ReplyRunner, owner_id: str, chat_id: str,
                   message_id: str, limits: Limits, *, files: FileStore) -> Message:
    """Carry on the chat's last reply, cut off by the model's length limit, into the same
    message: the model is given the conversation with the reply so far, last."""
    chat = get_chat(store, owner_id, chat_id)
    old = store.message(owner_id, message_id) if is_uuid(message_id) else None
    if old is None or old.chat_id != chat.id or old.finish_reason != "length" or old.status != COMPLETE:
        raise InvalidInput("content", "Only a reply cut off at its length limit can be continued.")
    _check_replies_running(store, owner_id, limits)
    runner.start_background()
    try:
        answer = store.resume_reply(owner_id, chat.id, old.id, runner.worker)
    except ReplyInProgress:
        raise Busy(chat.id) from None
    except LookupError:
        raise InvalidInput("content", "Only the last reply of the conversation shown can be continued.") from None
    history = _history(store, owner_id, chat, limits.context_tokens)  # ends with the reply so far
    runner.start(store, model, owner_id, answer,
                 build_conversation(chat.system_prompt, history, limits.context_tokens, files),
                 parameters=chat.parameters)
    announce(runner.channel, topics.chat(chat.id), MessageChanged(answer))
    return answer


def show_version(store: Store, channel: Channel, owner_id: str, chat_id: str, message_id: str, step: int) -> None:
    """Show the version ``step`` places from message ``message_id`` (-1: the one before),
    and the newest conversation that goes on from it, in every view of the chat."""
    get_chat(store, owner_id, chat_id)
    if store.show_version(owner_id, chat_id, message_id, step) is None:
        raise NotFound(message_id)
    announce(channel, topics.chat(chat_id), ConversationChanged())


def _title_after(store: Store, runner: ReplyRunner, model: ChatModel, owner_id: str, chat: Chat,
                 placeholder: str | None, question: str) -> Callable[[Message], None] | None:
    """For a chat's first message (just named after it: ``placeholder``), what names the
    chat once the reply is written: the model's own title for it."""
    if placeholder is None or not question:
        return None

    def write(reply: Message) -> None:
        if reply.content and reply.status in (COMPLETE, STOPPED):
            write_title(store, runner.channel, model, owner_id, chat.id, placeholder, question, reply.content)
    return write


def choose_model(models: Catalog, store: Store, owner_id: str, chat_id: str | None,
                 requested: str | None) -> ChatModel:
    """The model that answers: the one picked in the composer, which must be on offer; else
    the chat's own, while it is; else the default. (A chat is read only when nothing was picked.)"""
    if requested or chat_id is None:
        return models.pick(requested or None)
    return models.pick(remembered=get_chat(store, owner_id, chat_id).model)


def _check_replies_running(store: Store, owner_id: str, limits: Limits) -> None:
    """At most ``replies_per_user`` replies written at once for one user, in all their chats
    (counted just before; two sends at the same instant may both pass)."""
    if store.streaming_replies(owner_id) >= limits.replies_per_user:
        count = limits.replies_per_user
        raise TooMany(REPLY_WAIT_HINT, f"You already have {count} {'reply' if count == 1 else 'replies'} being "
                                       f"written. Wait for one to finish, or stop one, then send again.")


def stop(store: Store, runner: ReplyRunner, owner_id: str, chat_id: str, message_id: str) -> None:
    """Stop a streaming reply, wherever it is being written; what was generated so far
    stays, marked stopped (by the process writing it, which stores and announces it)."""
    message = store.message(owner_id, message_id)
    if message is None or message.chat_id != get_chat(store, owner_id, chat_id).id:
        raise NotFound(message_id)
    if message.status != STREAMING or runner.stop(message):
        return
    # Nobody is writing it any more (a reply from before leases): stopped here and now.
    stopped = replace(message, status=STOPPED, worker=None)
    store.update_message(owner_id, message_id, status=STOPPED, worker=None)
    announce(runner.channel, topics.chat(message.chat_id), MessageChanged(stopped))


def build_conversation(system_prompt: str, history: list[Message], budget: int,
                       files: FileStore | None = None) -> list[dict]:
    """The system prompt plus the newest messages that fit in ``budget`` tokens, with their
    attached files (read from ``files``). The newest message always goes, whatever its size:
    it is what the user asked."""
    turns = [{"role": m.role, "content": attachments.model_content(m, files)}
             for m in _within_budget(system_prompt, history, budget)[0]]
    return ([{"role": "system", "content": system_prompt}] if system_prompt else []) + turns


def _within_budget(system_prompt: str, history: list[Message], budget: int) -> tuple[list[Message], bool]:
    """The newest messages of ``history`` that build_conversation sends (oldest first), and
    whether the budget ran out before the oldest (so older messages would not go either)."""
    used = estimate_tokens(system_prompt) if system_prompt else 0
    chosen: list[Message] = []
    for message in reversed(history):
        if not message.content and not message.attachments:
            continue  # a reply that failed before its first word says nothing
        cost = estimate_tokens(message.content) + sum(
            attachments.IMAGE_TOKENS if a.is_image else a.size // 4 for a in message.attachments)
        if chosen and used + cost > budget:
            chosen.reverse()
            return chosen, True
        chosen.append(message)
        used += cost
    chosen.reverse()
    return chosen, False


def _history(store: Store, owner_id: str, chat: Chat, budget: int,
             first_page: list[Message] | None = None) -> list[Message]:
    """The chat's newest messages, at least those build_conversation keeps within ``budget``
    once the newest one (the reply being written, or the one being replaced) is left out:
    a long chat is not read whole for every reply. Pages from the newest end, each four
    times the last while all of it fits; past HISTORY_PAGE_MAX, the whole chat.
    ``first_page``: the newest HISTORY_PAGE + 1 messages, if the caller has read them."""
    size, page = HISTORY_PAGE, first_page
    while size <= HISTORY_PAGE_MAX:
        if page is None:
            page = store.messages(owner_id, chat.id, newest=size + 1)
        if len(page) <= size or _within_budget(chat.system_prompt, page[:-1], budget)[1]:
            return page  # the whole chat, or the budget ran out inside the page
        size, page = size * 4, None
    return store.messages(owner_id, chat.id)
