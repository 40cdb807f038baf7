"""Live views of a chat: one WebSocket per open chat page, and server-sent events per reply.

The socket carries the page's commands (send a message, stop a reply) and brings back
rendered fragments for everything that happens in the chat, from any tab or device: new
messages, the reply as it is written, the finished reply, chat-list changes. Without a
socket, the page falls back to htmx POSTs and one event stream per reply.
"""
from __future__ import annotations

import json
import threading
import time
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, g, render_template, request, session, stream_with_context
from flask_login import current_user
from flask_sock import ConnectionClosed, Sock
from flask_wtf.csrf import validate_csrf
from wtforms.validators import ValidationError

from .. import chats, metrics
from ..accounts.limits import rate_limits
from ..accounts.sessions import Sessions, hash_token
from ..backends import backends, settings
from ..chat import before_asking_a_model, limits, refusal
from ..conversation import turns
from ..errors import Busy, InvalidInput, NotFound, TooMany, Unavailable
from ..signin import credentials_due, current_session_id, renew_at
from .capacity import open_streams
from .channel import ChannelUnavailable
from .feed import ChatFeed
from .sse import reply_stream

bp = Blueprint("live", __name__)
sock = Sock()

MAX_COMMAND_BYTES = 256 * 1024  # a message of MESSAGE_MAX_CHARS plus its JSON envelope fits
SESSION_ENDED = 4401  # a close code of the application's range (4000-4999): "log in again"
SERVICE_RESTART = 1012


@bp.before_request
def check_caller():
    """Signed in, and for the socket a page of our own: browsers send cookies with a
    cross-site WebSocket handshake, so Origin is what stops another site using them."""
    if not current_user.is_authenticated:
        abort(401)
    if request.endpoint in ("live.socket", "live.reply_events"):
        if not open_streams().enter():
            raise Unavailable("The server is busy: live updates will resume in a moment.", retry_after=10)
        g.holds_stream = "socket" if request.endpoint == "live.socket" else "event_stream"
        metrics.connection_opened(g.holds_stream)
    if request.endpoint == "live.socket":
        origin = request.headers.get("Origin")
        if not origin or urlsplit(origin).netloc != request.host:
            abort(403)
        # No per-message compression: frames are small HTML fragments, and deflating each
        # one costs the worker more CPU than the bytes it saves.
        request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        if credentials_due():
            # A handshake cannot renew the session cookie: the page works over HTTP, whose
            # next request renews it, and then the socket reconnects.
            abort(401)
        # One slot per open socket, so one user cannot hold the server's connections; the
        # page retries with backoff and its forms still work over plain requests meanwhile.
        g.socket_slot = rate_limits().sockets.take(current_user.id, settings().limits.sockets_per_user)
        if g.socket_slot is None:
            raise TooMany(30, "Too many live views are open for this account: close some tabs.")


@bp.teardown_request
def give_back_places(_error):
    """When the socket or stream ends: its place in the process and in the user's slots."""
    if kind := g.pop("holds_stream", None):
        open_streams().leave()
        metrics.connection_closed(kind)
    slot = g.pop("socket_slot", None)
    if slot is not None:
        rate_limits().sockets.give_back(current_user.id, slot)


@bp.get("/chats/<chat_id>/messages/<message_id>/events")
def reply_events(chat_id, message_id):
    """One reply as server-sent events: what changes after what the page shows (its text's
    length ``offset``, its finished blocks' ``settled``), then the finished message."""
    b = backends()
    # The message is read as its owner's: in the chat named, it proves the chat is theirs too.
    message = b.store.message(current_user.id, message_id)
    if message is None or message.chat_id != chat_id:
        abort(404)
    # What the page shows: unless this is a reconnection, which is shown the reply anew.
    shown_so_far = None
    if not request.headers.get("Last-Event-ID"):
        settled, end = request.args.get("settled", "0"), request.args.get("offset", "0")
        if not (settled.isdigit() and end.isdigit()):
            abort(400)
        shown_so_far = int(settled), int(end)
    events = reply_stream(b.store, b.channel, current_user.id, message, shown_so_far, open_streams().draining)
    return Response(stream_with_context(events), mimetype="text/event-stream", headers={
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",  # nginx: pass each event on at once
    })


