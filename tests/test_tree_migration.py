"""Existing chats survive the message tree's migration whole, on SQLite, PostgreSQL and
Supabase: each becomes one branch (each message's parent the one before it, the chat's
leaf its last message), shown and continued as before."""
import json
import uuid
from datetime import datetime, timezone

import psycopg
import pytest
from alembic import command
from alembic.config import Config

from chatbot.database import MIGRATIONS, make_engine, migrate
from chatbot.sqlstore import SQLStore, chats, messages, users
from tests.conftest import require_service
from tests.databases import SUPABASE_MIGRATIONS, postgres_database, supabase_database

TREE_MIGRATION = "20261128000000_message_tree.sql"


def _upgrade(engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.sqlite3'}"
        return
    with postgres_database() as url:
        if url is None:
            require_service("PostgreSQL is not running on 127.0.0.1:5432")
        yield url


def test_sql_chats_from_before_become_one_branch(database_url, tmp_path):
    engine = make_engine(database_url)
    _upgrade(engine, "0007")  # the schema before the tree
    owner, chat = str(uuid.uuid4()), str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in range(5)]
    stamp = datetime(2026, 11, 1, tzinfo=timezone.utc)
    with engine.begin() as db:
        db.execute(users.insert().values(id=owner, email="old@example.com", password_hash="h", created_at=stamp))
        db.execute(chats.insert().values(id=chat, owner_id=owner, title="Old", model="m", system_prompt="",
                                         created_at=stamp, updated_at=stamp))
        for seq, message_id in enumerate(ids, start=1):
            db.execute(messages.insert().values(
                id=message_id, chat_id=chat, owner_id=owner, role="user" if seq % 2 else "assistant",
                content=f"message {seq}", status="complete", created_at=stamp, seq=seq))
    migrate(engine, str(tmp_path))
    store = SQLStore(engine)
    shown = store.messages(owner, chat)
    assert [m.id for m in shown] == ids and [m.content for m in shown] == [f"message {n}" for n in range(1, 6)]
    assert [m.parent_id for m in shown] == [None, *ids[:-1]] and {(m.version, m.versions) for m in shown} == {(1, 1)}
    assert store.chat(owner, chat).current_leaf == ids[-1]
    turn = store.add_turn(owner, chat, "and now?", "m", "w")
    assert turn.question.parent_id == ids[-1] and [m.id for m in store.messages(owner, chat)][:5] == ids
    engine.dispose()


def test_supabase_chats_from_before_become_one_branch():
    with supabase_database(until=TREE_MIGRATION) as url:
        if url is None:
            require_service("PostgreSQL is not running on 127.0.0.1:5432")
        with psycopg.connect(url, autocommit=True) as db:
            owner = str(uuid.uuid4())
            db.execute("insert into auth.users (id, email) values (%s, 'old@example.com')", (owner,))
            chat = db.execute("insert into chats (owner_id, title, model) values (%s, 'Old', 'm') returning id",
                              (owner,)).fetchone()[0]
            ids = [db.execute("insert into messages (chat_id, owner_id, role, content, status, seq) "
                              "values (%s, %s, %s, %s, 'complete', %s) returning id",
                              (chat, owner, "user" if seq % 2 else "assistant", f"message {seq}", seq)).fetchone()[0]
                   for seq in range(1, 6)]
            db.execute((SUPABASE_MIGRATIONS / TREE_MIGRATION).read_text())
            with db.transaction(force_rollback=True):  # as the owner, through RLS, as the app reads it
                db.execute("select set_config('request.jwt.claims', %s, true)",
                           (json.dumps({"sub": owner, "role": "authenticated"}),))
                db.execute("set local role authenticated")
                rows = db.execute("select (message).id, (message).parent_id, version, versions "
                                  "from chat_path(%s)", (chat,)).fetchall()
            assert [r[0] for r in rows] == ids and [r[1] for r in rows] == [None, *ids[:-1]]
            assert {(r[2], r[3]) for r in rows} == {(1, 1)}
            assert db.execute("select current_leaf from chats where id = %s", (chat,)).fetchone()[0] == ids[-1]
