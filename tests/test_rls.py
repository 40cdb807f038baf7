"""The Supabase migrations' Row Level Security, proved on a real PostgreSQL.

The database is shaped like a Supabase project's (tests/supabase/standin.sql: the API roles,
auth.uid() from request.jwt.claims, the storage schema), then the project's migrations run.
Every check runs on PostgreSQL 15 (the machine's own server) and on 17, the version hosted
Supabase runs (a throwaway server from tests/postgres17.py).
Each check runs as PostgREST runs a request: inside a transaction, ``set local role`` to the
request's role and its JWT claims in ``request.jwt.claims``. For every table and every
operation, the owner can; another signed-in user and the anon role cannot.
"""
from __future__ import annotations

import json
import uuid
from contextlib import contextmanager

import psycopg
import pytest
from psycopg.errors import InsufficientPrivilege

from tests.conftest import require_service
from tests.databases import ADMIN_URL, supabase_database

ADA, BOB = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.fixture(scope="module", params=["15", "17"], ids=lambda version: f"pg{version}")
def db(request):
    admin_url = ADMIN_URL if request.param == "15" else request.getfixturevalue("postgres17_url")
    with supabase_database(admin_url) as url:
        if url is None:
            require_service("PostgreSQL is not running on 127.0.0.1:5432")
        with psycopg.connect(url, autocommit=True) as connection:
            for user in (ADA, BOB):
                connection.execute("insert into auth.users (id, email) values (%s, %s)", (user, f"{user}@example.com"))
            yield connection


@contextmanager
def acting(db, user: str | None):
    """A transaction as PostgREST would run it for ``user`` (None: the anon role).
    Rolled back at the end, so every check starts from the same data."""
    with db.transaction(force_rollback=True):
        claims = {"sub": user, "role": "authenticated"} if user else {"role": "anon"}
        db.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))
        db.execute("set local role authenticated" if user else "set local role anon")
        yield db


@pytest.fixture
def ada_data(db):
    """Ada's chat, message, attachment row and stored file (made as Ada, through RLS)."""
    with db.transaction():
        db.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": ADA}),))
        db.execute("set local role authenticated")
        chat = db.execute("insert into chats (title, model) values ('Ada''s', 'm') returning id").fetchone()[0]
        message = db.execute("insert into messages (chat_id, role, content, status, seq) "
                             "values (%s, 'user', 'secret', 'complete', 1) returning id", (chat,)).fetchone()[0]
        key = f"{ADA}/{uuid.uuid4()}"
        attachment = db.execute("insert into attachments (message_id, chat_id, storage_key, name, content_type, size) "
                                "values (%s, %s, %s, 'notes.txt', 'text/plain', 5) returning id",
                                (message, chat, key)).fetchone()[0]
        db.execute("insert into storage.objects (bucket_id, name) values ('attachments', %s)", (key,))
    yield {"chats": chat, "messages": message, "attachments": attachment, "objects": key}
    db.execute("delete from chats where id = %s", (chat,))  # cascades to messages and attachments
    db.execute("delete from storage.objects where name = %s", (key,))


TABLES = {"chats": "id", "messages": "id", "attachments": "id"}


def visible(db, table, row_id):
    if table == "objects":
        return db.execute("select count(*) from storage.objects where name = %s", (row_id,)).fetchone()[0]
    return db.execute(f"select count(*) from {table} where id = %s", (row_id,)).fetchone()[0]


UPDATES = {
    "chats": "update chats set title = 'changed' where id = %s",
    "messages": "update messages set content = 'changed' where id = %s",
    "attachments": "update attachments set name = 'changed.txt' where id = %s",
    "objects": "update storage.objects set metadata = '{}' where name = %s",
}
DELETES = {
    "chats": "delete from chats where id = %s",
    "messages": "delete from messages where id = %s",
    "attachments": "delete from attachments where id = %s",
    "objects": "delete from storage.objects where name = %s",
}
TARGETS = list(UPDATES)


