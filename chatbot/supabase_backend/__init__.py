"""The Supabase backend: Supabase Auth for accounts, its REST API (PostgREST, with Row Level
Security) for chats and messages, and its Storage for attachment files.

Whose token each call carries:
- A user's requests run with that user's own access token, through a client made for the
  request (``SupabaseProject.user_client``) and never shared with another user. Clients are
  cheap because they share one ``httpx.Client`` and its connection pool.
- The reply task, which outlives its request, writes with the client of the request that
  started it, so RLS still applies to it. That token is valid long enough: sessions are
  refreshed once less than ``REFRESH_MARGIN`` is left (``chatbot.accounts``), well beyond any
  reply. A reply that still outlived it would fail its final write and be marked
  interrupted (partial text kept) by the next sweep, never written as someone else.
- A share link's snapshot is read as anon (``shared_chat`` gives one snapshot by its token),
  and the files of a link that includes them are read with the secret key.
- The secret key serves only the server's own work across users: renewing the leases of its
  processes, marking the replies of a dead one interrupted, keeping the server-side
  session records (which hold each browser's Supabase refresh token, so no user may read
  them back), and the operator's directory (the admin pages, and the standing the app's
  own sign-up gives a new account). It is never sent to a page and never logged.
- A user's role and standing are read with that user's own token (``profiles``).
"""
from __future__ import annotations

import httpx
from supabase import Client, ClientOptions
from supabase.lib.client_options import DEFAULT_HEADERS
from supabase_auth import SyncMemoryStorage

from ..accounts import Credentials
from .directory import SupabaseDirectory
from .files import SupabaseFiles
from .profiles import Profiles
from .sessions import SupabaseSessions
from .store import SupabaseHousekeeping, SupabaseSharedChats, SupabaseStore


class SupabaseProject:
    """The project's address and keys, and the one connection pool all its clients share."""

    def __init__(self, url: str, publishable_key: str, secret_key: str, timeout: float = 15.0) -> None:
        self.url = url
        self._publishable_key = publishable_key
        self._secret_key = secret_key
        self.http = httpx.Client(timeout=httpx.Timeout(timeout, connect=5.0),
                                 limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
        # Roles and standings read lately, shared by the accounts (which read them) and the
        # directory (which forgets those it changes).
        self.profiles = Profiles()

    def __repr__(self) -> str:  # never the keys
        return f"SupabaseProject({self.url!r})"

    def user_client(self, access_token: str | None = None, storage: SyncMemoryStorage | None = None) -> Client:
        """A client acting as the user whose access token it carries (as anon without one)."""
        headers = {**DEFAULT_HEADERS, **({"Authorization": f"Bearer {access_token}"} if access_token else {})}
        return Client(self.url, self._publishable_key, ClientOptions(
            headers=headers, httpx_client=self.http, auto_refresh_token=False, persist_session=False,
            storage=storage or SyncMemoryStorage(), flow_type="pkce"))

    def for_user(self, credentials: Credentials) -> tuple[SupabaseStore, SupabaseFiles]:
        client = self.user_client(credentials.access_token)
        return SupabaseStore(client, credentials.user_id), SupabaseFiles(client)

    def shared_chats(self) -> SupabaseSharedChats:
        """Share links' snapshots, read as anon: what anyone with a link may see."""
        return SupabaseSharedChats(self.user_client())

    def shared_files(self) -> SupabaseFiles:
        """The files of share links that include them, read with the secret key: their owner
        granted them to whoever has the link, and the link's reader may have no account.
        Only for an attachment the link's snapshot holds (``chatbot.shares``)."""
        return SupabaseFiles(self._service_client())

    def housekeeping(self) -> SupabaseHousekeeping:
        return SupabaseHousekeeping(self._service_client())

    def sessions(self) -> SupabaseSessions:
        """Session records, kept with the secret key."""
        return SupabaseSessions(self._service_client())

    def directory(self) -> SupabaseDirectory:
        """The operator's directory, kept with the secret key."""
        return SupabaseDirectory(self._service_client(), self.profiles)

    def _service_client(self) -> Client:
        """A client with the secret key: the server itself, past RLS. Only for the above."""
        return Client(self.url, self._secret_key, ClientOptions(
            httpx_client=self.http, auto_refresh_token=False, persist_session=False))
