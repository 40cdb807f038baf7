"""Checked by mypy (tests/test_types.py), never run: each implementation fits its contract."""
from chatbot.accounts import Accounts
from chatbot.accounts.local import LocalAccounts
from chatbot.accounts.directory import Directory
from chatbot.accounts.redissessions import RedisSessions
from chatbot.accounts.sessions import Sessions
from chatbot.accounts.sqldirectory import SQLDirectory
from chatbot.accounts.sqlsessions import SQLSessions
from chatbot.accounts.sessions import SignOutAtProvider
from chatbot.supabase_backend.accounts import SupabaseAccounts
from chatbot.supabase_backend.directory import SupabaseDirectory
from chatbot.supabase_backend.sessions import SupabaseSessions


def session_stores(sql: SQLSessions, redis: RedisSessions, supabase: SupabaseSessions,
                   signing_out: SignOutAtProvider) -> list[Sessions]:
    return [sql, redis, supabase, signing_out]


def directories(sql: SQLDirectory, supabase: SupabaseDirectory) -> list[Directory]:
    return [sql, supabase]


def accounts(local: LocalAccounts, supabase: SupabaseAccounts) -> list[Accounts]:
    return [local, supabase]
