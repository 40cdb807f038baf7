"""The ``chatbot`` command, installed with the package: run the server and look after it.

    chatbot serve [--host H] [--port P] [--workers N] [--dev]   gunicorn + gevent, this project's settings
    chatbot check                                              configuration and connections, in plain words
    chatbot db upgrade                                         the database schema to the newest revision
    chatbot admin create EMAIL | promote EMAIL | demote EMAIL  accounts of admins
    chatbot backup [FILE]                                      an online copy of SQLite (on PostgreSQL: pg_dump)

Every command has --help. They read the same environment variables (and ``.env``) as the
server, and the same instance folder (INSTANCE_PATH; by default ``instance`` in a checkout).
"""
from __future__ import annotations

import os
import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import click
from flask.cli import ScriptInfo

from .admin import bp as admin_pages


def _app():
    from . import create_app

    return create_app()


@click.group()
@click.pass_context
def main(context: click.Context) -> None:
    """Chatbot: a self-hostable AI chat server."""
    from dotenv import load_dotenv

    load_dotenv()  # an optional .env in the working directory, as the server reads it; real variables win
    # For the commands that act on the data (admin ...): the app, built as the server builds it.
    context.obj = ScriptInfo(create_app=_app, set_debug_flag=False, load_dotenv_defaults=False)


main.add_command(admin_pages.cli, "admin")  # create, promote, demote (also `flask --app wsgi admin ...`)


def _instance_path() -> str:
    """Where the server keeps its SQLite file and files: INSTANCE_PATH, else as Flask places it."""
    if os.environ.get("INSTANCE_PATH"):
        return os.path.abspath(os.environ["INSTANCE_PATH"])
    from flask import Flask

    return Flask("chatbot").instance_path


def _settings():
    from .settings import ConfigError, Settings

    try:
        return Settings.from_env(os.environ, _instance_path())
    except ConfigError as error:
        raise click.ClickException(str(error.code).removeprefix("chatbot: ")) from None


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every one).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), envvar="PORT",
              help="Port to listen on (or PORT).")
@click.option("--workers", type=click.IntRange(1), help="gevent worker processes (default: WEB_CONCURRENCY, else one "
                                                        "per core with a shared live channel, else one).")
@click.option("--dev", is_flag=True, help="Development: restart on code changes, CHATBOT_ENV=development unless set.")
def serve(host: str, port: int, workers: int | None, dev: bool) -> None:
    """Serve the app with gunicorn's gevent workers and this project's settings
    (chatbot/gunicorn_conf.py): streams, sockets and graceful restarts as in production."""
    if dev:
        os.environ.setdefault("CHATBOT_ENV", "development")
    _settings()  # a bad variable stops here, in one line, before gunicorn starts
    command = [sys.executable, "-m", "gunicorn", "--config", "python:chatbot.gunicorn_conf",
               "--bind", f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    if workers:
        command += ["--workers", str(workers)]
    if dev:
        command += ["--reload"]
    click.echo(f"Serving on http://{'localhost' if host in ('127.0.0.1', '::1') else host}:{port}/ "
               f"(data in {_instance_path()}; Ctrl+C stops)", err=True)
    os.execv(sys.executable, [*command, "chatbot.wsgi:app"])


@main.command()
def check() -> None:
    """Check the configuration, and reach the database, the live channel, Redis and each
    model provider; say what is wrong in plain words (exit status 1 if anything is)."""
    from .checks import run_checks

    settings = _settings()
    click.echo("✓ configuration: " + ("production" if settings.is_production else "development"))
    failed = False
    for name, problem, detail in run_checks(settings):
        failed = failed or problem is not None
        click.echo(f"✗ {name}: {problem}" if problem else f"✓ {name}: {detail}")
    if failed:
        raise SystemExit(1)


@main.group()
def db() -> None:
    """The database's schema."""


@db.command()
def upgrade() -> None:
    """Bring the database to the newest schema (the server also does this as it starts)."""
    from .database import make_engine, migrate, revision

    settings = _settings()
    if settings.uses_supabase:
        click.echo("On Supabase the schema is the SQL in supabase/migrations/, applied with `supabase db push` "
                   "(or each file in the dashboard's SQL editor), in order.")
        return
    engine = make_engine(settings.database_url)
    migrate(engine, _instance_path())
    click.echo(f"The database is at revision {revision(engine)}, the newest.")


@main.command()
@click.argument("destination", required=False, type=click.Path(dir_okay=False, writable=True))
def backup(destination: str | None) -> None:
    """Copy the SQLite database to DESTINATION (default: chatbot-<time>.sqlite3 here) while
    the server runs, through SQLite's online backup; on PostgreSQL, print the pg_dump command."""
    settings = _settings()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    url = settings.database_url
    if settings.uses_supabase or not url.startswith("sqlite"):
        target = "your Supabase project's connection string (Project Settings, Database)" \
            if settings.uses_supabase else f'"{_without_password(url)}"'
        click.echo("PostgreSQL keeps the data: back it up with pg_dump, for example\n\n"
                   f"    pg_dump --format=custom --no-owner --file=chatbot-{stamp}.dump {target}\n\n"
                   "with the password in PGPASSWORD or ~/.pgpass, and restore with pg_restore.")
        return
    source = Path(url.removeprefix("sqlite:///"))
    if not source.is_file():
        raise click.ClickException(f"there is no database at {source} (DATABASE_URL, INSTANCE_PATH)")
    target_path = Path(destination or f"chatbot-{stamp}.sqlite3").resolve()
    if target_path.exists():
        raise click.ClickException(f"{target_path} exists already: choose another name")
    with sqlite3.connect(source, timeout=30) as live, sqlite3.connect(target_path) as copy:
        # A few pages at a time: writers wait only for one step, never for the whole copy.
        live.backup(copy, pages=256, sleep=0.005)
    files = Path(_instance_path()) / "files"
    click.echo(f"Backed up {source} to {target_path} ({target_path.stat().st_size:,} bytes)."
               + (f"\nAttached files are in {files}: copy that folder too." if files.is_dir() else ""))


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
