"""How many live connections (chat sockets, reply event streams) this process holds, and
its cap: past it a new one is refused at once (503, Retry-After) rather than left hanging
at gunicorn's own connection cap, and room stays for ordinary requests and health checks."""
from __future__ import annotations

import threading
import weakref

from flask import current_app


class OpenStreams:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self._lock = threading.Lock()
        # The process is stopping (a deploy): open sockets are told to go (their pages
        # reconnect to another instance and catch up) and no new one is taken.
        self.draining = threading.Event()
        self._leaving: weakref.WeakSet = weakref.WeakSet()  # what each open socket waits on: told to go

    def follow(self, feed) -> None:
        """``feed`` (an open socket's) is told ("draining",) when the process starts to stop."""
        self._leaving.add(feed)
        if self.draining.is_set():
            feed.put("draining")

    def drain(self) -> None:
        self.draining.set()
        for feed in list(self._leaving):
            feed.put("draining")

    def enter(self) -> bool:
        """Take a place for a new stream; False if the process is full."""
        with self._lock:
            if self.open >= self.limit or self.draining.is_set():
                return False
            self.open += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.open -= 1


def open_streams() -> OpenStreams:
    return current_app.extensions["chatbot.streams"]
