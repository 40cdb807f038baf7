"""The Supabase migrations' Row Level Security, proved on a real PostgreSQL.

The database is shaped like a Supabase project's (tests/supabase/standin.sql: the API roles,
auth.uid() from request.jwt.claims, the storage schema), then the project's migrations run.
Every check runs on PostgreSQL 15 (the machine's own server) and on 17, the version hosted
Supabase runs (a throwaway server from tests/postgres17.py).
Each check runs as PostgREST runs a request: inside a transaction, ``set local role`` to the
request's role and its JWT claims in ``request.jwt.claims``. For every table and every
operation, the owner can; another signed-in user and the anon role cannot. (Session records
are the server's: their owner may only list them, never seeing the token hashes or data,
and end them. A profile, role and standing, its owner may only read; settings, invitations
and the directory's functions are the server's alone. A send's client id is its sender's
own: another user's finds, blocks and reveals nothing.)
"""
from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import psycopg
import pytest
from psycopg.errors import InsufficientPrivilege, NoDataFound, UniqueViolation

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
def acting(db, user: str | None, commit: bool = False):
    """A transaction as PostgREST would run it for ``user`` (None: the anon role).
    Rolled back at the end, so every check starts from the same data (unless ``commit``:
    for what another connection is to see)."""
    with db.transaction(force_rollback=not commit):
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
        preset = db.execute("insert into presets (name, system_prompt, model) values ('Ada''s', 'secret', 'm') "
                            "returning id").fetchone()[0]
        folder = db.execute("insert into folders (name) values ('Ada''s') returning id").fetchone()[0]
    yield {"chats": chat, "messages": message, "attachments": attachment, "objects": key, "presets": preset,
           "folders": folder}
    db.execute("delete from chats where id = %s", (chat,))  # cascades to messages and attachments
    db.execute("delete from presets where id = %s", (preset,))
    db.execute("delete from folders where id = %s", (folder,))
    db.execute("delete from storage.objects where name = %s", (key,))


TABLES = {"chats": "id", "messages": "id", "attachments": "id", "presets": "id", "folders": "id"}


def visible(db, table, row_id):
    if table == "objects":
        return db.execute("select count(*) from storage.objects where name = %s", (row_id,)).fetchone()[0]
    return db.execute(f"select count(*) from {table} where id = %s", (row_id,)).fetchone()[0]


UPDATES = {
    "chats": "update chats set title = 'changed' where id = %s",
    "messages": "update messages set content = 'changed' where id = %s",
    "attachments": "update attachments set name = 'changed.txt' where id = %s",
    "objects": "update storage.objects set metadata = '{}' where name = %s",
    "presets": "update presets set system_prompt = 'changed' where id = %s",
    "folders": "update folders set name = 'changed' where id = %s",
}
DELETES = {
    "chats": "delete from chats where id = %s",
    "messages": "delete from messages where id = %s",
    "attachments": "delete from attachments where id = %s",
    "objects": "delete from storage.objects where name = %s",
    "presets": "delete from presets where id = %s",
    "folders": "delete from folders where id = %s",
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
        preset = db.execute("insert into presets (name, model, parameters) values ('Mine', 'm', '{\"top_p\": 0.5}') "
                            "returning owner_id").fetchone()
        assert str(preset[0]) == ADA


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
    "a preset owned by Ada": ("insert into presets (owner_id, name, model) values (%(ada)s, 'x', 'm')", {}),
    "a folder owned by Ada": ("insert into folders (owner_id, name) values (%(ada)s, 'x')", {}),
    "a chat of Bob's in Ada's folder": ("insert into chats (title, model, folder_id) values ('x', 'm', %(folders)s)", {}),
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
    "update presets set owner_id = %(ada)s where id = %(bob_preset)s",
    "update chats set folder_id = %(ada_folder)s where id = %(bob_chat)s",
])
def test_a_user_cannot_move_own_rows_into_the_owners_data(db, ada_data, move):
    with acting(db, BOB):
        bob_chat = db.execute("insert into chats (title, model) values ('Bob''s', 'm') returning id").fetchone()[0]
        bob_message = db.execute("insert into messages (chat_id, role, status, seq) values (%s, 'user', "
                                 "'complete', 1) returning id", (bob_chat,)).fetchone()[0]
        bob_preset = db.execute("insert into presets (name, model) values ('Bob''s', 'm') returning id").fetchone()[0]
        with pytest.raises(InsufficientPrivilege):
            with db.transaction():
                db.execute(move, {"ada": ADA, "ada_chat": ada_data["chats"], "bob_chat": bob_chat,
                                  "bob_message": bob_message, "bob_preset": bob_preset,
                                  "ada_folder": ada_data["folders"]})


