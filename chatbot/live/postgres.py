"""The live channel on PostgreSQL alone (or Supabase's Postgres), for several processes.

For operators: on Supabase, connect through the pooler in **session mode** (port 5432), never
transaction mode (6543): LISTEN needs a session of its own. Each process holds one listening
connection, one publishing connection and a few (POOL_SIZE) for replays and sweeps. Events go
into UNLOGGED tables (no WAL).

The tables live in a schema of their own (``chatbot_live``, not ``public``, which Supabase
exposes through its REST API). A busy process publishes thousands of events a second, so
``publish`` and ``close`` hand their item to the process's one writer task (batch.py), which
sends everything waiting as one statement (PUBLISH): it numbers the events on their topics'
rows (the row lock orders concurrent publishers, so seq order = commit order = NOTIFY order),
stores them, trims what fell out of ``keep`` and notifies, per event and in order,
``topic<TAB>seq<TAB>json``, or ``topic<TAB>seq<TAB>`` when the JSON would pass NOTIFY's 8000
bytes (the listener then reads the event from the table), and ``topic<TAB>closed`` per close.

Every process LISTENs on one channel and so receives every notification, and one reader
thread (a greenlet under gevent) dispatches those of topics it has subscribers for, parsing
JSON only for those. LISTEN per topic was not chosen: the connection is held by
``notifies()`` between notifications, so each new topic would mean interrupting it, and a
process with thousands of subscribers would issue LISTEN/UNLISTEN all the time.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import psycopg
from psycopg import sql

from .batch import Batcher
from .channel import CLOSED, GAP, KEEP, RETENTION, ChannelUnavailable, Delivery, Event, Unsubscribe, deliver
from .events import LiveEvent, from_json, to_json

log = logging.getLogger(__name__)

POOL_SIZE = 4  # connections per process for reading (replays, sweeps); publishing has its own
CLEANUP_EVERY = 60.0  # seconds between sweeps of expired topics
IDLE = 86400.0  # a never-closed topic idle this long (or ``retention``, if longer) is forgotten
NOTIFY_ROOM = 7970  # bytes for topic + JSON: NOTIFY refuses 8000, and seq and tabs need some
LISTENER = "chatbot_live listener"  # application_name, so pg_stat_activity tells them apart
PUBLISHER = "chatbot_live"

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE UNLOGGED TABLE IF NOT EXISTS {s}.topics (topic text PRIMARY KEY, last_seq bigint NOT NULL,
    closed_at timestamptz, touched timestamptz NOT NULL);
CREATE UNLOGGED TABLE IF NOT EXISTS {s}.events (topic text, seq bigint, data text NOT NULL,
    PRIMARY KEY (topic, seq));
"""
# One statement per batch of items (events, or closes: data NULL), in the batch's order ``n``.
# Each topic's row is bumped once by its number of events (ON CONFLICT cannot touch a row twice
# in one statement), in topic order so that two processes' batches never deadlock on them; the
# row lock still orders concurrent publishers, so seq order = commit order = NOTIFY order. Its
# events are numbered up to its new last_seq. A close is an item like the others, so its notice
# keeps its place among the topic's events, but it takes no number and no row: it sets closed_at.
# Events that fell out of ``keep`` are deleted, or never stored when the batch alone overflows
# (the statement does not see its own inserts). The notices are made in an outer SELECT over
# the ordered items, so they go out in the batch's order; each event's seq comes back in it.
PUBLISH = r"""
WITH b AS (SELECT * FROM unnest(%(topics)s::text[], %(datas)s::text[]) WITH ORDINALITY AS b(topic, data, n)),
    c AS (INSERT INTO {s}.topics AS t (topic, last_seq, closed_at, touched)
            SELECT topic, count(data), CASE WHEN bool_or(data IS NULL) THEN now() END, now()
            FROM b GROUP BY topic ORDER BY topic
        ON CONFLICT (topic) DO UPDATE SET last_seq = t.last_seq + excluded.last_seq,
            closed_at = coalesce(excluded.closed_at, t.closed_at), touched = now()
        RETURNING topic, last_seq),
    e AS (SELECT n, topic, data, last_seq, last_seq - count(*) OVER w + row_number() OVER (w ORDER BY n) AS seq
        FROM b JOIN c USING (topic) WHERE data IS NOT NULL WINDOW w AS (PARTITION BY topic)),
    i AS (INSERT INTO {s}.events (topic, seq, data) SELECT topic, seq, data FROM e WHERE seq > last_seq - %(keep)s),
    d AS (DELETE FROM {s}.events x USING c WHERE x.topic = c.topic AND x.seq <= c.last_seq - %(keep)s)
SELECT seq, pg_notify(%(channel)s, notice) FROM (
    SELECT e.seq, CASE WHEN b.data IS NULL THEN b.topic || E'\tclosed' ELSE concat_ws(E'\t', b.topic, e.seq,
        CASE WHEN octet_length(b.topic) + octet_length(b.data) < %(room)s THEN b.data ELSE '' END) END AS notice
    FROM b LEFT JOIN e USING (n) ORDER BY b.n) items"""