@pytest.mark.parametrize("table", TARGETS)
def test_the_owner_reads_updates_and_deletes(db, ada_data, table):
    with acting(db, ADA):
        assert visible(db, table, ada_data[table]) == 1
        assert db.execute(UPDATES[table], (ada_data[table],)).rowcount == 1
        assert db.execute(DELETES[table], (ada_data[table],)).rowcount == 1


@pytest.mark.parametrize("table", TARGETS)
def test_another_user_cannot_read_update_or_delete(db, ada_data, table):
    with acting(db, BOB):
        assert visible(db, table, ada_data[table]) == 0
        assert db.execute(UPDATES[table], (ada_data[table],)).rowcount == 0
        assert db.execute(DELETES[table], (ada_data[table],)).rowcount == 0
    with acting(db, ADA):
        assert visible(db, table, ada_data[table]) == 1  # still there, unchanged below
    if table == "chats":
        assert db.execute("select title from chats where id = %s", (ada_data["chats"],)).fetchone()[0] == "Ada's"


@pytest.mark.parametrize("table", TARGETS)
@pytest.mark.parametrize("statement", ["select", "update", "delete"])
def test_anon_can_do_nothing(db, ada_data, table, statement):
    with pytest.raises(InsufficientPrivilege) if table != "objects" else _no_rows():
        with acting(db, None):
            if statement == "select":
                assert visible(db, table, ada_data[table]) == 0
            else:
                query = UPDATES[table] if statement == "update" else DELETES[table]
                assert db.execute(query, (ada_data[table],)).rowcount == 0


@contextmanager
def _no_rows():
    # storage.objects is granted to anon (as on Supabase): there RLS alone refuses it, so
    # anon sees and changes no rows rather than being denied the table.
    yield


def test_the_owner_creates_rows_and_files(db):
    with acting(db, ADA):
        chat = db.execute("insert into chats (title, model) values ('New', 'm') returning owner_id, id").fetchone()
        assert str(chat[0]) == ADA  # owner_id defaults to the caller
        message = db.execute("insert into messages (chat_id, role, status, seq) values (%s, 'assistant', "
                             "'streaming', 1) returning id", (chat[1],)).fetchone()[0]
        db.execute("insert into attachments (message_id, chat_id, storage_key, name, content_type, size) "
                   "values (%s, %s, %s, 'a.png', 'image/png', 10)", (message, chat[1], f"{ADA}/{uuid.uuid4()}"))
        db.execute("insert into storage.objects (bucket_id, name) values ('attachments', %s)", (f"{ADA}/file",))


INSERTS_FOR_ADA = {  # rows Bob must not be able to create in Ada's name or in Ada's data
    "a chat owned by Ada": ("insert into chats (owner_id, title, model) values (%(ada)s, 'x', 'm')", {}),
    "a message in Ada's chat": ("insert into messages (chat_id, role, status, seq) "
                                "values (%(chats)s, 'user', 'complete', 99)", {}),
    "a message owned by Ada": ("insert into messages (chat_id, owner_id, role, status, seq) "
                               "values (%(chats)s, %(ada)s, 'user', 'complete', 99)", {}),
    "an attachment on Ada's message": (
        "insert into attachments (message_id, chat_id, storage_key, name, content_type, size) "
        "values (%(messages)s, %(chats)s, %(bob_key)s, 'x', 'text/plain', 1)", {}),
    "an attachment on Bob's message filed in Ada's chat": (
        "insert into attachments (message_id, chat_id, storage_key, name, content_type, size) "
        "values (%(bob_message)s, %(chats)s, %(bob_key)s, 'x', 'text/plain', 1)", {}),
    "an attachment filed under Ada's folder": (
        "insert into attachments (message_id, chat_id, storage_key, name, content_type, size) "
        "values (%(bob_message)s, %(bob_chat)s, %(ada_key)s, 'x', 'text/plain', 1)", {}),
    "a file in Ada's folder": ("insert into storage.objects (bucket_id, name) values ('attachments', %(ada_key)s)", {}),
    "a file in another bucket": ("insert into storage.objects (bucket_id, name) values ('avatars', %(bob_key)s)", {}),
}