def test_anon_cannot_create_anything(db):
    with pytest.raises(InsufficientPrivilege):
        with acting(db, None):
            db.execute("insert into chats (owner_id, title, model) values (%s, 'x', 'm')", (ADA,))
    with pytest.raises(InsufficientPrivilege):
        with acting(db, None):
            db.execute("insert into storage.objects (bucket_id, name) values ('attachments', %s)", (f"{ADA}/x",))


# Tables users may not do everything with: the server's own bookkeeping, where no user has
# any business, and session records, which users may list and end but only the server makes.
LIMITED_POLICIES = {"reply_leases": set(), "sessions": {"SELECT", "DELETE"}, "profiles": {"SELECT"},
                    "app_settings": set(), "invitations": set(), "message_words": {"SELECT"},
                    "shares": {"SELECT", "INSERT", "DELETE"}}  # a snapshot is never changed


def test_every_table_has_rls_and_a_policy_per_operation(db):
    tables = db.execute("select tablename, rowsecurity from pg_tables where schemaname = 'public'").fetchall()
    assert tables and all(rls for _, rls in tables), tables
    for table, _ in tables:
        commands = {row[0] for row in db.execute(
            "select cmd from pg_policies where schemaname = 'public' and tablename = %s", (table,))}
        assert commands == LIMITED_POLICIES.get(table, {"SELECT", "INSERT", "UPDATE", "DELETE"}), table


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


# Session records (server-side sessions): their token hashes and data (which holds the
# user's Supabase refresh token) are the server's alone; a user lists and ends their own.

SESSION_COLUMNS = "id, user_id, created_at, last_seen_at, expires_at, remember, user_agent, address"


@pytest.fixture
def sessions(db):
    """A running session each for Ada and Bob, made as the server makes them."""
    made = {}
    with db.transaction():
        db.execute("set local role service_role")
        for name, user in (("ada", ADA), ("bob", BOB)):
            made[name] = str(db.execute(
                "select id from create_session(%s, %s, %s, 3600, 86400, false, 'Firefox', '192.0.2.7')",
                (f"hash-{uuid.uuid4()}", user, '{"credentials": "secret"}')).fetchone()[0])
    yield made
    db.execute("delete from sessions where id = any(%s)", (list(made.values()),))


def test_a_user_lists_only_their_own_sessions(db, sessions):
    with acting(db, ADA):
        rows = db.execute(f"select {SESSION_COLUMNS} from sessions").fetchall()
        assert [(str(row[0]), str(row[1])) for row in rows] == [(sessions["ada"], ADA)]


@pytest.mark.parametrize("statement", [
    "select * from sessions",
    "select token_hash from sessions",
    "select data from sessions",
    "select absolute_at from sessions",
    "select id from sessions where token_hash like 'hash-%%'",  # no probing by the hidden columns either
    "select id from sessions where data <> ''",
    "delete from sessions where id = %(ada)s returning data",
])
def test_a_user_never_reads_a_sessions_token_hash_or_data(db, sessions, statement):
    with pytest.raises(InsufficientPrivilege):
        with acting(db, ADA):
            db.execute(statement, sessions)


