"""The live channel on Redis, for several processes (gunicorn workers, hosts) sharing one.

A topic is a counter, a capped stream (replay) and a pub/sub channel (live delivery), kept
in step by one Lua script per event. A process holds one pub/sub connection whatever the
number of its subscribers, read by one thread that hands each event to the local ones.
"""
from __future__ import annotations

import logging
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Callable

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from .batch import Batcher
from .channel import CLOSED, GAP, KEEP, RETENTION, ChannelUnavailable, Delivery, Event, Unsubscribe, deliver
from .events import LiveEvent, from_json, to_json

log = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
IDLE = 86400.0  # seconds a topic never closed (a chat's, a user's) outlives its last event
CONFIRM_TIMEOUT = 5.0  # seconds a subscriber waits for Redis to confirm a new subscription
POLL = 0.5  # seconds the reader waits for a message before looking at its stop flag

# KEYS: counter, stream. ARGV: the event's JSON ('' closes the topic), keep, channel, ttl (ms).
# The stream's IDs are the sequence numbers, so a replay is one XRANGE from a number.
SCRIPT = """
local seq = redis.call('INCR', KEYS[1])
if seq == 1 then redis.call('DEL', KEYS[2]) end
local kind = ARGV[1] == '' and 'closed' or 'event'
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], seq .. '-0', 'seq', seq, kind, ARGV[1])
redis.call('PUBLISH', ARGV[3], seq .. ':' .. ARGV[1])
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ARGV[4]) end
return seq
"""


@dataclass(eq=False)
class _Subscriber:
    on_event: Callable[[Delivery], None]
    backlog: list[tuple[int, Delivery]] | None = field(default_factory=list)  # None once live
    floor: int | None = None  # once live: events up to here were replayed already, may still come


@dataclass(eq=False)
class _Topic:
    subscribers: list[_Subscriber] = field(default_factory=list)
    confirmed: threading.Event = field(default_factory=threading.Event)
    joins: list[tuple[_Subscriber, int | None]] = field(default_factory=list)  # joined by the reader
    last: int | None = None  # the last seq the reader handed on (or the counter when joined)


class _PubSub(redis.client.PubSub):
    """Counts its reconnections: redis-py reconnects and resubscribes by itself, from whichever
    thread finds the socket dead, and the reader must know, to catch up."""

    connects = 0
    guard: threading.RLock  # the channel's lock: resubscribing reads the table subscribe() changes

    def on_connect(self, connection: Any) -> None:
        with self.guard:
            self.connects += 1
            super().on_connect(connection)