@sock.route("/chats/<chat_id>/live", bp=bp)
def socket(ws, chat_id):
    """The chat page's socket: commands in, rendered fragments out, until it closes."""
    ws.sock = WholeWrites(ws.sock)
    b = backends()
    try:
        chat = chats.get_chat(b.store, current_user.id, chat_id)
    except NotFound:
        ws.close(reason=1008, message="no such chat")
        return
    since = request.args.get("since", "0")
    feed = ChatFeed(b.store, b.channel, current_user.id, chat.id)
    session_ended = SessionCheck(b.sessions)
    try:
        feed.start(int(since) if since.isdigit() else 0)
        open_streams().follow(feed)
        threading.Thread(target=_read_commands, args=(ws, feed), daemon=True, name="commands").start()
        renew = renew_at()
        for item in feed.items():
            if time.time() >= renew:
                break  # the page reconnects once an HTTP request has renewed the session
            if session_ended(item):
                # The page goes to the log-in page rather than reconnect (chat.js).
                ws.close(reason=SESSION_ENDED, message="your session has ended")
                break
            if item is None:
                rate_limits().sockets.renew(current_user.id, g.socket_slot)
                continue
            if item[0] == "sessions-ended":
                continue
            if item[0] == "draining":
                # 1012, service restart: the page reconnects at once, to another instance,
                # and catches up; replies this process is writing go on meanwhile.
                ws.close(reason=SERVICE_RESTART, message="the server is restarting")
                break
            frame = _command(feed, item[1]) if item[0] == "command" else feed.fragment(item)
            if frame:
                ws.send(frame)
    except (ConnectionClosed, OSError):
        pass  # the page left (a connection dropped under a write fails it with OSError)
    except ChannelUnavailable:
        # 1013, try again later: the page reconnects with backoff and catches up from the
        # store; meanwhile its forms still work over plain requests.
        ws.close(reason=1013, message="live updates are unavailable for a moment")
    finally:
        feed.close()


def _composer_refusal(b, feed: ChatFeed, content: str,
                      error: InvalidInput | Busy | TooMany | Unavailable) -> str | None:
    """The composer again, with the draft kept and why it was not sent beside it."""
    chat = {"id": feed.chat_id} if isinstance(error, Unavailable) else b.store.chat(feed.owner_id, feed.chat_id)
    if chat is None:
        return None
    return render_template("chat/_composer.html", chat=chat, oob=True, draft=content,
                           errors={"content": refusal(error)})


class SessionCheck:
    """Whether the socket's session has ended: told at once by a "sessions-ended" event
    (log-out, a password change, an admin, from any process), and read again from the
    session store on every quiet keep-alive and after a channel gap, for what no event
    announces (an idle or absolute timeout, an event lost while the channel was away)."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        # As of the handshake: the session's token (to read its record) and public id.
        self.token, self.session_id = getattr(session, "token", None), current_session_id()

    def __call__(self, item: tuple | None) -> bool:
        if item is None or item[0] == "catch-up":
            return self.token is None or self.sessions.load(hash_token(self.token)) is None
        return item[0] == "sessions-ended" and self.session_id in item[1]


class WholeWrites:
    """The connection under a WebSocket, writing each frame whole and one at a time.

    simple-websocket (1.1) writes a frame with one ``socket.send()``, which takes only what
    fits in the socket's buffer: behind a slow reader the rest of the frame was dropped and
    the browser saw a corrupt stream (its issue #45). ``sendall`` finishes the frame, and
    the lock keeps frames from two tasks (a fragment and a ping) from interleaving."""

    def __init__(self, sock) -> None:
        self._sock = sock
        self._lock = threading.Lock()

    def send(self, data: bytes) -> int:
        with self._lock:
            self._sock.sendall(data)
        return len(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def _read_commands(ws, feed: ChatFeed) -> None:
    """Runs beside the socket's loop: each frame from the page becomes a feed event."""
    try:
        while True:
            feed.put("command", ws.receive())
    except ConnectionClosed:
        feed.close()


def _command(feed: ChatFeed, raw: str | bytes) -> str | None:
    """A command from the page: {"type": "send" | "stop", "csrf_token", ...}."""
    if len(raw) > MAX_COMMAND_BYTES:
        return None
    try:
        command = json.loads(raw)
        validate_csrf(command.get("csrf_token"))
    except (ValueError, AttributeError, ValidationError):
        return None  # not JSON, or not from our page: ignore it
    b = backends()
    try:
        rate_limits().socket_command(feed.owner_id)
    except TooMany as error:
        return _composer_refusal(b, feed, str(command.get("content", "")), error) if command.get("type") == "send" \
            else None
    if command.get("type") == "stop":
        try:
            turns.stop(b.store, b.runner, feed.owner_id, feed.chat_id, str(command.get("message_id", "")))
        except NotFound:
            pass
        return None
    if command.get("type") == "send":
        content = str(command.get("content", ""))
        try:
            before_asking_a_model(feed.owner_id)
            model = turns.choose_model(b.models, b.store, feed.owner_id, feed.chat_id,
                                       str(command.get("model") or "") or None)
            turn = turns.send_message(b.store, model, b.runner, feed.owner_id, feed.chat_id, content, limits(),
                                      files=b.files, client_id=str(command.get("client_id", "")))
        except NotFound:
            return None  # deleted a moment ago: the chat-list update says so
        except (InvalidInput, Busy, TooMany, Unavailable) as error:
            return _composer_refusal(b, feed, content, error)
        # The messages arrive through the chat's topic, like every other view's; the page
        # gets an empty composer, with a new client id for its next send.
        return render_template("chat/_composer.html", chat=turn.chat, oob=True, draft="", errors={})
    return None
