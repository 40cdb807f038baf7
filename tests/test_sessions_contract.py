"""The session-record contract, run against every place records can live: SQLite and
PostgreSQL (beside local accounts), Redis (SESSION_STORE=redis) and Supabase (its stand-in,
under RLS). Users here are real rows of each backend, since records belong to one."""
from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest

from chatbot.accounts.sessions import hash_token, new_token
from tests.conftest import require_service
from tests.databases import postgres_database, sql_store, supabase_database
from tests.redis_server import RedisServer

NO_POSTGRES = "PostgreSQL is not running on 127.0.0.1:5432"
DAY = 86400.0


class SQLBackend:
    def __init__(self, store) -> None:
        from chatbot.accounts.sqlsessions import SQLSessions

        self.store = store
        self.sessions = SQLSessions(store.engine)

    def new_user(self) -> str:
        return self.store.add_user(f"{uuid.uuid4().hex[:10]}@example.com", "hash").id


class RedisBackend:
    def __init__(self, url: str) -> None:
        from chatbot.accounts.redissessions import RedisSessions

        self.sessions = RedisSessions(url)

    def new_user(self) -> str:
        return str(uuid.uuid4())  # records in Redis name users of any backend


class SupabaseBackend:
    """The Supabase adapter against the loopback stand-in; users are real users of its Auth,
    made with the secret key (tests/supabase/stores.py), deleted at the end."""

    def __init__(self, stores) -> None:
        self.stores = stores
        self.sessions = stores.project.sessions()

    def new_user(self) -> str:
        return self.stores.add_user(f"{uuid.uuid4().hex[:10]}@example.com", "").id


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "redis", "supabase"])
def backend(request, tmp_path_factory):
    if request.param == "sqlite":
        yield SQLBackend(sql_store(f"sqlite:///{tmp_path_factory.mktemp('sessions') / 's.sqlite3'}",
                                   tmp_path_factory.mktemp("lock")))
    elif request.param == "postgresql":
        with postgres_database() as url:
            if url is None:
                require_service(NO_POSTGRES)
            store = sql_store(url, tmp_path_factory.mktemp("lock"))
            yield SQLBackend(store)
            store.engine.dispose()
    elif request.param == "redis":
        if not RedisServer.available():
            require_service("redis-server is not installed")
        with RedisServer() as server:
            yield RedisBackend(server.url)
    elif request.param == "supabase":
        from tests.supabase.server import SupabaseStandin
        from tests.supabase.stores import SupabaseStores

        with supabase_database() as url:
            if url is None:
                require_service(NO_POSTGRES)
            with SupabaseStandin(url) as standin:
                stores = SupabaseStores(standin.url, standin.project.publishable_key, standin.project.secret_key)
                yield SupabaseBackend(stores)
                stores.delete_users()


def start(backend, user_id, data=None, *, idle=3600.0, absolute=DAY, remember=False, agent="Firefox"):
    token = new_token()
    record = backend.sessions.create(hash_token(token), user_id, data or {"_user_id": user_id}, idle=idle,
                                     absolute=absolute, remember=remember, user_agent=agent, address="192.0.2.7")
    return token, record


def test_a_record_is_found_by_its_tokens_hash_with_its_data(backend):
    user = backend.new_user()
    data = {"_user_id": user, "_flashes": [("info", "Welcome ✨")], "bytes": b"\x00\x01"}
    token, record = start(backend, user, data, remember=True)
    loaded = backend.sessions.load(hash_token(token))
    assert loaded == record
    assert loaded.data == data and loaded.user_id == user and loaded.remember
    assert loaded.user_agent == "Firefox" and loaded.address == "192.0.2.7"
    assert backend.sessions.load(hash_token(new_token())) is None
    assert backend.sessions.load(token) is None  # the token itself is not the key