@pytest.mark.parametrize("statement", [
    "insert into sessions (token_hash, user_id, expires_at, absolute_at) "
    "values ('planted', %(ada_user)s, now() + interval '1 day', now() + interval '1 day')",
    "update sessions set expires_at = now() + interval '1 year' where id = %(ada)s",
    "update sessions set user_agent = 'changed' where id = %(ada)s",
])
def test_a_user_can_neither_create_nor_change_sessions(db, sessions, statement):
    with pytest.raises(InsufficientPrivilege):
        with acting(db, ADA):
            db.execute(statement, {**sessions, "ada_user": ADA})


def test_a_user_ends_their_own_session_and_no_one_elses(db, sessions):
    with acting(db, ADA):
        assert db.execute("delete from sessions where id = %s", (sessions["bob"],)).rowcount == 0
        assert db.execute("delete from sessions where user_id = %s", (BOB,)).rowcount == 0
        assert db.execute("delete from sessions where id = %s", (sessions["ada"],)).rowcount == 1
    assert db.execute("select count(*) from sessions where id = %s", (sessions["bob"],)).fetchone() == (1,)


@pytest.mark.parametrize("statement", [
    f"select {SESSION_COLUMNS} from sessions",
    "delete from sessions where id = %(ada)s",
    "insert into sessions (token_hash, user_id, expires_at, absolute_at) "
    "values ('planted', %(ada_user)s, now() + interval '1 day', now() + interval '1 day')",
])
def test_anon_can_do_nothing_with_sessions(db, sessions, statement):
    with pytest.raises(InsufficientPrivilege):
        with acting(db, None):
            db.execute(statement, {**sessions, "ada_user": ADA})


@pytest.mark.parametrize("user", [ADA, None], ids=["a user", "anon"])
@pytest.mark.parametrize("statement", [
    "select * from create_session('planted', %(user)s, '', 3600, 86400, true, 'x', 'x')",
    "select * from find_session('hash')",
    "select touch_session('hash', 86400, null)",
    "select * from delete_session('hash')",
    "select * from user_sessions(%(user)s)",
])
def test_users_cannot_call_the_servers_session_functions(db, sessions, user, statement):
    with pytest.raises(InsufficientPrivilege):
        with acting(db, user):
            db.execute(statement, {"user": ADA})


# The directory: a user reads their own profile (the app checks role and standing with the
# user's own token) and changes nothing of it; settings, invitations and the directory's
# functions are the server's (the secret key's) alone.

@contextmanager
def serving(db):
    """A transaction as the server's secret key runs one (service_role), rolled back."""
    with db.transaction(force_rollback=True):
        db.execute("set local role service_role")
        yield db


def test_every_new_user_gets_a_profile(db):
    profiles = db.execute("select user_id::text, role, status from profiles where user_id = any(%s::uuid[])"
                          " order by user_id", ([ADA, BOB],)).fetchall()
    assert profiles == sorted([(ADA, "user", "active"), (BOB, "user", "active")])


def test_a_new_users_standing_follows_the_sign_up_policy(db):
    """Whoever makes the user (Supabase Auth's open sign-up included): active only while
    sign-up is open, by the policy an admin chose, else the configured default."""
    def standing_of_a_new_user():
        user = str(uuid.uuid4())
        db.execute("insert into auth.users (id, email) values (%s, %s)", (user, f"{user}@example.com"))
        return db.execute("select status from profiles where user_id = %s", (user,)).fetchone()[0]

    with db.transaction(force_rollback=True):
        db.execute("insert into app_settings values ('signup_policy_default', 'approval')")
        assert standing_of_a_new_user() == "pending"
        db.execute("insert into app_settings values ('signup_policy', 'open')")
        assert standing_of_a_new_user() == "active"
        db.execute("update app_settings set value = 'invite' where name = 'signup_policy'")
        assert standing_of_a_new_user() == "pending"


def test_a_user_reads_only_their_own_profile(db):
    with acting(db, ADA):
        assert db.execute("select user_id::text, role, status from profiles").fetchall() == [(ADA, "user", "active")]


