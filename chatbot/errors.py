"""Errors that services raise and views turn into responses."""
from __future__ import annotations


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
