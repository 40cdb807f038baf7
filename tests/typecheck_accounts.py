"""Checked by mypy (tests/test_types.py), never run: each implementation fits its contract."""
from chatbot.accounts import Accounts, LocalAccounts
from chatbot.accounts.directory import Directory
from chatbot.accounts.redissessions import RedisSessions
from chatbot.accounts.sessions import Sessions
from chatbot.accounts.sqldirectory import SQLDirectory
from chatbot.accounts.sqlsessions import SQLSessions
from chatbot.supabase_backend.sessions import SupabaseSessions


def session_stores(sql: SQLSessions, redis: RedisSessions, supabase: SupabaseSessions) -> list[Sessions]:
    return [sql, redis, supabase]


def directories(sql: SQLDirectory) -> list[Directory]:
    return [sql]


def accounts(local: LocalAccounts) -> list[Accounts]:
    return [local]