@pytest.mark.parametrize("statement", [
    "update profiles set role = 'admin' where user_id = %(ada)s",
    "update profiles set status = 'active' where user_id = %(ada)s",
    "insert into profiles (user_id, role) values (%(stranger)s, 'admin')",
    "delete from profiles where user_id = %(ada)s",
])
def test_a_user_cannot_change_any_profile_their_own_included(db, statement):
    with pytest.raises(InsufficientPrivilege):
        with acting(db, ADA):
            db.execute(statement, {"ada": ADA, "stranger": str(uuid.uuid4())})


def test_anon_cannot_read_profiles(db):
    with pytest.raises(InsufficientPrivilege):
        with acting(db, None):
            db.execute("select * from profiles")


@pytest.mark.parametrize("user", [ADA, None], ids=["a user", "anon"])
@pytest.mark.parametrize("statement", [
    "select * from app_settings",
    "insert into app_settings values ('signup_policy', 'open')",
    "update app_settings set value = 'open' where name = 'signup_policy'",
    "select * from invitations",
    "insert into invitations (token_hash, expires_at) values ('planted', now() + interval '1 day')",
    "update invitations set used_at = null where true",
    "delete from invitations where true",
])
def test_users_can_neither_see_nor_touch_settings_or_invitations(db, user, statement):
    with pytest.raises(InsufficientPrivilege):
        with acting(db, user):
            db.execute(statement)


@pytest.mark.parametrize("user", [ADA, None], ids=["a user", "anon"])
@pytest.mark.parametrize("statement", [
    "select * from list_members('', 50, 0, null)",
    "select * from member_usage(%(user)s, 30)",
    "select * from member_model_usage(%(user)s, current_date)",
    "select claim_first_admin(%(user)s)",
    "select save_setting('signup_policy', 'open')",
    "select * from add_invitation('hash', %(user)s, 3600)",
    "select * from running_invitations()",
    "select invitation_valid('hash')",
    "select use_invitation('hash', %(user)s)",
    "select create_profile()",
])
def test_users_cannot_call_the_directorys_functions(db, user, statement):
    with pytest.raises(InsufficientPrivilege):
        with acting(db, user):
            db.execute(statement, {"user": ADA})


def test_the_server_lists_members_and_claims_the_first_admin_once(db):
    with serving(db):
        members = db.execute("select id::text, email, role, status from list_members('', 50, 0, null)").fetchall()
        assert {(m[0], m[1]) for m in members} >= {(ADA, f"{ADA}@example.com"), (BOB, f"{BOB}@example.com")}
        assert db.execute("select claim_first_admin(%s)", (ADA,)).fetchone() == (True,)
        assert db.execute("select claim_first_admin(%s)", (BOB,)).fetchone() == (False,)
        assert db.execute("select role from profiles where user_id = %s", (ADA,)).fetchone() == ("admin",)


def test_an_invitation_is_used_once(db):
    with serving(db):
        db.execute("select * from add_invitation('one-use', %s, 3600)", (ADA,))
        db.execute("select * from add_invitation('expired', %s, -1)", (ADA,))
        assert db.execute("select invitation_valid('one-use'), invitation_valid('expired')").fetchone() == (True, False)
        assert db.execute("select use_invitation('expired', %s)", (BOB,)).fetchone() == (False,)
        assert db.execute("select use_invitation('one-use', %s)", (BOB,)).fetchone() == (True,)
        assert db.execute("select use_invitation('one-use', %s)", (BOB,)).fetchone() == (False,)
        assert db.execute("select count(*) from running_invitations()").fetchone() == (0,)


# Client ids (idempotent sends, append_turn): a repeat is found among the caller's own
# messages alone, so another user's client id or chat yields nothing of theirs, and two
# sends with one id at once make one turn.

def send(db, chat: str, client_id: str | None, content: str = "hi") -> list[tuple]:
    """append_turn as PostgREST calls it: (repeated, message id, chat id, content) per row."""
    return db.execute("select t.repeated, (t.message).id::text, (t.message).chat_id::text, (t.message).content"
                      " from append_turn(%s, %s, 'm', 'w', %s) t", (chat, content, client_id)).fetchall()


