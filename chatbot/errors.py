"""Errors that services raise and views turn into responses."""
from __future__ import annotations

import math


class InvalidInput(Exception):
    """Input a form should show next to ``field``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class NotFound(Exception):
    """No such thing for this user (which includes another user's things)."""


class Busy(Exception):
    """The chat is already generating a reply."""


class TooMany(Exception):
    """Over a limit: come back in ``retry_after`` seconds (a 429 with Retry-After)."""

    def __init__(self, retry_after: float, message: str = "") -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))
        self.message = message or f"Too many requests. Try again in {wait_words(self.retry_after)}."


def wait_words(seconds: float) -> str:
    """"5 seconds", "3 minutes": how long to wait, in words."""
    seconds = max(1, math.ceil(seconds))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"


class Unavailable(Exception):
    """A service we depend on (the database) cannot answer now: a 503 with Retry-After."""

    def __init__(self, message: str = "", retry_after: float = 5) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))
        self.message = message or (f"The server cannot reach its database just now. "
                                   f"Try again in {wait_words(self.retry_after)}.")
