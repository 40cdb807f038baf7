"""The generation runner: the background work of one process, in one object.

It writes the replies this process started (each a task that belongs to no connection),
publishes their text once per pacing window from one ticker, stops them when asked from
any process (a stop request arrives on this process's topic), and keeps the lease that
tells every other process it is alive. A reply whose process is gone, because that
process's lease ran out, is marked interrupted by whichever process sweeps next: a dead
machine or container is noticed within about a lease, a live one is never touched.

Built once per app by ``init_app``; two runners can run side by side (a test does).
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field, replace
from typing import Callable

from ..live import topics
from ..live.channel import Channel, ChannelUnavailable, Delivery, Event, announce
from ..live.events import MessageChanged, ReplyDone, ReplyText, StopReply
from ..errors import Unavailable
from .. import metrics
from ..logs import REQUEST_ID
from ..models import ChatModel, Finished, ModelError, Usage
from ..models.parameters import Parameters
from ..process import this_process
from ..store import COMPLETE, ERROR, INTERRUPTED, STOPPED, Housekeeping, Message, Store
from ..streaming_markdown import Settler
from .pacing import BASE, Pace

log = logging.getLogger(__name__)

CHECKPOINT_EVERY = 1.0  # seconds: partial text is written to the store this often
INTERRUPTED_REASON = "The server stopped while this reply was being written."
RESTARTED_REASON = "The server restarted while this reply was being written."
NOT_SAVED = "This reply could not be saved (the database was unavailable): copy it before you leave the page."
_runners = itertools.count(1)  # runners of this process: each has a lease of its own


@dataclass
class _Running:
    """A reply this process is writing: how to stop it."""
    stop: threading.Event = field(default_factory=threading.Event)
    abort: Callable[[], None] | None = None  # aborts the model's request in flight
    interrupted: str | None = None  # stopped by the process, not the user: why (it ends interrupted)

    def request_stop(self, interrupted: str | None = None) -> None:
        self.interrupted = interrupted
        self.stop.set()
        if self.abort:
            self.abort()


class ReplyRunner:
    def __init__(self, channel: Channel, housekeeping: Housekeeping, *, lease: float = 30.0,
                 pace: Pace | None = None, spawn: Callable[..., object] | None = None, save_for: float = 120.0) -> None:
        self.channel, self.housekeeping = channel, housekeeping
        self.lease = lease  # seconds another process waits for news of this one before sweeping its replies
        self.save_for = save_for  # seconds a finished reply is held and written again while the database is away
        self.pace = pace or Pace()
        self.worker = f"{this_process()}:{next(_runners)}"  # its replies and its lease carry this
        self._spawn = spawn or _thread
        self._running: dict[str, _Running] = {}  # by message id
        self._coalescers: set[_Coalescer] = set()  # replies whose text the ticker publishes
        self._lock = threading.Lock()
        self._ticking = False
        self._background: threading.Event | None = None  # set to stop the lease and sweep task
        self._stop_requests: Callable[[], None] | None = None

    # The replies
    def start(self, store: Store, model: ChatModel, owner_id: str, answer: Message, conversation: list[dict],
              then: Callable[[Message], None] | None = None, parameters: Parameters | None = None) -> None:
        """Write ``answer`` (a streaming message of this runner's worker) in the background,
        as ``parameters`` say; then, in the same task, call ``then`` with the finished reply
        (work that must never delay the reply, such as naming its chat)."""
        self._running[answer.id] = _Running()
        self._spawn(self.generate, store, model, owner_id, answer, conversation, then, parameters, REQUEST_ID.get())

    def stop(self, message: Message) -> bool:
        """Ask the process writing ``message`` to stop it: this one at once, another through
        its topic. False if nobody is writing it any more (its process is gone)."""
        running = self._running.get(message.id)
        if running is not None:
            running.request_stop()
            return True
        if message.worker is None or message.worker == self.worker:
            return False
        announce(self.channel, topics.process(message.worker), StopReply(message.id))
        return True

    def generate(self, store: Store, model: ChatModel, owner_id: str, answer: Message,
                 conversation: list[dict], then: Callable[[Message], None] | None = None,
                 parameters: Parameters | None = None, request_id: str | None = None) -> None:
        """Produce the reply to ``conversation`` into the streaming message ``answer``. Never raises.
        ``request_id``: the request that asked for it, for the log lines and the provider's."""
        REQUEST_ID.set(request_id)  # this task's own context: its lines, and the model's request, carry it
        message_id = answer.id
        started, first_text_at, failed_at_provider = time.monotonic(), None, False
        running = self._running.setdefault(message_id, _Running())
        text: list[str] = []  # everything generated so far
        live = _Coalescer(self, message_id)
        usage = Usage(None, None)
        finish_reason = None
        status, error = COMPLETE, None
        text.append(answer.content)  # a reply carried on (Continue) starts from what it has
        live.resume(answer.content)
        last_checkpoint = time.monotonic()
        stream = None
        try:
            stream = model.stream(conversation, on_open=lambda abort: setattr(running, "abort", abort),
                                  parameters=parameters)
            for piece in stream:
                if running.stop.is_set():
                    break
                if isinstance(piece, Usage):
                    usage = piece
                    continue
                if isinstance(piece, Finished):
                    finish_reason = piece.reason
                    continue
                if first_text_at is None:
                    first_text_at = time.monotonic()
                text.append(piece)
                live.add(piece)
                now = time.monotonic()
                if now - last_checkpoint >= CHECKPOINT_EVERY:
                    _checkpoint(store, owner_id, answer, "".join(text))
                    last_checkpoint = now
            status = _stopped(running) if running.stop.is_set() else COMPLETE
            error = running.interrupted if running.stop.is_set() else None
        except ModelError as failure:
            # A stop aborts the request in flight, which the model reports as a failure.
            status, error = (_stopped(running), running.interrupted) if running.stop.is_set() else (ERROR, str(failure))
            if status == ERROR:
                failed_at_provider = True
                log.warning("model failure: chat %s, reply %s, model %s: status %s, provider request %s, "
                            "after %d characters: %s", answer.chat_id, message_id, model.name, failure.status,
                            failure.request_id, sum(map(len, text)), failure.detail or failure)
        except Exception:  # a bug must not leave the reply "streaming" for ever
            log.exception("reply %s failed", message_id)
            status, error = ERROR, "Something went wrong while generating this reply."
        finally:
            if stream is not None:
                stream.close()  # on a stop, this closes the connection to the model too
            live.close()
            final = replace(answer, content="".join(text), status=status, error=error, worker=None,
                            prompt_tokens=usage.prompt_tokens, finish_reason=finish_reason if status == COMPLETE else None,
                            completion_tokens=_more(answer.completion_tokens, usage.completion_tokens))
            if not _save(store, owner_id, final, self.save_for):
                # The text still reaches every open view (they can copy it), marked unsaved.
                final = replace(final, status=ERROR, error=NOT_SAVED)
            self._running.pop(message_id, None)
            _log_outcome(final, model.name, started, first_text_at, failed_at_provider)
            # The finished message rides on "done" too, so a reply's event stream can show
            # it without reading it back from the store.
            announce(self.channel, topics.reply(message_id), ReplyDone(final), last=True)
            announce(self.channel, topics.chat(final.chat_id), MessageChanged(final))
        if then is not None:
            then(final)

    # The ticker: one task for all the replies being written
    def _follow(self, coalescer: _Coalescer) -> None:
        with self._lock:
            self._coalescers.add(coalescer)
            if self._ticking:
                return
            self._ticking = True
        threading.Thread(target=self._tick, daemon=True, name="coalesce").start()

    def _forget(self, coalescer: _Coalescer) -> None:
        with self._lock:
            self._coalescers.discard(coalescer)

    def _tick(self) -> None:
        """Wake every pacing.BASE seconds while replies are being written: publish the text
        that is due, and tell the pace how late the wake-up was."""
        while True:
            asleep = time.monotonic()
            time.sleep(BASE)
            self.pace.observe(time.monotonic() - asleep - BASE)
            with self._lock:
                if not self._coalescers:
                    self._ticking = False
                    return
                replies = list(self._coalescers)
            for reply in replies:
                if reply.pending and reply.due:
                    reply.flush()

    # The lease, the sweep and stop requests from other processes
    def start_background(self) -> None:
        """Hold this process's lease, sweep dead processes' replies now and then, and hear
        stop requests. Started before this process stores its first reply, or by the server
        for every worker (gunicorn.conf.py)."""
        with self._lock:
            if self._background is not None:
                return
            self._background = threading.Event()
        self.housekeeping.renew_lease(self.worker, self.lease)  # before any reply names this worker
        self._hear_stop_requests()
        threading.Thread(target=_keep_lease, args=(weakref.ref(self), self._background, self.lease / 3),
                         daemon=True, name="lease").start()

    def _hear_stop_requests(self) -> None:
        """Follow this process's topic, if the channel can be reached (if not, the lease
        task tries again: meanwhile a stop from another process waits)."""
        if self._stop_requests is None:
            try:
                self._stop_requests = self.channel.subscribe(topics.process(self.worker), self._on_stop_request,
                                                             after=None)
            except ChannelUnavailable:
                log.warning("live channel unavailable: stop requests from other processes wait")

    def sweep(self) -> int:
        """Mark interrupted the replies of processes whose lease ran out (text kept)."""
        return self.housekeeping.sweep_replies(INTERRUPTED_REASON)

    def finish(self, until: float) -> int:
        """The process is stopping: let the replies being written go on until ``until`` (a
        time.monotonic()), then stop the rest, their text kept, marked interrupted (a reply
        can be continued or retried). How many were cut short."""
        while self._running and time.monotonic() < until:
            time.sleep(0.1)
        cut = list(self._running.values())
        for running in cut:
            running.request_stop(interrupted=RESTARTED_REASON)
        deadline = time.monotonic() + 5  # each saves what it has and says so
        while self._running and time.monotonic() < deadline:
            time.sleep(0.05)
        if cut:
            log.warning("stopping: %d replies cut short, their text kept, marked interrupted", len(cut))
        return len(cut)

    def shutdown(self) -> None:
        with self._lock:
            background, self._background = self._background, None
        if background is not None:
            background.set()
            if self._stop_requests:
                self._stop_requests()
                self._stop_requests = None
            try:
                self.housekeeping.end_lease(self.worker)  # its replies need not wait for the lease to run out
            except Exception:  # noqa: BLE001 - shutting down: the lease runs out by itself
                log.warning("could not end the lease of %s", self.worker)

    def _on_stop_request(self, item: Delivery) -> None:
        if isinstance(item, Event) and isinstance(item.data, StopReply):
            running = self._running.get(item.data.message_id)
            if running is not None:
                running.request_stop()


def _stopped(running: _Running) -> str:
    return INTERRUPTED if running.interrupted else STOPPED


def _log_outcome(final: Message, model: str, started: float, first_text_at: float | None,
                 failed_at_provider: bool) -> None:
    """For each reply's end, a line and its metrics: how it ended, its tokens, how soon it
    began and how fast it came."""
    now = time.monotonic()
    writing = now - first_text_at if first_text_at is not None else None
    rate = round(final.completion_tokens / writing, 1) if final.completion_tokens and writing else None
    first_ms = round((first_text_at - started) * 1000) if first_text_at is not None else None
    log.info("reply %s: %s, model %s, %s tokens in, %s out, first text after %s ms", final.id, final.status, model,
             final.prompt_tokens, final.completion_tokens, first_ms, extra={
                 "request_id": REQUEST_ID.get(), "chat": final.chat_id, "reply": final.id, "model": model,
                 "outcome": final.status,
                 "prompt_tokens": final.prompt_tokens, "completion_tokens": final.completion_tokens,
                 "first_token_ms": first_ms, "tokens_per_second": rate, "seconds": round(now - started, 3)})
    metrics.reply_ended(final.status, model, first_text_at - started if first_text_at is not None else None, rate,
                        failed_at_provider)


def _checkpoint(store: Store, owner_id: str, answer: Message, text: str) -> None:
    """Write the partial text, if the database can take it now: if not, the next checkpoint
    (or the final write, which waits for it) writes all of it."""
    try:
        store.update_message(owner_id, answer.id, content=text)
    except Unavailable:
        log.warning("checkpoint of reply %s in chat %s skipped: the database is unavailable", answer.id,
                    answer.chat_id)


def _save(store: Store, owner_id: str, final: Message, save_for: float) -> bool:
    """Write the finished reply, again and again while the database is away (each try
    already waits its busy bound), for up to ``save_for`` seconds. False, and an error in
    the log naming the chat and the reply, if it could not be written."""
    deadline, pause = time.monotonic() + save_for, 1.0
    while True:
        try:
            store.update_message(owner_id, final.id, content=final.content, status=final.status, error=final.error,
                                 prompt_tokens=final.prompt_tokens, completion_tokens=final.completion_tokens,
                                 finish_reason=final.finish_reason, worker=None)
            return True
        except Unavailable:
            if time.monotonic() + pause > deadline:
                log.error("reply %s in chat %s could not be saved: %d characters were shown but not stored",
                          final.id, final.chat_id, len(final.content))
                return False
            log.warning("reply %s in chat %s not saved yet (%d characters held): the database is unavailable, "
                        "trying again", final.id, final.chat_id, len(final.content))
            time.sleep(pause)  # cooperative under gevent
            pause = min(pause * 2, 10.0)


def _more(before: int | None, now: int | None) -> int | None:
    """Tokens written in all, for a reply carried on (Continue): what it had, and the rest."""
    return now if before is None or now is None else before + now


def _keep_lease(runner_ref: weakref.ref, stopped: threading.Event, every: float) -> None:
    """Renew the lease and sweep, every ``every`` seconds, until the runner is shut down
    or gone (an app dropped by a test takes its task with it)."""
    sweep_every, last_sweep = every * 1.5, 0.0
    while not stopped.wait(every if last_sweep else 0):
        runner = runner_ref()
        if runner is None:
            return
        try:
            runner.housekeeping.renew_lease(runner.worker, runner.lease)
            runner._hear_stop_requests()
            if time.monotonic() - last_sweep >= sweep_every:
                last_sweep = time.monotonic()
                if swept := runner.sweep():
                    log.warning("marked %d replies of stopped processes interrupted", swept)
        except Exception:  # noqa: BLE001 - the database may be away for a while: try again next time
            log.warning("could not renew the lease of %s or sweep", runner.worker, exc_info=True)
        del runner


class _Coalescer:
    """Publishes a reply's new text at most about once per window (the runner's pace): a
    fast model costs one event per window, not one per token. Text that is due goes out as
    it arrives; the runner's ticker publishes the rest, so nothing waits for the next token
    of a slow or silent model. A publish that fails loses only live text: the store keeps
    all of it, and views notice the gap by the offsets and read the store."""

    def __init__(self, runner: ReplyRunner, message_id: str) -> None:
        self.runner, self.message_id = runner, message_id
        self.topic = topics.reply(message_id)
        self.lock = threading.Lock()
        self.pending: list[str] = []
        self.offset = 0  # characters published (or given up on) so far
        self.last = 0.0  # when text was last published
        self.settler = Settler()  # where the reply's finished markdown blocks end: found once, here
        runner._follow(self)

    @property
    def due(self) -> bool:
        # A little early counts as due: a model read once per window may wake a few ms
        # early, and holding its text for the ticker would add a whole tick.
        return time.monotonic() - self.last >= self.runner.pace.window * 0.8

    def add(self, text: str) -> None:
        with self.lock:
            self.pending.append(text)
        if self.due:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            if self.pending:
                chunk = "".join(self.pending)
                settled = self.settler.add(chunk)
                announce(self.runner.channel, self.topic, ReplyText(self.message_id, self.offset, chunk, settled))
                self.offset += len(chunk)
                self.pending = []
                self.last = time.monotonic()

    def resume(self, text: str) -> None:
        """A reply carried on (Continue): ``text`` was written and shown already."""
        self.offset = len(text)
        self.settler.add(text)

    def close(self) -> None:
        self.runner._forget(self)
        self.flush()


def _thread(function: Callable[..., object], *args: object) -> None:
    # A thread under the development server; a greenlet under gevent, whose monkey
    # patching turns threading.Thread into one. Either way it outlives the request.
    threading.Thread(target=function, args=args, daemon=True, name="reply").start()