def chat_messages(db, chat: str) -> list[tuple]:
    """The chat's (id, content, client id), as ``db`` acts (outside ``acting``: the database's
    owner, past RLS)."""
    return db.execute("select id::text, content, client_id from messages where chat_id = %s order by seq",
                      (chat,)).fetchall()


@pytest.fixture
def ada_chats(db):
    """Two chats of Ada's, committed (for other connections to see), deleted afterwards."""
    with acting(db, ADA, commit=True):
        chats = [str(db.execute("insert into chats (title, model) values ('Ada''s', 'm') returning id").fetchone()[0])
                 for _ in range(2)]
    yield chats
    db.execute("delete from chats where id = any(%s::uuid[])", (chats,))


@pytest.fixture
def ada_turn(db, ada_chats):
    """A turn Ada sent with a client id: its chat, client id and rows."""
    client_id = str(uuid.uuid4())
    with acting(db, ADA, commit=True):
        rows = send(db, ada_chats[0], client_id, "Ada's secret question")
    return {"chat": ada_chats[0], "client_id": client_id, "rows": rows}


def test_the_owner_repeating_a_send_gets_its_turn_and_stores_nothing(db, ada_turn):
    assert [row[0] for row in ada_turn["rows"]] == [False, False]
    with acting(db, ADA):
        again = send(db, ada_turn["chat"], ada_turn["client_id"], "a different text, same send")
        assert again == [(True, *row[1:]) for row in ada_turn["rows"]]
        assert len(chat_messages(db, ada_turn["chat"])) == 2


def test_another_users_client_id_makes_their_own_turn_and_reveals_nothing(db, ada_turn):
    with acting(db, BOB):
        bob_chat = str(db.execute("insert into chats (title, model) values ('Bob''s', 'm') returning id").fetchone()[0])
        rows = send(db, bob_chat, ada_turn["client_id"], "Bob's question")
        assert [(repeated, chat, content) for repeated, _, chat, content in rows] == \
            [(False, bob_chat, "Bob's question"), (False, bob_chat, "")]
        assert {row[1] for row in rows}.isdisjoint(row[1] for row in ada_turn["rows"])
    assert [row[1] for row in chat_messages(db, ada_turn["chat"])] == ["Ada's secret question", ""]


@pytest.mark.parametrize("client_id", ["ada's", "new", None])
def test_another_users_chat_is_not_found_whatever_the_client_id(db, ada_turn, client_id):
    client_id = {"ada's": ada_turn["client_id"], "new": str(uuid.uuid4())}.get(client_id)
    with pytest.raises(NoDataFound):
        with acting(db, BOB):
            send(db, ada_turn["chat"], client_id, "injected")
    assert [row[1] for row in chat_messages(db, ada_turn["chat"])] == ["Ada's secret question", ""]


def test_a_user_can_neither_find_nor_change_messages_by_another_users_client_id(db, ada_turn):
    with acting(db, BOB):
        assert db.execute("select count(*) from messages where client_id = %s",
                          (ada_turn["client_id"],)).fetchone() == (0,)
        assert db.execute("update messages set client_id = null where client_id = %s",
                          (ada_turn["client_id"],)).rowcount == 0
    assert chat_messages(db, ada_turn["chat"])[0][2] == ada_turn["client_id"]


@pytest.mark.parametrize("client_id", ["ada's", "new"])
def test_a_user_cannot_probe_for_another_users_client_ids_with_an_upsert(db, ada_turn, client_id):
    """An insert in Ada's name that would do nothing on a conflict is refused the same
    whether Ada has the id or not: RLS checks the row before the index is asked."""
    client_id = ada_turn["client_id"] if client_id == "ada's" else str(uuid.uuid4())
    with pytest.raises(InsufficientPrivilege):
        with acting(db, BOB):
            bob_chat = db.execute("insert into chats (title, model) values ('Bob''s', 'm') returning id").fetchone()[0]
            db.execute("insert into messages (chat_id, owner_id, role, status, seq, client_id)"
                       " values (%s, %s, 'user', 'complete', 1, %s) on conflict (owner_id, client_id) do nothing",
                       (bob_chat, ADA, client_id))


