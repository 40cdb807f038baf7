"""Rate limits: Flask-Limiter for requests (log-in, sign-up, password reset), and the same
limiter's storage for what the views count by hand (sends over HTTP and the socket alike,
socket commands), plus the open-socket slots of each user.

The counts live in Redis when ``REDIS_URL`` is set, so every worker and instance shares one
limit; in memory otherwise (one process: the embedded default). If Redis cannot be reached,
limits fall back to each process's memory rather than refuse everyone.

A refusal is ``TooMany``, with the seconds to wait; views answer 429 with ``Retry-After``
and a page or fragment that says when to try again."""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque

from flask import Flask, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import RateLimitItem, parse_many

from ..errors import TooMany, wait_words
from ..settings import RateLimitSettings, Settings
from ..signin import client_address

log = logging.getLogger("chatbot.limits")


limiter = Limiter(key_func=client_address, key_prefix="chatbot", strategy="moving-window", headers_enabled=True,
                  swallow_errors=True, in_memory_fallback_enabled=True)


def init_app(app: Flask, settings: Settings) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", settings.redis_url or "memory://")
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 2, "socket_timeout": 2}
                          if settings.redis_url else {})
    limiter.init_app(app)
    app.extensions["chatbot.limits"] = RateLimits(settings.limits, settings.redis_url)


def rate_limits() -> RateLimits:
    return current_app.extensions["chatbot.limits"]


# What a refused request was, in words, by endpoint.
_LIMITED = {"auth.login": "log-in attempts", "auth.signup": "sign-ups from your network",
            "auth.forgot": "password-reset requests from your network"}


def refusal(error: RateLimitExceeded) -> TooMany:
    """A request over one of Flask-Limiter's limits, as the app's TooMany: how long until
    the limit lets it through again, and what was refused, in words."""
    current = limiter.current_limit
    wait = (current.reset_at - time.time()) if current else 60.0
    what = _LIMITED.get(request.endpoint or "", "requests")
    return TooMany(wait, f"Too many {what}. Try again in {wait_words(wait)}.")


class RateLimits:
    """The limits that views check themselves, by user rather than by address, on every
    message: in Redis through the limiter's storage when there is one, else in this
    process's memory (``LocalWindows``)."""

    def __init__(self, settings: RateLimitSettings, redis_url: str | None) -> None:
        self.settings = settings
        self._sends = parse_many(settings.sends_per_user)
        self._commands = parse_many(settings.socket_commands)
        self.local = None if redis_url else LocalWindows()
        self.sockets = RedisSlots(redis_url) if redis_url else MemorySlots()

    def sent(self, user_id: str) -> None:
        """Count a message sent (or a reply regenerated); TooMany once over the limit."""
        self._hit(self._sends, "sends", user_id, "You are sending messages faster than this site allows. "
                                                  "Try again in {wait}.")

    def socket_command(self, user_id: str) -> None:
        self._hit(self._commands, "commands", user_id, "Slow down: try again in {wait}.")

    def _hit(self, rates: list[RateLimitItem], name: str, user_id: str, message: str) -> None:
        wait = self.local.hit(rates, name, user_id) if self.local else self._shared_hit(rates, name, user_id)
        if wait is not None:
            raise TooMany(wait, message.format(wait=wait_words(wait)))

    @staticmethod
    def _shared_hit(rates: list[RateLimitItem], name: str, user_id: str) -> float | None:
        strategy = limiter.limiter
        try:
            for rate in rates:
                if not strategy.hit(rate, name, user_id):
                    return strategy.get_window_stats(rate, name, user_id).reset_time - time.time()
        except Exception as error:  # noqa: BLE001 - storage away: let the user through, say so in the log
            log.warning("rate limit storage unavailable, %s not counted: %s", name, error)
        return None


class LocalWindows:
    """Moving windows in this process's memory, for the limits hit on every message.

    (limits' own memory storage expires its keys from a timer thread started every 10 ms
    while there are hits, walking every key each time: measured, that cost more CPU per
    message than the rest of a send. Here a key's old hits go when the key is next hit.)"""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, rates: list[RateLimitItem], *identifiers: str) -> float | None:
        """Count a hit against every rate, or none if one is full: then the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            windows = []
            for rate in rates:
                hits = self._hits.setdefault(rate.key_for(*identifiers), deque())
                window = rate.get_expiry()
                while hits and hits[0] <= now - window:
                    hits.popleft()
                if len(hits) >= rate.amount:
                    return hits[0] + window - now
                windows.append(hits)
            for hits in windows:
                hits.append(now)
        return None


class MemorySlots:
    """Open sockets per user, in this process."""

    def __init__(self) -> None:
        self._held: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def take(self, user_id: str, limit: int) -> str | None:
        """A slot for a new socket (its id), or None when the user has ``limit`` open."""
        with self._lock:
            held = self._held.setdefault(user_id, set())
            if len(held) >= limit:
                return None
            slot = str(uuid.uuid4())
            held.add(slot)
            return slot

    def renew(self, user_id: str, slot: str) -> None:
        pass  # a process's own memory never outlives its sockets

    def give_back(self, user_id: str, slot: str) -> None:
        with self._lock:
            self._held.get(user_id, set()).discard(slot)


# KEYS: the user's slots. ARGV: now, lease, limit, slot. Slots of sockets whose process died
# run out with their lease (renewed on every keep-alive), so a crash never locks a user out.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])))
return 1
"""


class RedisSlots:
    """Open sockets per user, across every worker and instance."""

    LEASE = 90.0  # seconds; sockets renew theirs on each keep-alive (every 20 s)

    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self._take = self.redis.register_script(_TAKE)

    def take(self, user_id: str, limit: int) -> str | None:
        slot = str(uuid.uuid4())
        try:
            taken = self._take(keys=[self._key(user_id)], args=[time.time(), self.LEASE, limit, slot])
        except Exception as error:  # noqa: BLE001 - Redis away: the socket opens, uncounted
            log.warning("socket slots unavailable: %s", error)
            return slot
        return slot if taken else None

    def renew(self, user_id: str, slot: str) -> None:
        try:
            self.redis.zadd(self._key(user_id), {slot: time.time() + self.LEASE}, xx=True)
        except Exception as error:  # noqa: BLE001
            log.warning("socket slot not renewed: %s", error)

    def give_back(self, user_id: str, slot: str) -> None:
        try:
            self.redis.zrem(self._key(user_id), slot)
        except Exception as error:  # noqa: BLE001
            log.warning("socket slot not given back: %s", error)

    @staticmethod
    def _key(user_id: str) -> str:
        return f"chatbot:sockets:{user_id}"