READ = """
SELECT t.last_seq, t.closed_at IS NOT NULL, e.seq, e.data FROM {s}.topics t
    LEFT JOIN {s}.events e ON e.topic = t.topic AND e.seq > coalesce(%(after)s::bigint, t.last_seq)
WHERE t.topic = %(topic)s ORDER BY e.seq"""
FETCH = "SELECT data FROM {s}.events WHERE topic = %s AND seq = %s"
TOUCH = "UPDATE {s}.topics SET touched = now() WHERE topic = ANY(%s) AND closed_at IS NULL"
EXPIRE = """
WITH gone AS (DELETE FROM {s}.topics WHERE closed_at < now() - make_interval(secs => %(retention)s)
        OR (closed_at IS NULL AND touched < now() - make_interval(secs => %(idle)s)) RETURNING topic)
DELETE FROM {s}.events WHERE topic IN (SELECT topic FROM gone)"""

_Read = tuple[int, bool, list[Event]]  # the topic's last seq, whether closed, events after a seq


@dataclass(eq=False)
class _Sub:
    on_event: Callable[[Delivery], None]
    last: int | None  # the last seq delivered (None: take the topic's current one)
    epoch: int  # the listening connection it joined under
    buffer: list | None = field(default_factory=list)  # notices held while catching up; None once live
    active: bool = True