@pytest.mark.parametrize("what", list(INSERTS_FOR_ADA))
def test_another_user_cannot_create_rows_in_the_owners_name(db, ada_data, what):
    with db.transaction():
        db.execute("insert into storage.buckets (id, name) values ('avatars', 'avatars') on conflict do nothing")
    with acting(db, BOB):
        bob_chat = db.execute("insert into chats (title, model) values ('Bob''s', 'm') returning id").fetchone()[0]
        bob_message = db.execute("insert into messages (chat_id, role, status, seq) values (%s, 'user', "
                                 "'complete', 1) returning id", (bob_chat,)).fetchone()[0]
        values = {**ada_data, "ada": ADA, "bob_message": bob_message, "bob_chat": bob_chat,
                  "ada_key": f"{ADA}/{uuid.uuid4()}", "bob_key": f"{BOB}/{uuid.uuid4()}"}
        with pytest.raises(InsufficientPrivilege):
            with db.transaction():
                db.execute(INSERTS_FOR_ADA[what][0], values)


@pytest.mark.parametrize("move", [
    "update chats set owner_id = %(ada)s where id = %(bob_chat)s",
    "update messages set chat_id = %(ada_chat)s where id = %(bob_message)s",
    "update messages set owner_id = %(ada)s where id = %(bob_message)s",
])
def test_a_user_cannot_move_own_rows_into_the_owners_data(db, ada_data, move):
    with acting(db, BOB):
        bob_chat = db.execute("insert into chats (title, model) values ('Bob''s', 'm') returning id").fetchone()[0]
        bob_message = db.execute("insert into messages (chat_id, role, status, seq) values (%s, 'user', "
                                 "'complete', 1) returning id", (bob_chat,)).fetchone()[0]
        with pytest.raises(InsufficientPrivilege):
            with db.transaction():
                db.execute(move, {"ada": ADA, "ada_chat": ada_data["chats"], "bob_chat": bob_chat,
                                  "bob_message": bob_message})


def test_anon_cannot_create_anything(db):
    with pytest.raises(InsufficientPrivilege):
        with acting(db, None):
            db.execute("insert into chats (owner_id, title, model) values (%s, 'x', 'm')", (ADA,))
    with pytest.raises(InsufficientPrivilege):
        with acting(db, None):
            db.execute("insert into storage.objects (bucket_id, name) values ('attachments', %s)", (f"{ADA}/x",))


SERVER_ONLY = {"reply_leases"}  # the server's own bookkeeping: no user has any business there


def test_every_table_has_rls_and_a_policy_per_operation(db):
    tables = db.execute("select tablename, rowsecurity from pg_tables where schemaname = 'public'").fetchall()
    assert tables and all(rls for _, rls in tables), tables
    for table, _ in tables:
        commands = {row[0] for row in db.execute(
            "select cmd from pg_policies where schemaname = 'public' and tablename = %s", (table,))}
        assert commands == (set() if table in SERVER_ONLY else {"SELECT", "INSERT", "UPDATE", "DELETE"}), table


@pytest.mark.parametrize("user", [ADA, None], ids=["a user", "anon"])
@pytest.mark.parametrize("statement", [
    "select * from reply_leases",
    "insert into reply_leases values ('w', now() + interval '1 hour')",
    "select renew_lease('w', 60)",
    "select sweep_replies('swept by a user')",
])
def test_users_can_neither_see_nor_touch_the_servers_leases(db, user, statement):
    with pytest.raises(InsufficientPrivilege):
        with acting(db, user):
            db.execute(statement)


def test_the_attachments_bucket_is_private(db):
    assert db.execute("select public from storage.buckets where id = 'attachments'").fetchone() == (False,)


def test_each_server_runs_its_postgresql_version(db, request):
    # So that a server silently standing in for another cannot pass as PostgreSQL 17.
    version = int(db.execute("show server_version_num").fetchone()[0]) // 10000
    assert str(version) == request.node.callspec.params["db"]
