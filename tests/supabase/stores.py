"""The Supabase adapter seen as one store, for the store contract tests: each call goes
through the store bound to its owner's own access token, as in the app, where every
request carries its user's token; the crash-recovery calls go to the housekeeping client."""
from __future__ import annotations

from datetime import datetime, timezone

from chatbot.store import User
from chatbot.supabase_backend import SupabaseProject
from chatbot.supabase_backend.accounts import SupabaseAccounts

from .server import SupabaseStandin


class SupabaseStores:
    def __init__(self, standin: SupabaseStandin) -> None:
        self.project = SupabaseProject(standin.url, standin.project.publishable_key, standin.project.secret_key)
        self.accounts = SupabaseAccounts(self.project)
        self.housekeeping = self.project.housekeeping()
        self.stores = {}

    def add_user(self, email: str, password_hash: str) -> User:
        """A user signed up at Supabase Auth (the hash is the SQL stores' business)."""
        signed_in = self.accounts.sign_up(email, "contract password", "http://127.0.0.1/")
        self.stores[signed_in.user_id] = self.project.for_user(signed_in.credentials)[0]
        return User(signed_in.user_id, email, "", datetime.now(timezone.utc))

    def streaming_workers(self) -> set[str]:
        return self.housekeeping.streaming_workers()

    def interrupt_replies(self, worker: str, reason: str) -> int:
        return self.housekeeping.interrupt_replies(worker, reason)

    def __getattr__(self, name: str):
        def as_owner(owner_id: str, *args, **kwargs):
            return getattr(self.stores[owner_id], name)(owner_id, *args, **kwargs)
        return as_owner
