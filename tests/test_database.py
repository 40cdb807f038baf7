"""Storage: SQLite in WAL mode, schema made and upgraded by versioned migrations."""
import uuid

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from chatbot import create_app
from chatbot.backends import backends
from chatbot.database import MIGRATIONS, make_engine, migrate
from tests.conftest import make_config, new_chat


def _head():
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def test_fresh_database_is_migrated_to_head_in_wal_mode(app):
    engine = backends(app).store.engine
    with engine.connect() as db:
        assert db.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == _head()
        assert db.execute(sa.text("PRAGMA journal_mode")).scalar_one() == "wal"
    assert {"users", "chats", "messages"} <= set(sa.inspect(engine).get_table_names())


def test_an_older_database_is_upgraded_at_start_up(tmp_path):
    config = make_config(tmp_path)
    engine = make_engine(config["DATABASE_URL"])
    with engine.begin() as db:  # a database from before the first migration
        db.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
    create_app(config)
    with engine.connect() as db:
        assert db.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == _head()
    migrate(engine, str(tmp_path))  # and again: nothing to do, nothing breaks


def test_ids_are_opaque_uuids(client, auth, store):
    auth.signup()
    chat_id = new_chat(client)
    assert uuid.UUID(chat_id).version == 4
    user = store.user_by_email("ada@example.com")
    assert uuid.UUID(user.id).version == 4


def test_data_survives_a_restart(tmp_path):
    config = make_config(tmp_path)
    client = create_app(config).test_client()
    client.post("/signup", data={"email": "ada@example.com", "password": "correct horse"})
    chat_id = new_chat(client)
    again = create_app(config).test_client()
    again.post("/login", data={"email": "ada@example.com", "password": "correct horse"})
    assert again.get(f"/chats/{chat_id}").status_code == 200