def test_anon_cannot_send(db, ada_turn):
    with pytest.raises(InsufficientPrivilege):
        with acting(db, None):
            send(db, ada_turn["chat"], ada_turn["client_id"])


@contextmanager
def two_connections(db):
    """Two more connections to the database, for sends that race (autocommit: each
    ``acting`` block is its own transaction)."""
    with psycopg.connect(db.info.dsn, autocommit=True) as first, \
            psycopg.connect(db.info.dsn, autocommit=True) as second:
        yield first, second


def wait_until_blocked(db, connection) -> None:
    """Until ``connection``'s statement waits for a lock another transaction holds."""
    for _ in range(500):
        waiting = db.execute("select wait_event_type from pg_stat_activity where pid = %s",
                             (connection.info.backend_pid,)).fetchone()[0]
        if waiting == "Lock":
            return
        time.sleep(0.01)
    raise AssertionError("the second send never waited for the first")


def test_two_sends_with_one_client_id_at_once_make_one_turn(db, ada_chats):
    """The second waits for the first, then answers the first's turn (repeated)."""
    client_id = str(uuid.uuid4())
    with two_connections(db) as (first, second), ThreadPoolExecutor(1) as pool:
        with acting(first, ADA, commit=True):
            winner = send(first, ada_chats[0], client_id, "sent twice at once")
            loser = pool.submit(lambda: _sent_as(second, ADA, ada_chats[0], client_id))
            wait_until_blocked(db, second)
        assert loser.result(timeout=10) == [(True, *row[1:]) for row in winner]
    assert len(chat_messages(db, ada_chats[0])) == 2


@pytest.mark.parametrize("first_commits", [True, False], ids=["first commits", "first rolls back"])
def test_the_unique_index_decides_between_sends_into_two_chats(db, ada_chats, first_commits):
    """Sends with one client id into two chats do not queue on one chat's lock: the index
    makes the second wait, then refuses it if the first was stored, and lets it be if not.
    Never the other chat's turn as this chat's."""
    client_id = str(uuid.uuid4())
    with two_connections(db) as (first, second), ThreadPoolExecutor(1) as pool:
        with acting(first, ADA, commit=True):
            send(first, ada_chats[0], client_id, "into the first chat")
            racing = pool.submit(lambda: _sent_as(second, ADA, ada_chats[1], client_id))
            wait_until_blocked(db, second)
            if not first_commits:
                raise psycopg.Rollback()  # rolled back (psycopg's transaction block takes the exception)
        if first_commits:
            with pytest.raises(UniqueViolation):
                racing.result(timeout=10)
            assert chat_messages(db, ada_chats[1]) == []
        else:
            assert [row[0] for row in racing.result(timeout=10)] == [False, False]
            assert chat_messages(db, ada_chats[0]) == []
            assert [row[2] for row in chat_messages(db, ada_chats[1])] == [client_id, None]


def _sent_as(connection, user: str, chat: str, client_id: str) -> list[tuple]:
    with acting(connection, user, commit=True):
        return send(connection, chat, client_id)


def test_the_attachments_bucket_is_private(db):
    assert db.execute("select public from storage.buckets where id = 'attachments'").fetchone() == (False,)


def test_each_server_runs_its_postgresql_version(db, request):
    # So that a server silently standing in for another cannot pass as PostgreSQL 17.
    version = int(db.execute("show server_version_num").fetchone()[0]) // 10000
    assert str(version) == request.node.callspec.params["db"]


# The message tree (chat_path, add_reply_version, show_version, append_turn's edit_of): a
# user walks, extends and switches only their own chats' trees.

