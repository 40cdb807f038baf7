"""Real databases for the tests: a fresh PostgreSQL database on loopback, dropped afterwards.

``TEST_POSTGRES_URL`` names a server and a database to connect to for creating the test
databases (default: the machine's own, ``postgresql://postgres@127.0.0.1:5432/postgres``).
The functions that make databases take another admin URL to use another server, such as
the PostgreSQL 17 one of tests/postgres17.py.
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psycopg
from psycopg import sql

from chatbot.database import make_engine, migrate
from chatbot.sqlstore import SQLStore

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def postgres_admin(admin_url: str = ADMIN_URL) -> psycopg.Connection | None:
    try:
        return psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        return None


@contextmanager
def postgres_database(admin_url: str = ADMIN_URL) -> Iterator[str | None]:
    """The URL of a new, empty database (None when no server answers); dropped at the end."""
    admin = postgres_admin(admin_url)
    if admin is None:
        yield None
        return
    name = f"chatbot_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield admin_url.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def sql_store(url: str, lock_dir) -> SQLStore:
    """A store on ``url``, migrated as the app migrates it at start-up."""
    engine = make_engine(url)
    migrate(engine, str(lock_dir))
    return SQLStore(engine)


SUPABASE_MIGRATIONS = Path(__file__).resolve().parent.parent / "supabase" / "migrations"
SUPABASE_STANDIN = Path(__file__).resolve().parent / "supabase" / "standin.sql"


@contextmanager
def supabase_database(admin_url: str = ADMIN_URL, until: str | None = None) -> Iterator[str | None]:
    """A new database shaped like a Supabase project's (the stand-in for its auth and
    storage schemas), with the project's Supabase migrations applied in order (with
    ``until``, those before the one of that name)."""
    with postgres_database(admin_url) as url:
        if url is not None:
            with psycopg.connect(url, autocommit=True) as db:
                db.execute(SUPABASE_STANDIN.read_text())
                for migration in sorted(SUPABASE_MIGRATIONS.glob("*.sql")):
                    if until is not None and migration.name >= until:
                        break
                    db.execute(migration.read_text())
        yield url
