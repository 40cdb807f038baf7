"""Engine creation and schema migrations, applied at start-up; and ``patient``, which keeps
a busy database from freezing the server.

Under gevent one worker serves every request and stream from one thread, so a call that
blocks in C blocks them all. SQLite's own busy wait is such a call: here it never waits
(timeout 0), and a store method that finds the database locked is run again after a short
sleep, which lets every other greenlet run meanwhile, until ``busy_seconds`` have passed.
psycopg 3 waits cooperatively under gevent by itself; PostgreSQL is given a lock timeout
and a connect timeout, so a locked row or a server away cannot hold a request for long.
Past the bound the method raises ``Unavailable``: a 503 that says when to come back.
"""
from __future__ import annotations

import fcntl
import functools
import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from .errors import Unavailable

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 7_311_402  # any constant; all workers agree on it


BUSY_SECONDS = 5.0  # how long a store call may wait for a busy database before it is refused
LOCK_TIMEOUT_MS = 4000  # PostgreSQL: a statement waiting this long for a lock gives up


def make_engine(url: str) -> Engine:
    if url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]  # psycopg 3, not psycopg2
    if url.startswith("sqlite"):
        # timeout=0: SQLite answers "locked" at once instead of waiting in C (see ``patient``).
        engine = sa.create_engine(url, connect_args={"timeout": 0, "check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=BUSY_SECONDS,
                            connect_args={"connect_timeout": 3, "options": f"-c lock_timeout={LOCK_TIMEOUT_MS}"})


T = TypeVar("T")


def patient(method: Callable[..., T]) -> Callable[..., T]:
    """Run a store method again while SQLite finds the database locked (cooperatively:
    ``time.sleep`` yields under gevent), for up to its store's ``busy_seconds``; then, or at
    once for a database that cannot be reached, raise ``Unavailable``. A method is one
    transaction (or none), so running it again repeats nothing that was kept."""
    @functools.wraps(method)
    def run(store, *args, **kwargs):
        deadline, pause = None, 0.005
        while True:
            try:
                return method(store, *args, **kwargs)
            except (sa.exc.OperationalError, sa.exc.TimeoutError) as error:
                now = time.monotonic()
                deadline = deadline or now + store.busy_seconds
                if not _locked(error) or now >= deadline:
                    log.warning("database unavailable in %s: %s", method.__name__, str(error).splitlines()[0])
                    raise Unavailable() from error
                time.sleep(min(pause, deadline - now))
                pause = min(pause * 2, 0.2)
    return run


def patient_methods(cls: type[T]) -> type[T]:
    """``patient`` around every public method the class defines."""
    for name, member in list(vars(cls).items()):
        if callable(member) and not name.startswith("_"):
            setattr(cls, name, patient(member))
    return cls


def _locked(error: Exception) -> bool:
    return "database is locked" in str(error) or "database table is locked" in str(error)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def migrate(engine: Engine, lock_dir: str) -> None:
    """Bring the schema to the newest revision; safe when several workers start at once."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine.dialect.name == "sqlite":
        # Before serving, waiting in C blocks nobody: migrations may wait for a busy file.
        engine = sa.create_engine(engine.url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    with _exclusive(engine, lock_dir), engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def _exclusive(engine: Engine, lock_dir: str):
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            try:
                yield
            finally:
                connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                connection.commit()
        return
    Path(lock_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(lock_dir) / "migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None: none yet)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest schema revision this code has."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return str(ScriptDirectory.from_config(config).get_current_head())
