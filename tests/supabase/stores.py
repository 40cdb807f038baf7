"""The Supabase adapter seen as one store, for the store contract tests: each call goes
through the store bound to its owner's own access token, as in the app, where every
request carries its user's token; the crash-recovery calls go to the housekeeping client.

Works against the loopback stand-in and against a real project alike: users are made with
the secret key (confirmed, whatever the project's email settings) and deleted at the end,
taking their rows with them."""
from __future__ import annotations

from datetime import datetime, timezone

from supabase import Client, ClientOptions

from chatbot.store import User
from chatbot.supabase_backend import SupabaseProject
from chatbot.supabase_backend.accounts import SupabaseAccounts

PASSWORD = "contract password"


class SupabaseStores:
    def __init__(self, url: str, publishable_key: str, secret_key: str) -> None:
        self.project = SupabaseProject(url, publishable_key, secret_key)
        self.accounts = SupabaseAccounts(self.project)
        self.housekeeping = self.project.housekeeping()
        self.shared_chats = self.project.shared_chats()
        self.admin = Client(url, secret_key, ClientOptions(httpx_client=self.project.http, auto_refresh_token=False,
                                                           persist_session=False)).auth.admin
        self.stores = {}

    def add_user(self, email: str, password_hash: str) -> User:
        """A user at Supabase Auth, signed in (the hash is the SQL stores' business)."""
        self.admin.create_user({"email": email, "password": PASSWORD, "email_confirm": True})
        signed_in = self.accounts.log_in(email, PASSWORD)
        self.stores[signed_in.user_id] = self.project.for_user(signed_in.credentials)[0]
        return User(signed_in.user_id, email, "", datetime.now(timezone.utc))

    def delete_users(self) -> None:
        for user_id in self.stores:
            self.admin.delete_user(user_id)

    def shared(self, token: str):
        """A share link's snapshot, read as anyone (anon), as the app reads it."""
        return self.shared_chats.shared(token)

    def renew_lease(self, worker: str, seconds: float) -> None:
        self.housekeeping.renew_lease(worker, seconds)

    def end_lease(self, worker: str) -> None:
        self.housekeeping.end_lease(worker)

    def sweep_replies(self, reason: str) -> int:
        return self.housekeeping.sweep_replies(reason)

    def __getattr__(self, name: str):
        def as_owner(owner_id: str, *args, **kwargs):
            return getattr(self.stores[owner_id], name)(owner_id, *args, **kwargs)
        return as_owner
