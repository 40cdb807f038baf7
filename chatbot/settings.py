"""Typed settings, read once from the environment (and an optional ``.env``)."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit


class ConfigError(SystemExit):
    """A bad setting. A SystemExit so that every entry point (``flask run``,
    gunicorn, a plain import of ``wsgi``) stops with this one line, not a traceback."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"chatbot: configuration error: {variable}: {problem}")


@dataclass(frozen=True)
class Settings:
    env: str  # "development" or "production"
    secret_key: str
    database_url: str
    openai_api_key: str | None
    openai_base_url: str | None
    openai_model: str
    openai_timeout: float  # seconds without a byte from the model before giving up
    openai_max_retries: int
    context_tokens: int
    message_max_chars: int
    offline_delay: float  # seconds between offline-responder tokens
    reply_wait: float  # how long a no-JavaScript POST waits for the reply
    attachment_max_bytes: int  # largest file a message may carry
    public_url: str | None  # where the site is reached: links in emails point here
    smtp_host: str | None
    smtp_port: int
    smtp_security: str  # "starttls", "ssl" or "none"
    smtp_username: str | None
    smtp_password: str | None
    smtp_from: str | None

    @property
    def uses_offline_responder(self) -> bool:
        return not (self.openai_api_key or self.openai_base_url)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], instance_path: str) -> Settings:
        """Build settings from ``environ``; raise ConfigError naming the first bad variable."""
        read = _Reader(environ)
        env = read.choice("CHATBOT_ENV", ("production", "development"), "production")
        settings = cls(
            env=env,
            secret_key=read.str("SECRET_KEY") or _secret_key(env, instance_path),
            database_url=read.url(
                "DATABASE_URL",
                ("sqlite", "postgres", "postgresql", "postgresql+psycopg"),
                f"sqlite:///{Path(instance_path) / 'chatbot.sqlite3'}",
            ),
            openai_api_key=read.str("OPENAI_API_KEY"),
            openai_base_url=read.url("OPENAI_BASE_URL", ("http", "https"), None),
            openai_model=read.str("OPENAI_MODEL") or "gpt-4o-mini",
            openai_timeout=read.number("OPENAI_TIMEOUT", 60.0, float),
            openai_max_retries=read.number("OPENAI_MAX_RETRIES", 1, int, minimum=0),
            context_tokens=read.number("CONTEXT_TOKENS", 16000, int, minimum=256),
            message_max_chars=read.number("MESSAGE_MAX_CHARS", 32000, int, minimum=1),
            offline_delay=read.number("OFFLINE_TOKEN_DELAY", 0.03, float, minimum=0),
            reply_wait=read.number("REPLY_WAIT", 120.0, float),
            attachment_max_bytes=read.number("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024, int, minimum=1),
            public_url=read.url("PUBLIC_URL", ("http", "https"), None),
            smtp_host=read.str("SMTP_HOST"),
            smtp_port=read.number("SMTP_PORT", 587, int, minimum=1),
            smtp_security=read.choice("SMTP_SECURITY", ("starttls", "ssl", "none"), "starttls"),
            smtp_username=read.str("SMTP_USERNAME"),
            smtp_password=read.str("SMTP_PASSWORD"),
            smtp_from=read.str("SMTP_FROM"),
        )
        if settings.smtp_host and not settings.smtp_from:
            raise ConfigError("SMTP_FROM", "is required with SMTP_HOST (the sender of password-reset emails)")
        if settings.smtp_host and settings.is_production and not settings.public_url:
            # Links in emails must not be built from the request's Host header, which a
            # caller controls: a forged one would send a victim's reset link elsewhere.
            raise ConfigError("PUBLIC_URL", "is required with SMTP_HOST in production (links in emails point there)")
        return settings

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Reader:
    """Reads and checks one variable at a time, so errors can name it."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def str(self, name: str) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or None

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.str(name) or default
        if value not in allowed:
            raise ConfigError(name, f"must be one of {', '.join(allowed)}, not {value!r}")
        return value

    def number(self, name, default, kind, minimum=0.001):
        raw = self.str(name)
        if raw is None:
            return default
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(name, f"must be a {'whole ' if kind is int else ''}number, not {raw!r}") from None
        if value < minimum:
            raise ConfigError(name, f"must be at least {minimum}, not {raw!r}")
        return value

    def url(self, name: str, schemes: tuple[str, ...], default: str | None) -> str | None:
        raw = self.str(name)
        if raw is None:
            return default
        parts = urlsplit(raw)
        if parts.scheme not in schemes:
            raise ConfigError(name, f"must be a URL starting with {' or '.join(s + ':' for s in schemes)}")
        if parts.scheme.startswith("sqlite"):
            return raw
        try:
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            raise ConfigError(name, "has a malformed port") from None
        if not parts.hostname:
            raise ConfigError(name, "has no host name")
        return raw


def _secret_key(env: str, instance_path: str) -> str:
    """In development, make a key once and keep it, so sessions survive restarts."""
    if env == "production":
        raise ConfigError("SECRET_KEY", "is required in production (set CHATBOT_ENV=development to generate one)")
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".secret_key.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:  # link, not rename: when workers race, the first key wins and all read it
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