def test_another_user_can_neither_read_nor_grow_nor_switch_a_chats_tree(db, ada_turn):
    chat = ada_turn["chat"]
    question, reply = (row[1] for row in ada_turn["rows"])
    with acting(db, ADA, commit=True):
        db.execute("update messages set status = 'complete', worker = null where id = %s", (reply,))
        assert [r[0] for r in db.execute("select (message).id::text from chat_path(%s)", (chat,))] == [question, reply]
    leaf = db.execute("select current_leaf::text from chats where id = %s", (chat,)).fetchone()[0]
    with acting(db, BOB):
        assert db.execute("select count(*) from chat_path(%s)", (chat,)).fetchone() == (0,)
        assert db.execute("select show_version(%s, %s, -1)", (chat, reply)).fetchone() == (None,)
    for call, arguments in [("select * from add_reply_version(%s, %s, 'm', 'w')", (chat, reply)),
                            ("select * from append_turn(%s, 'injected', 'm', 'w', null, %s)", (chat, question))]:
        with pytest.raises(NoDataFound):
            with acting(db, BOB):
                db.execute(call, arguments)
    assert [row[1] for row in chat_messages(db, chat)] == ["Ada's secret question", ""]
    assert db.execute("select current_leaf::text from chats where id = %s", (chat,)).fetchone()[0] == leaf == reply


# Search (search_chats): as the caller, through RLS; a user finds only their own words.

def test_search_finds_only_the_callers_own_chats_and_messages(db, ada_data):
    search = "select chat_id::text, message_id::text, snippet from search_chats(%s, '[', ']')"
    with acting(db, ADA):
        found = db.execute(search, ("'secret'",)).fetchall()
        assert found == [(str(ada_data["chats"]), str(ada_data["messages"]), "[secret]")]
        assert db.execute(search, ("'ada':*",)).fetchall() == [(str(ada_data["chats"]), None, "[Ada]'s")]
    with acting(db, BOB):
        assert db.execute(search, ("'secret'",)).fetchall() == []
        assert db.execute(search, ("'ada':*",)).fetchall() == []
    with pytest.raises(InsufficientPrivilege):
        with acting(db, None):
            db.execute(search, ("'secret'",))


def test_message_words_are_read_by_their_owner_only_and_written_by_no_user(db, ada_data):
    with acting(db, ADA):
        assert db.execute("select count(*) from message_words where message_id = %s",
                          (ada_data["messages"],)).fetchone() == (1,)
    with acting(db, BOB):
        assert db.execute("select count(*) from message_words").fetchone() == (0,)
    for user, statement in [(BOB, "insert into message_words values (%(m)s, %(ada)s, now(), 'x')"),
                            (ADA, "update message_words set words = 'x' where message_id = %(m)s"),
                            (ADA, "delete from message_words where message_id = %(m)s"),
                            (ADA, "select index_message_words()"),
                            (None, "select * from message_words")]:
        with pytest.raises(InsufficientPrivilege):
            with acting(db, user):
                db.execute(statement, {"m": ada_data["messages"], "ada": ADA})


# Share links: the owner makes, lists and revokes theirs; anyone with a token reads that one
# snapshot through shared_chat, and nothing else (no other share, no chat, no owner).

def _share(db, user, chat, token, snapshot='[{"content": "shared words"}]'):
    with acting(db, user, commit=True):
        return db.execute("insert into shares (chat_id, token, title, with_files, message_count, messages) "
                          "values (%s, %s, 'Shared', false, 1, %s) returning id", (chat, token, snapshot)).fetchone()[0]


@pytest.fixture
def ada_share(db, ada_data):
    token = uuid.uuid4().hex
    share = _share(db, ADA, ada_data["chats"], token)
    yield {"id": share, "token": token}
    db.execute("delete from shares where id = %s", (share,))


