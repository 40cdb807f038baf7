"""How many live connections (chat sockets, reply event streams) this process holds, and
its cap: past it a new one is refused at once (503, Retry-After) rather than left hanging
at gunicorn's own connection cap, and room stays for ordinary requests and health checks."""
from __future__ import annotations

import threading

from flask import current_app


class OpenStreams:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        """Take a place for a new stream; False if the process is full."""
        with self._lock:
            if self.open >= self.limit:
                return False
            self.open += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.open -= 1


def open_streams() -> OpenStreams:
    return current_app.extensions["chatbot.streams"]
