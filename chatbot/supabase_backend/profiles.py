"""Each account's role and standing (``public.profiles``), as the app checks them on every
request: read with the user's own access token (RLS lets a user read their own profile and
nothing else, and change none of it), never with the secret key.

Every request asks, so the answer is kept in this process for ``PROFILE_TTL`` seconds:
otherwise each page view would wait on one more round trip to Supabase. What that costs:
- Nothing when an admin turns an account away: disabling ends the account's sessions
  (``accounts.administration``), so its next request is signed out whatever is kept here.
- Nothing for changes made in this process: the directory forgets the account's entry
  whenever it changes a profile, so the next request reads it again.
- A change made by another process (another instance, the dashboard) counts there within
  ``PROFILE_TTL`` seconds: a new admin may see the admin pages a few seconds late, a
  removed admin keep them a few seconds longer.
Only role and standing are kept, never a token.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, cast

from postgrest.exceptions import APIError
from supabase import Client

from ..accounts.directory import ACTIVE

PROFILE_TTL = 5.0  # seconds
_PRUNE_AT = 10_000  # entries; beyond this, expired ones are dropped as new ones come
_READ_OUTLIVES = 60.0  # seconds: longer than any read takes (the HTTP timeout is 15 s)


@dataclass(frozen=True)
class Profile:
    role: str
    status: str

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


class NotReadable(Exception):
    """Supabase would not take the user's token (expired, revoked): no answer either way."""


class Profiles:
    def __init__(self, ttl: float = PROFILE_TTL) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._known: dict[str, tuple[float, Profile | None]] = {}
        self._changed: dict[str, float] = {}  # when each account's profile last changed here

    def get(self, user_id: str, user_client: Callable[[], Client], fresh: bool = False) -> Profile | None:
        """The profile of ``user_id``, read with ``user_client()`` (made only if needed: a
        client with the user's own token), or the one read in the last ``ttl`` seconds unless
        ``fresh``; None if it has none."""
        if not fresh:
            with self._lock:
                known = self._known.get(user_id)
            if known and time.monotonic() - known[0] < self.ttl:
                return known[1]
        started = time.monotonic()
        try:
            rows = cast("list[dict[str, Any]]", user_client().table("profiles").select("role,status")
                        .eq("user_id", user_id).execute().data)
        except APIError as error:
            if str(error.code).startswith("PGRST3"):  # PostgREST's JWT errors (expired, invalid)
                raise NotReadable(error.code) from None  # nothing learnt, nothing kept
            raise
        profile = Profile(rows[0]["role"], rows[0]["status"]) if rows else None
        self._keep(user_id, profile, started)
        return profile

    def forget(self, user_id: str) -> None:
        """The profile changed: read it again next time."""
        with self._lock:
            self._known.pop(user_id, None)
            self._changed[user_id] = time.monotonic()

    def _keep(self, user_id: str, profile: Profile | None, started: float) -> None:
        """Keep what was read, unless the profile changed here while it was being read."""
        now = time.monotonic()
        with self._lock:
            if self._changed.get(user_id, started - 1) >= started:
                return
            self._known[user_id] = (now, profile)
            if len(self._known) + len(self._changed) > _PRUNE_AT:
                for key in [k for k, (at, _) in self._known.items() if now - at >= self.ttl]:
                    del self._known[key]
                for key in [k for k, at in self._changed.items() if now - at >= _READ_OUTLIVES]:
                    del self._changed[key]