@pytest.mark.parametrize("user", [ADA, BOB, None], ids=["the owner", "another user", "anon"])
def test_a_share_token_gives_its_snapshot_to_anyone_and_nothing_more(db, ada_share, ada_data, user):
    with acting(db, user):
        rows = db.execute("select * from shared_chat(%s)", (ada_share["token"],)).fetchall()
        assert len(rows) == 1 and rows[0][6] == [{"content": "shared words"}]
        columns = [column.name for column in db.execute("select * from shared_chat(%s)", ("x",)).description]
        assert "owner_id" not in columns
        assert db.execute("select * from shared_chat(%s)", (ada_share["token"][:-1],)).fetchall() == []
        assert db.execute("select * from shared_chat(%s)", ("%",)).fetchall() == []  # no pattern matching
        if user == BOB:  # the chat behind it stays its owner's (anon may not even ask)
            assert db.execute("select count(*) from messages where chat_id = %s", (ada_data["chats"],)).fetchone()[0] == 0


@pytest.mark.parametrize("user", [BOB, None], ids=["another user", "anon"])
def test_only_the_owner_lists_and_revokes_a_share(db, ada_share, user):
    with acting(db, user):
        if user is None:
            with pytest.raises(InsufficientPrivilege):
                db.execute("select * from shares")
        else:
            assert db.execute("select count(*) from shares where id = %s", (ada_share["id"],)).fetchone()[0] == 0
            assert db.execute("delete from shares where id = %s", (ada_share["id"],)).rowcount == 0
    with acting(db, ADA):
        assert db.execute("select count(*) from shares where id = %s", (ada_share["id"],)).fetchone()[0] == 1
        assert db.execute("delete from shares where id = %s", (ada_share["id"],)).rowcount == 1
        assert db.execute("select * from shared_chat(%s)", (ada_share["token"],)).fetchall() == []  # revoked: gone


def test_no_one_changes_a_snapshot_its_owner_included(db, ada_share):
    with pytest.raises(InsufficientPrivilege):
        with acting(db, ADA):
            db.execute("update shares set messages = '[]' where id = %s", (ada_share["id"],))


def test_a_user_cannot_share_another_users_chat(db, ada_data):
    with pytest.raises(InsufficientPrivilege):
        _share(db, BOB, ada_data["chats"], uuid.uuid4().hex)
    with pytest.raises(InsufficientPrivilege):
        with acting(db, BOB):
            db.execute("insert into shares (owner_id, chat_id, token, title, with_files, message_count, messages) "
                       "values (%s, %s, 'x', 'x', false, 0, '[]')", (ADA, ada_data["chats"]))


def test_import_chats_writes_only_as_its_caller(db):
    chat = {"key": "chatgpt:1", "title": "Imported", "model": "m", "created_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z", "current_leaf": "b", "messages": [
                {"id": "a", "parent_id": None, "role": "user", "content": "hi", "status": "complete",
                 "created_at": "2025-01-01T00:00:00Z", "attachments": []},
                {"id": "b", "parent_id": "a", "role": "assistant", "content": "hello", "status": "complete",
                 "created_at": "2025-01-01T00:00:00Z", "attachments": []}]}
    with acting(db, BOB):
        [(key, chat_id, new)] = db.execute("select * from import_chats(%s)", (json.dumps([chat]),)).fetchall()
        assert (key, new) == ("chatgpt:1", True)
        assert db.execute("select owner_id from chats where id = %s", (chat_id,)).fetchone()[0] == uuid.UUID(BOB)
        assert db.execute("select count(*) from messages where chat_id = %s and owner_id = %s",
                          (chat_id, BOB)).fetchone()[0] == 2
        # A file of someone else's cannot ride in on an import.
        stolen = {**chat, "key": "chatgpt:2", "messages": [{**chat["messages"][0], "attachments": [
            {"storage_key": f"{ADA}/{uuid.uuid4()}", "name": "x", "content_type": "text/plain", "size": 1}]}]}
        with pytest.raises(InsufficientPrivilege):
            db.execute("select * from import_chats(%s)", (json.dumps([stolen]),))
    with pytest.raises(InsufficientPrivilege):
        with acting(db, None):
            db.execute("select * from import_chats(%s)", (json.dumps([chat]),))
