"""Pick the backends once, from settings, and hand them to views.

Tests swap any of them by assignment: ``backends(app).model = SomeModel()``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

from .accounts import Accounts, LocalAccounts
from .database import make_engine, migrate
from .files import FileStore, LocalFiles
from .mail import LogMailer, Mailer, SMTPMailer
from .channel import Channel, InProcessChannel
from .models import ChatModel
from .replies import recover_interrupted
from .settings import Settings
from .store import Store


@dataclass
class Backends:
    store: Store
    accounts: Accounts
    model: ChatModel
    channel: Channel
    files: FileStore


def init_app(app: Flask, settings: Settings) -> None:
    from .sqlstore import SQLStore

    engine = make_engine(settings.database_url)
    migrate(engine, app.instance_path)
    store = SQLStore(engine)
    recover_interrupted(store)
    accounts = LocalAccounts(store, settings.secret_key, _mailer(settings))
    app.extensions["chatbot"] = Backends(store=store, accounts=accounts, model=_model(settings),
                                         channel=InProcessChannel(), files=LocalFiles(Path(app.instance_path) / "files"))


def _mailer(settings: Settings) -> Mailer | None:
    """SMTP when configured; in development, the server log; otherwise no emails at all."""
    if settings.smtp_host:
        return SMTPMailer(settings.smtp_host, settings.smtp_port, settings.smtp_security, settings.smtp_from,
                          settings.smtp_username, settings.smtp_password)
    return None if settings.is_production else LogMailer()


def _model(settings: Settings) -> ChatModel:
    if settings.uses_offline_responder:
        from .models.offline import OfflineResponder

        return OfflineResponder(delay=settings.offline_delay)
    from .models.openai_compatible import OpenAICompatible  # imports the SDK only when used

    return OpenAICompatible(
        model=settings.openai_model,
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        timeout=settings.openai_timeout,
        max_retries=settings.openai_max_retries,
    )


def backends(app: Flask | None = None) -> Backends:
    return (app or current_app).extensions["chatbot"]


def settings(app: Flask | None = None) -> Settings:
    return (app or current_app).extensions["chatbot.settings"]