class RedisChannel:
    def __init__(self, url: str, retention: float = RETENTION, keep: int = KEEP,
                 prefix: str = "chatbot:live:") -> None:
        self.retention, self.keep, self.prefix = retention, keep, prefix
        # No retries inside redis-py: a publish fails fast, and the reader does its own backoff.
        self._pool = redis.ConnectionPool.from_url(url, socket_connect_timeout=2, socket_timeout=5,
                                                   retry=Retry(NoBackoff(), 0))
        self._redis = redis.Redis(connection_pool=self._pool)
        self._script = self._redis.register_script(SCRIPT)
        # Publishing has a connection of its own, written by one task in batches (batch.py).
        self._publisher = self._pool.connection_class(**self._pool.connection_kwargs)
        self._batcher: Batcher[list] = Batcher(self._send, "live-redis-publisher")
        self._lock = threading.RLock()
        self._topics: dict[str, _Topic] = {}
        self._pubsub = _PubSub(self._pool)
        self._pubsub.guard = self._lock
        self._connects = 0  # the pub/sub's reconnections the reader has accounted for
        self._run_id: str | None = None
        self._stopped = threading.Event()
        self._reader = threading.Thread(target=self._read, name="live-redis-reader", daemon=True)
        self._reader.start()

    def _keys(self, topic: str) -> list[str]:
        return [f"{self.prefix}{topic}:seq", f"{self.prefix}{topic}:log"]

    def publish(self, topic: str, event: LiveEvent) -> int:
        return self._append(topic, to_json(event), max(self.retention, IDLE))

    def close(self, topic: str) -> None:
        self._append(topic, "", self.retention)

    def _append(self, topic: str, body: str, ttl: float) -> int:
        return self._batcher.submit([*self._keys(topic), body, self.keep, self.prefix + topic, int(ttl * 1000)])

    def _send(self, batch: list[list], again: bool = True) -> list[int | Exception]:
        """The script for each of ``batch`` (its keys and arguments), in one pipeline."""
        connection = self._publisher
        results: list[int | Exception] = []
        try:
            connection.send_packed_command(connection.pack_commands(
                [("EVALSHA", self._script.sha, 2, *keys_and_args) for keys_and_args in batch]))
            for _ in batch:
                try:
                    results.append(int(connection.read_response()))
                except ResponseError as error:  # that one failed; the rest still answer
                    results.append(error)
        except UNREACHABLE as error:
            connection.disconnect()
            raise ChannelUnavailable(str(error)) from error
        unknown = [n for n, result in enumerate(results) if isinstance(result, NoScriptError)]
        if unknown and again:  # a restarted Redis forgot the script: load it, and send those again
            try:
                self._redis.script_load(SCRIPT)
            except UNREACHABLE as error:
                raise ChannelUnavailable(str(error)) from error
            for n, result in zip(unknown, self._send([batch[n] for n in unknown], again=False)):
                results[n] = result
        return results

    def subscribe(self, topic: str, on_event: Callable[[Delivery], None], after: int | None = 0) -> Unsubscribe:
        sub = _Subscriber(on_event)
        try:
            with self._lock:
                t = self._topics.setdefault(topic, _Topic())  # a topic here has subscribers
                t.subscribers.append(sub)
                if len(t.subscribers) == 1:  # the first: the process's one pub/sub connection subscribes
                    try:
                        self._pubsub.subscribe(self.prefix + topic)
                    except UNREACHABLE:  # a connection found dead was reconnected: once more
                        self._pubsub.subscribe(self.prefix + topic)
                if threading.current_thread() is self._reader and not t.confirmed.is_set():
                    t.joins.append((sub, after))  # a callback subscribing: the reader cannot wait for itself
                    return lambda: self._leave(topic, t, sub)
            if not t.confirmed.wait(CONFIRM_TIMEOUT):
                raise RedisTimeoutError(f"Redis did not confirm the subscription to {topic}")
            self._join(topic, t, sub, after)
        except UNREACHABLE as error:
            self._leave(topic, t, sub)
            raise ChannelUnavailable(str(error)) from error
        return lambda: self._leave(topic, t, sub)

    def _replay(self, topic: str, after: int | None) -> tuple[int, list[tuple[int, Delivery]]]:
        """The topic's counter and its retained events numbered above ``after``."""
        counter, stream = self._keys(topic)
        pipe = self._redis.pipeline()
        pipe.get(counter)
        if after is not None:
            pipe.xrange(stream, f"{after + 1}-0", "+")
        now, *entries = pipe.execute()
        replay = [(int(f[b"seq"]), CLOSED if b"closed" in f else Event(int(f[b"seq"]), from_json(f[b"event"])))
                  for _, f in (entries[0] if entries else [])]
        return int(now or 0), replay

    def _join(self, topic: str, t: _Topic, sub: _Subscriber, after: int | None) -> None:
        """Replays what the subscriber missed, then what arrived meanwhile, then makes it live:
        every event once, in order. Numbers are compared here only: a topic's counter may
        start again later."""
        try:
            now, pending = self._replay(topic, after)
            with self._lock:
                if t.last is None:
                    t.last = now
        except UNREACHABLE:
            if threading.current_thread() is not self._reader:
                raise
            now, pending = 0, [(0, GAP)]  # joined by the reader, which has nobody to tell
        position = now if after is None else after
        while True:
            for seq, item in pending:
                if item is not GAP and seq <= position:
                    continue
                position = seq  # after a GAP (seq 0), numbers may start again
                deliver(sub.on_event, item)
                if item is CLOSED:
                    self._leave(topic, t, sub)
                    return
            with self._lock:
                pending = sub.backlog or []
                sub.backlog, sub.floor = ([], None) if pending else (None, position)
            if not pending:
                return

    def _leave(self, topic: str, t: _Topic, sub: _Subscriber) -> None:
        with self._lock:
            t.subscribers = [other for other in t.subscribers if other is not sub]
            t.joins = [join for join in t.joins if join[0] is not sub]
            if not t.subscribers and self._topics.get(topic) is t:
                del self._topics[topic]
                self._unsubscribe(topic)

    def _unsubscribe(self, topic: str) -> None:
        with suppress(*UNREACHABLE):  # if not now, when a reconnection confirms it again
            self._pubsub.unsubscribe(self.prefix + topic)

    def _read(self) -> None:
        """The reader: never dies; a lost connection is retried with backoff and logged once."""
        delay, down = 0.1, False
        while not self._stopped.is_set():
            try:
                message = self._pubsub.get_message(timeout=POLL)
                self._check_server()
                if message:
                    self._handle(message)
            except UNREACHABLE as error:
                if not down:
                    log.warning("the live channel lost Redis (%s); reconnecting", error)
                down = True
                self._stopped.wait(delay)
                delay = min(delay * 2, 2.0)
                continue
            except Exception:  # noqa: BLE001
                log.exception("the live channel's reader failed on a message")
            if down:
                log.warning("the live channel reconnected to Redis")
            delay, down = 0.1, False

    def _check_server(self) -> None:
        """After the pub/sub (re)connects: the same server catches up on its topics when each is
        confirmed again; another one (Redis restarted, its data gone) means GAP for everyone."""
        connects = self._pubsub.connects  # counts reconnections only: the first is made without on_connect
        if connects == self._connects and (self._run_id or self._pubsub.connection is None):
            return
        try:
            run_id = self._redis.info("server")["run_id"]  # type: ignore[index]  # the sync client answers a dict
        except UNREACHABLE:
            run_id = None  # cannot tell: say events may be lost
        if connects != self._connects and (run_id is None or run_id != self._run_id):
            self._gap(reset=None not in (run_id, self._run_id))
        self._run_id, self._connects = run_id, connects

    def _handle(self, message: dict[str, Any]) -> None:
        if message["type"] not in ("subscribe", "message"):
            return
        topic = message["channel"].decode()[len(self.prefix):]
        if message["type"] == "subscribe":
            self._confirmed(topic)
        else:
            seq, _, body = message["data"].partition(b":")
            self._dispatch(topic, int(seq), Event(int(seq), from_json(body)) if body else CLOSED)

    def _confirmed(self, topic: str) -> None:
        with self._lock:
            t = self._topics.get(topic)
            if t is None:
                self._unsubscribe(topic)  # left meanwhile, or resubscribed by a reconnection
                return
            first, last = not t.confirmed.is_set(), t.last
            t.confirmed.set()
            joins, t.joins = t.joins, []
        for sub, after in joins:
            self._join(topic, t, sub, after)
        if first or last is None:
            return
        try:  # subscribed again after a reconnection: hand on what was published meanwhile
            _, replay = self._replay(topic, last)
        except UNREACHABLE:
            self._gap(topic)
            return
        for seq, item in replay:
            self._dispatch(topic, seq, item)
        with self._lock:  # the live ones may hear again, from pub/sub, what was just replayed
            for sub in (t.subscribers if replay else []):
                if sub.backlog is None:
                    sub.floor = max(sub.floor or 0, replay[-1][0])

    def _dispatch(self, topic: str, seq: int, item: Delivery) -> None:
        with self._lock:
            t = self._topics.get(topic)
            if t is None:
                return
            t.last = seq
            live = []
            for sub in t.subscribers:
                if sub.backlog is not None:
                    sub.backlog.append((seq, item))
                elif sub.floor is None or seq > sub.floor:
                    sub.floor = None  # caught up: from now on, whatever pub/sub brings, in order
                    live.append(sub)
            if item is CLOSED:
                del self._topics[topic]
                self._unsubscribe(topic)
        for sub in live:
            deliver(sub.on_event, item)

    def _gap(self, only: str | None = None, reset: bool = False) -> None:
        """GAP to the subscribers of one topic, or all; ``reset``: a new server, numbering anew."""
        live = []
        with self._lock:
            for t in self._topics.values() if only is None else filter(None, [self._topics.get(only)]):
                if not t.confirmed.is_set():
                    continue  # its subscribers have read nothing yet, and will read the new server
                t.last = 0 if reset else t.last
                for sub in t.subscribers:
                    if sub.backlog is None:
                        sub.floor = None
                        live.append(sub)
                    else:
                        sub.backlog.append((0, GAP))
        for sub in live:
            deliver(sub.on_event, GAP)

    def ping(self) -> None:
        try:
            self._redis.ping()
        except redis.RedisError as error:
            raise ChannelUnavailable(str(error)) from error

    def shutdown(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._batcher.shutdown()
        if threading.current_thread() is not self._reader:
            self._reader.join(POLL + 5)
        with self._lock:
            self._topics.clear()
            self._pubsub.close()
        self._pool.disconnect()
        self._publisher.disconnect()
