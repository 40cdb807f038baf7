"""Refreshes of rotating Supabase refresh tokens, shared within the process.

A refresh token rotates when used. Requests of one session that find it due at the same
moment share one refresh, and the result stays on hand ``REFRESH_SHARED_FOR`` seconds for
any that come late. (Across processes, Supabase's own reuse interval, 10 s by default, does
the same.)
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from ..accounts import Credentials

REFRESH_SHARED_FOR = 30  # seconds


class SharedRefreshes:
    """One refresh at a time per refresh token in this process, its result shared."""

    def __init__(self, refresh: Callable[[str], Credentials]) -> None:
        self._refresh = refresh
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._done: dict[str, tuple[float, Credentials]] = {}

    def get(self, refresh_token: str) -> Credentials:
        with self._guard:
            self._forget_old()
            lock = self._locks.setdefault(refresh_token, threading.Lock())
        with lock:
            done = self._done.get(refresh_token)
            if done:
                return done[1]
            try:
                renewed = self._refresh(refresh_token)
            except Exception:
                with self._guard:
                    self._locks.pop(refresh_token, None)
                raise
            with self._guard:
                self._done[refresh_token] = (time.monotonic(), renewed)
            return renewed

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - REFRESH_SHARED_FOR
        for token in [t for t, (at, _) in self._done.items() if at < cutoff]:
            del self._done[token]
            self._locks.pop(token, None)