class PostgresChannel:
    def __init__(self, url: str, retention: float = RETENTION, keep: int = KEEP, schema: str = "chatbot_live") -> None:
        self.url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.retention, self.keep, self.schema = retention, keep, schema
        self._sql = {name: sql.SQL(text).format(s=sql.Identifier(schema)).as_string()  # type: ignore[arg-type]
                     for name, text in (("publish", PUBLISH), ("read", READ), ("fetch", FETCH),
                                        ("touch", TOUCH), ("expire", EXPIRE))}
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(POOL_SIZE)
        self._lock = threading.RLock()  # the subscriptions; every delivery is made under it, in order
        self._subs: dict[str, list[_Sub]] = {}
        self._epoch, self._started = 0, None
        self._stop = threading.Event()
        # Publishing: one connection, written by one task in batches (batch.py). Only that task
        # uses it; ``_publishing`` keeps shutdown from closing it under a statement.
        self._publisher: psycopg.Connection | None = None
        self._publishing = threading.Lock()
        self._stale = False  # the listener reconnected: the publisher may be dead too
        self._closed = False  # shut down: no new publishing connection
        self._batcher: Batcher[tuple[str, str | None]] = Batcher(self._send, "live-postgres-publisher")
        with self._connection() as conn, conn.transaction():  # several processes may start at once
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (schema,))
            conn.execute(sql.SQL(SCHEMA).format(s=sql.Identifier(schema)))  # type: ignore[arg-type]
        try:
            listener = self._listen()
        except psycopg.Error as error:
            raise ChannelUnavailable(str(error)) from error
        self._reader = threading.Thread(target=self._run, args=(listener,), daemon=True, name="live-postgres")
        self._reader.start()

    def _connect(self, name: str) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True, application_name=name, connect_timeout=5)

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        """A publishing connection from the pool; a broken one is dropped, and the failure
        reaches the caller as ChannelUnavailable."""
        if not self._slots.acquire(timeout=10):
            raise ChannelUnavailable("no PostgreSQL connection free")
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._connect(PUBLISHER)
            yield conn
        except BaseException as error:
            if conn is not None:
                conn.close()
            if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)):
                raise ChannelUnavailable(str(error)) from error
            raise
        else:
            if self._stop.is_set():
                conn.close()
            else:
                self._idle.put(conn)
        finally:
            self._slots.release()

    def _drain(self) -> None:
        """Close the idle connections (after a reconnection they may be dead), and have the
        publisher's reopened before its next batch."""
        self._stale = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    def publish(self, topic: str, event: LiveEvent) -> int:
        return self._submit(topic, to_json(event))

    def close(self, topic: str) -> None:
        self._submit(topic, None)

    def _submit(self, topic: str, data: str | None) -> int:
        try:
            return self._batcher.submit((topic, data))
        except RuntimeError as error:  # shut down: to the caller, as if the server were gone
            raise ChannelUnavailable(str(error)) from error

    def _send(self, batch: list[tuple[str, str | None]]) -> list[int | Exception]:
        """The writer task: ``batch`` (a close's data is None) in one statement, one round trip.
        A connection failure fails the whole batch; the next one reconnects."""
        topics, datas = [topic for topic, _ in batch], [data for _, data in batch]
        with self._publishing:
            if self._closed:
                raise ChannelUnavailable("the live channel is shut down")
            try:
                if self._publisher is None or self._stale:
                    if self._publisher is not None:
                        self._publisher.close()
                    self._stale, self._publisher = False, None
                    self._publisher = self._connect(PUBLISHER)
                rows = self._publisher.execute(self._sql["publish"], {
                    "topics": topics, "datas": datas, "keep": self.keep, "channel": self.schema,
                    "room": NOTIFY_ROOM}, prepare=True).fetchall()
            except (psycopg.OperationalError, psycopg.InterfaceError) as error:
                if self._publisher is not None:
                    self._publisher.close()
                    self._publisher = None
                raise ChannelUnavailable(str(error)) from error
        return [seq or 0 for seq, _ in rows]  # a close has no seq

    def subscribe(self, topic: str, on_event: Callable[[Delivery], None], after: int | None = 0) -> Unsubscribe:
        """Join first (the reader buffers this subscription's notices), read the table, then
        deliver the replay and the buffer above it: nothing missed, nothing twice."""
        with self._lock:
            sub = _Sub(on_event, after, self._epoch)
            self._subs.setdefault(topic, []).append(sub)
        try:
            while True:
                with self._connection() as conn:
                    read = self._read(conn, topic, sub.last)
                with self._lock:
                    if not sub.active:
                        break
                    if sub.epoch != self._epoch:  # the listener reconnected meanwhile: read again
                        sub.epoch, sub.buffer = self._epoch, []
                        continue
                    self._catch_up(topic, sub, read, resume=False)
                    break
        except ChannelUnavailable:
            with self._lock:
                self._drop(topic, sub)
            raise

        def unsubscribe() -> None:
            with self._lock:
                self._drop(topic, sub)
        return unsubscribe

    def ping(self) -> None:
        with self._connection() as conn:  # ChannelUnavailable if it cannot connect
            conn.execute("SELECT 1")

    def shutdown(self) -> None:
        self._stop.set()
        self._batcher.shutdown()
        with self._publishing:  # the batch being sent, if any, goes out first
            self._closed = True
            if self._publisher is not None:
                self._publisher.close()
        try:  # wake the reader from notifies() (an empty notice: no topic, every reader skips it)
            with self._connection() as conn:
                conn.execute("SELECT pg_notify(%s, '')", (self.schema,))
        except ChannelUnavailable:
            pass
        if self._reader is not threading.current_thread():
            self._reader.join(timeout=5)
        with self._lock:
            self._subs.clear()
        self._drain()

    def cleanup(self) -> None:
        """Forget closed topics past ``retention`` and idle ones, except those followed here."""
        with self._lock:
            followed = list(self._subs)
        with self._connection() as conn:
            if followed:
                conn.execute(self._sql["touch"], (followed,))
            conn.execute(self._sql["expire"], {"retention": self.retention, "idle": max(self.retention, IDLE)})

    def _read(self, conn: psycopg.Connection, topic: str, after: int | None) -> _Read:
        rows = conn.execute(self._sql["read"], {"topic": topic, "after": after}, prepare=True).fetchall()
        if not rows:
            return 0, False, []
        return rows[0][0], rows[0][1], [Event(seq, from_json(data)) for _, _, seq, data in rows if seq is not None]

    def _drop(self, topic: str, sub: _Sub) -> None:
        sub.active = False
        subs = self._subs.get(topic, [])
        if sub in subs:
            subs.remove(sub)
            if not subs:
                del self._subs[topic]

    def _give(self, topic: str, sub: _Sub, item: Event | Delivery) -> None:
        """Under the lock: one notice to one live subscription, once and in order."""
        if item is CLOSED:
            deliver(sub.on_event, CLOSED)
            self._drop(topic, sub)
        elif isinstance(item, Event) and item.seq > sub.last:  # type: ignore[operator]
            sub.last = item.seq
            deliver(sub.on_event, item if item.data is not None else GAP)  # data None: lost

    def _catch_up(self, topic: str, sub: _Sub, read: _Read, resume: bool) -> None:
        """Under the lock: what was read from the table, then the buffer, then live. On
        resuming after a reconnection, a hole in what the table still holds is a GAP."""
        last_seq, closed, events = read
        if sub.last is None or sub.last > last_seq:  # from now, or the topic's counter went back
            if resume and sub.last:
                deliver(sub.on_event, GAP)
            sub.last = last_seq
        newer = [e for e in events if e.seq > sub.last]
        if resume and (newer[0].seq if newer else last_seq + 1) > sub.last + 1:
            deliver(sub.on_event, GAP)
        buffered, sub.buffer = sub.buffer or [], None
        for item in [*newer, *buffered, *([CLOSED] if closed else [])]:
            if sub.active:
                self._give(topic, sub, item)

    def _listen(self) -> psycopg.Connection:
        conn = self._connect(LISTENER)
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.schema)))
            started = conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]  # type: ignore[index]
            if self._started is not None:
                self._resume(conn, restarted=started != self._started)
            self._started = started
        except BaseException:
            conn.close()
            raise
        return conn

    def _resume(self, conn: psycopg.Connection, restarted: bool) -> None:
        """Listening again: replay each followed topic from the table after what was delivered;
        after a server restart (unlogged tables may be empty) say GAP instead."""
        self._drain()
        with self._lock:
            self._epoch += 1  # subscriptions still catching up read again
            for sub in [s for subs in self._subs.values() for s in subs] if restarted else []:
                deliver(sub.on_event, GAP)
                sub.last = None
            live = {t: [s for s in subs if s.buffer is None] for t, subs in self._subs.items()}
        for topic, subs in live.items():
            if subs:
                read = self._read(conn, topic, None if restarted else min(s.last or 0 for s in subs))
                with self._lock:
                    for sub in subs:
                        if sub.active:
                            self._catch_up(topic, sub, read, resume=True)

    def _dispatch(self, conn: psycopg.Connection, payload: str) -> None:
        topic, _, rest = payload.partition("\t")
        with self._lock:
            if topic not in self._subs:
                return
        item: Event | Delivery = CLOSED
        if rest != "closed":
            seq_text, _, data = rest.partition("\t")
            if not data:  # too large for the notice
                row = conn.execute(self._sql["fetch"], (topic, int(seq_text)), prepare=True).fetchone()
                data = row[0] if row else ""  # already trimmed: lost, a GAP
            item = Event(int(seq_text), from_json(data) if data else None)  # type: ignore[arg-type]
        with self._lock:
            for sub in list(self._subs.get(topic, ())):
                if sub.buffer is not None:
                    sub.buffer.append(item)
                else:
                    self._give(topic, sub, item)

    def _run(self, conn: psycopg.Connection | None) -> None:
        """The reader: dispatch notifications, sweep now and then, and reconnect with backoff
        when the connection fails, never dying."""
        backoff, down, next_cleanup = 0.1, False, time.monotonic() + CLEANUP_EVERY
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = self._listen()
                    log.info("live channel: listening on PostgreSQL again")
                    backoff, down = 0.1, False
                for notice in list(conn.notifies(timeout=1.0, stop_after=1)):
                    self._dispatch(conn, notice.payload)
                if time.monotonic() >= next_cleanup:
                    next_cleanup = time.monotonic() + CLEANUP_EVERY
                    try:  # on a publishing connection: its failure is not the listener's
                        self.cleanup()
                    except (ChannelUnavailable, psycopg.Error) as error:
                        log.warning("live channel: cleanup failed (%s)", error)
            except Exception as error:  # noqa: BLE001 - the reader must outlive any failure
                if not down:
                    log.warning("live channel: PostgreSQL connection lost (%s); reconnecting", error)
                    down = True
                if conn is not None:
                    conn.close()
                    conn = None
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)
        if conn is not None:
            conn.close()
