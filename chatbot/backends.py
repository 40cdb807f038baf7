"""Pick the backends once, from settings, and hand them to views.

Tests swap any of them by assignment: ``backends(app).model = SomeModel()`` (the app's
only model from then on).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from flask import Flask, current_app, g

from .accounts import Accounts, Credentials
from .accounts.local import LocalAccounts
from .accounts.directory import Directory
from .accounts.sessions import Sessions, SignOutAtProvider
from .conversation.pacing import Pace
from .conversation.runner import ReplyRunner
from .database import make_engine, migrate
from .files import FileStore, LocalFiles
from .live.channel import Channel
from .live.memory import InProcessChannel
from .mail import LogMailer, Mailer, SMTPMailer
from .models import ChatModel
from .models.catalog import Catalog, Provider
from .settings import Settings
from .store import SharedChats, Store


class Backends:
    """The backends the app factory picked.

    ``store`` and ``files`` answer for the request's signed-in user: the one shared store
    and file store on the embedded and SQL backends; on Supabase, a pair bound to the
    user's own access token, made once per request (so RLS applies to everything it does)."""

    def __init__(self, accounts: Accounts, sessions: Sessions, directory: Directory, models: Catalog,
                 runner: ReplyRunner, shared: SharedChats, shared_files: FileStore, *, store: Store | None = None,
                 files: FileStore | None = None,
                 per_user: Callable[[Credentials], tuple[Store, FileStore]] | None = None) -> None:
        self.accounts, self.sessions, self.directory = accounts, sessions, directory
        self.models, self.runner = models, runner
        # Share links, for anyone who has one: their snapshots, and the files of those that include them.
        self.shared, self.shared_files = shared, shared_files
        self._store, self._files, self._per_user = store, files, per_user

    @property
    def model(self) -> ChatModel:
        """The model that answers when nobody picks one."""
        return self.models.pick()

    @model.setter
    def model(self, model: ChatModel) -> None:
        self.models = Catalog.of(model)

    @property
    def channel(self) -> Channel:
        return self.runner.channel

    @property
    def store(self) -> Store:
        return self._store if self._store is not None else self._users_own()[0]

    @property
    def files(self) -> FileStore:
        return self._files if self._files is not None else self._users_own()[1]

    def _users_own(self) -> tuple[Store, FileStore]:
        from .signin import current_credentials

        if "chatbot_users_own" not in g:
            credentials = current_credentials()
            if credentials is None:  # views that touch data are all behind login_required
                raise RuntimeError("no signed-in user to act as")
            g.chatbot_users_own = self._per_user(credentials)
        return g.chatbot_users_own


def init_app(app: Flask, settings: Settings) -> None:
    channel, pace = _channel(settings), Pace()
    if settings.uses_supabase:
        from .supabase_backend import SupabaseProject
        from .supabase_backend.accounts import SupabaseAccounts

        project = SupabaseProject(settings.supabase_url, settings.supabase_publishable_key,
                                  settings.supabase_secret_key)
        housekeeping = project.housekeeping()
        runner = _runner(channel, housekeeping, settings, pace)
        directory = project.directory()
        directory.keep_default_policy(settings.signup_policy)  # for accounts made outside the app
        accounts = SupabaseAccounts(project, settings.supabase_auth_providers)
        # Records hold Supabase's refresh tokens: ending one signs that Supabase session out too.
        sessions = SignOutAtProvider(_sessions(settings) or project.sessions(), accounts.log_out)
        app.extensions["chatbot"] = Backends(accounts, sessions, directory, _catalog(settings, pace, directory),
                                             runner, project.shared_chats(), project.shared_files(),
                                             per_user=project.for_user)
        return

    from .accounts.sqldirectory import SQLDirectory
    from .accounts.sqlsessions import SQLSessions
    from .sqlstore import SQLStore

    engine = make_engine(settings.database_url)
    migrate(engine, app.instance_path)
    busy = settings.database_busy_seconds
    store = SQLStore(engine, busy_seconds=busy)
    # With a real mail server, new accounts confirm their address (development's log of
    # emails would only slow the first sign-up down).
    accounts = LocalAccounts(store, settings.secret_key, _mailer(settings), confirm_by_email=bool(settings.smtp_host))
    files = LocalFiles(Path(app.instance_path) / "files")
    directory = SQLDirectory(engine, files, busy_seconds=busy)
    app.extensions["chatbot"] = Backends(accounts, _sessions(settings) or SQLSessions(engine, busy_seconds=busy),
                                         directory, _catalog(settings, pace, directory),
                                         _runner(channel, store, settings, pace), store, files, store=store, files=files)


def _sessions(settings: Settings) -> Sessions | None:
    """Session records in Redis when asked for; otherwise (None) beside the accounts."""
    if settings.session_store == "redis":
        from .accounts.redissessions import RedisSessions

        return RedisSessions(settings.redis_url)
    return None


def _runner(channel: Channel, housekeeping, settings: Settings, pace: Pace) -> ReplyRunner:
    runner = ReplyRunner(channel, housekeeping, lease=settings.reply_lease, pace=pace,
                         save_for=settings.reply_save_seconds)
    runner.sweep()  # replies of processes that stopped while none was running
    return runner


def _channel(settings: Settings) -> Channel:
    """The live channel: Redis and PostgreSQL ones are imported only when chosen."""
    if settings.live_channel == "redis":
        from .live.redis import RedisChannel

        return RedisChannel(settings.redis_url)
    if settings.live_channel == "postgres":
        from .live.postgres import PostgresChannel

        return PostgresChannel(settings.live_postgres_url)
    return InProcessChannel()


def _mailer(settings: Settings) -> Mailer | None:
    """SMTP when configured; in development, the server log; otherwise no emails at all."""
    if settings.smtp_host:
        return SMTPMailer(settings.smtp_host, settings.smtp_port, settings.smtp_security, settings.smtp_from,
                          settings.smtp_username, settings.smtp_password)
    return None if settings.is_production else LogMailer()


def _catalog(settings: Settings, pace: Pace, directory: Directory) -> Catalog:
    """The models on offer: the configured providers', or the offline responder alone."""
    if settings.uses_offline_responder:
        from .models.offline import OfflineResponder

        return Catalog.of(OfflineResponder(delay=settings.offline_delay))
    from .models.openai_compatible import OpenAICompatible  # imports the SDK only when used

    providers = [Provider(config, OpenAICompatible(
        model="", name=config.name, api_key=config.api_key, base_url=config.base_url,
        timeout=settings.openai_timeout, first_token_timeout=settings.openai_first_token_timeout,
        connect_timeout=settings.openai_connect_timeout, max_retries=settings.openai_max_retries, pace=pace,
        reasoning=config.reasoning,
    )) for config in settings.models.providers]
    return Catalog(providers, settings.models.default, setting=directory.setting, set_setting=directory.set_setting)


def backends(app: Flask | None = None) -> Backends:
    return (app or current_app).extensions["chatbot"]


def settings(app: Flask | None = None) -> Settings:
    return (app or current_app).extensions["chatbot.settings"]