def test_saving_replaces_the_data_and_moves_the_idle_end(backend):
    user = backend.new_user()
    token, record = start(backend, user, idle=60)
    time.sleep(0.01)
    backend.sessions.save(hash_token(token), {"_user_id": user, "csrf_token": "abc"}, idle=600)
    loaded = backend.sessions.load(hash_token(token))
    assert loaded.data == {"_user_id": user, "csrf_token": "abc"}
    assert loaded.last_seen_at > record.last_seen_at
    assert loaded.expires_at - loaded.last_seen_at == pytest.approx(timedelta(seconds=600), abs=timedelta(seconds=1))
    backend.sessions.save(hash_token(token), None, idle=600)  # seen, data unchanged
    assert backend.sessions.load(hash_token(token)).data == loaded.data


def test_activity_never_moves_a_session_past_its_absolute_end(backend):
    user = backend.new_user()
    token, record = start(backend, user, idle=60, absolute=120)
    backend.sessions.save(hash_token(token), None, idle=DAY)
    loaded = backend.sessions.load(hash_token(token))
    assert loaded.expires_at <= record.created_at + timedelta(seconds=121)


def test_an_expired_record_is_never_returned_nor_revived(backend):
    user = backend.new_user()
    token, _ = start(backend, user, idle=0.5)
    assert backend.sessions.load(hash_token(token)) is not None
    time.sleep(0.7)
    assert backend.sessions.load(hash_token(token)) is None
    backend.sessions.save(hash_token(token), {"_user_id": user}, idle=DAY)
    assert backend.sessions.load(hash_token(token)) is None
    assert all(r.id != token for r in backend.sessions.user_sessions(user))


def test_ending_one_session(backend):
    user = backend.new_user()
    token, record = start(backend, user)
    other, _ = start(backend, user)
    assert backend.sessions.end(hash_token(token)) == record.id
    assert backend.sessions.load(hash_token(token)) is None
    assert backend.sessions.end(hash_token(token)) is None  # once
    assert backend.sessions.load(hash_token(other)) is not None


def test_records_expire_by_themselves(backend):
    """Nothing has to sweep: an expired record is gone or ignored, and signing in clears."""
    user = backend.new_user()
    token, _ = start(backend, user, idle=0.3)
    time.sleep(0.5)
    start(backend, backend.new_user())
    assert backend.sessions.user_sessions(user) == []
    assert backend.sessions.end(hash_token(token)) is None


def test_ending_all_of_a_users_sessions_but_one(backend):
    user, neighbour = backend.new_user(), backend.new_user()
    kept_token, kept = start(backend, user)
    tokens = [start(backend, user) for _ in range(3)]
    theirs, _ = start(backend, neighbour)
    ended = backend.sessions.end_user_sessions(user, keep=kept.id)
    assert sorted(ended) == sorted(record.id for _, record in tokens)
    assert all(backend.sessions.load(hash_token(t)) is None for t, _ in tokens)
    assert backend.sessions.load(hash_token(kept_token)) is not None
    assert backend.sessions.load(hash_token(theirs)) is not None
    assert backend.sessions.end_user_sessions(user) == [kept.id]
    assert backend.sessions.load(hash_token(kept_token)) is None


def test_listing_and_ending_a_session_by_its_public_id_within_its_owner(backend):
    user, stranger = backend.new_user(), backend.new_user()
    older_token, older = start(backend, user, agent="Older")
    time.sleep(0.01)
    newer_token, newer = start(backend, user, agent="Newer")
    assert [r.id for r in backend.sessions.user_sessions(user)] == [newer.id, older.id]
    assert backend.sessions.user_sessions(stranger) == []
    assert not backend.sessions.end_session(stranger, older.id)  # not theirs
    assert not backend.sessions.end_session(user, "not-an-id")
    assert backend.sessions.load(hash_token(older_token)) is not None
    assert backend.sessions.end_session(user, older.id)
    assert backend.sessions.load(hash_token(older_token)) is None
    assert [r.id for r in backend.sessions.user_sessions(user)] == [newer.id]
