"""Passwords nobody should choose: the 20,000 most common ones (the list Django ships; see
common-passwords.LICENSE.txt), looked up in memory, never over the network."""
from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

COMMON_PASSWORDS = Path(__file__).with_name("common-passwords.txt.gz")
TOO_COMMON = "This password is one of the most commonly used ones, so it is among the first an attacker tries. " \
             "Choose another."
LIKE_EMAIL = "Choose a password that is not your email address."


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines)


def weakness(password: str, email: str) -> str | None:
    """Why ``password`` is a poor choice for the account ``email`` (None if it is not)."""
    lowered = password.strip().lower()
    if lowered in _common():
        return TOO_COMMON
    if lowered in (email.lower(), email.lower().partition("@")[0]):
        return LIKE_EMAIL
    return None
