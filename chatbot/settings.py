"""Typed settings, read once from the environment (and an optional ``.env``)."""
from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from .accounts.directory import APPROVAL, OPEN, SIGNUP_POLICIES
from .accounts.sessions import SessionPolicy
from .models import config as models_config
from .models.config import ModelsConfig


class ConfigError(SystemExit):
    """A bad setting. A SystemExit so that every entry point (``flask run``,
    gunicorn, a plain import of ``wsgi``) stops with this one line, not a traceback."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"chatbot: configuration error: {variable}: {problem}")


@dataclass(frozen=True)
class Settings:
    env: str  # "development" or "production"
    secret_key: str = field(repr=False)
    database_url: str
    openai_api_key: str | None = field(repr=False)
    openai_base_url: str | None
    openai_model: str
    openai_timeout: float  # seconds without new text from the model, once it started, before giving up
    openai_max_retries: int
    context_tokens: int
    message_max_chars: int
    offline_delay: float  # seconds between offline-responder tokens
    attachment_max_bytes: int  # largest file a message may carry
    import_max_bytes: int  # largest file Import takes (a ChatGPT export's zip, a Chatbot download)
    log_format: str  # "text" or "json" (JSON lines)
    public_url: str | None  # where the site is reached: links in emails point here
    smtp_host: str | None
    smtp_port: int
    smtp_security: str  # "starttls", "ssl" or "none"
    smtp_username: str | None
    smtp_password: str | None
    smtp_from: str | None
    metrics_token: str | None = field(default=None, repr=False)  # set: /metrics answers a bearer of it
    supabase_url: str | None = None  # set: Supabase holds accounts, data and files
    # Keys stay out of repr(), so no log line or traceback can show them.
    supabase_publishable_key: str | None = field(default=None, repr=False)
    supabase_secret_key: str | None = field(default=None, repr=False)
    supabase_auth_providers: tuple[str, ...] = ()
    live_channel: str = "memory"  # "memory", "redis" or "postgres": how processes share live events
    redis_url: str | None = field(default=None, repr=False)  # may hold a password
    live_postgres_url: str | None = field(default=None, repr=False)
    reply_lease: float = 30.0  # seconds a process's replies outlive its last sign of life
    session_idle_hours: float = 12.0  # a session ends this long after its last request...
    remember_me_days: float = 30.0  # ...or this long, when "remember me" was ticked...
    session_max_days: float = 30.0  # ...and in any case this long after signing in
    session_store: str = "database"  # "database" or "redis": where session records live
    signup_policy: str = "open"  # until an admin chooses: "open", "approval", "invite" or "closed"
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-For is believed
    database_busy_seconds: float = 5.0  # how long a request may wait for a busy database
    reply_save_seconds: float = 120.0  # how long a finished reply is held while the database is away
    openai_first_token_timeout: float = 60.0  # seconds from asking to the first text, retries included
    openai_connect_timeout: float = 5.0
    max_streams: int = 1500  # live sockets and event streams one process holds; past it, 503
    limits: RateLimitSettings = field(default_factory=lambda: RateLimitSettings())
    models: ModelsConfig = field(default_factory=ModelsConfig)  # the providers (keys kept out of repr)
    monthly_token_budget: int | None = None  # tokens a user's replies may use a month (None: no budgets)

    @property
    def uses_offline_responder(self) -> bool:
        return not self.models.providers

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
            attachment_max_bytes=read.number("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024, int, minimum=1),
            import_max_bytes=read.number("IMPORT_MAX_BYTES", 100 * 1024 * 1024, int, minimum=1),
            log_format=read.choice("LOG_FORMAT", ("text", "json"), "text"),
            metrics_token=read.str("METRICS_TOKEN"),
            public_url=read.url("PUBLIC_URL", ("http", "https"), None),
            smtp_host=read.str("SMTP_HOST"),
            smtp_port=read.number("SMTP_PORT", 587, int, minimum=1),
            smtp_security=read.choice("SMTP_SECURITY", ("starttls", "ssl", "none"), "starttls"),
            smtp_username=read.str("SMTP_USERNAME"),
            smtp_password=read.str("SMTP_PASSWORD"),
            smtp_from=read.str("SMTP_FROM"),
            **_supabase(read, environ),
            **_live(read),
            **_sessions(read),
            # Production waits for an admin's approval by default: a server anyone reaches
            # must not let strangers spend its model budget.
            signup_policy=read.choice("SIGNUP_POLICY", SIGNUP_POLICIES, APPROVAL if env == "production" else OPEN),
            trusted_proxies=read.number("TRUSTED_PROXIES", 0, int, minimum=0),
            database_busy_seconds=read.number("DATABASE_BUSY_SECONDS", 5.0, float, minimum=0.1),
            reply_save_seconds=read.number("REPLY_SAVE_SECONDS", 120.0, float, minimum=0.1),
            openai_first_token_timeout=read.number("OPENAI_FIRST_TOKEN_TIMEOUT", 60.0, float, minimum=0.1),
            openai_connect_timeout=read.number("OPENAI_CONNECT_TIMEOUT", 5.0, float, minimum=0.1),
            max_streams=read.number("MAX_STREAMS_PER_WORKER", 1500, int, minimum=1),
            limits=_limits(read),
            models=_models(read, environ),
            monthly_token_budget=read.number("MONTHLY_TOKEN_BUDGET", 0, int, minimum=0) or None,
        )
        if settings.smtp_host and not settings.smtp_from:
            raise ConfigError("SMTP_FROM", "is required with SMTP_HOST (the sender of password-reset emails)")
        if settings.uses_supabase and settings.is_production and not settings.public_url:
            raise ConfigError("PUBLIC_URL", "is required with SUPABASE_URL in production "
                                            "(Supabase's emails and sign-in providers send users back there)")
        if settings.smtp_host and settings.is_production and not settings.public_url:
            # Links in emails must not be built from the request's Host header, which a
            # caller controls: a forged one would send a victim's reset link elsewhere.
            raise ConfigError("PUBLIC_URL", "is required with SMTP_HOST in production (links in emails point there)")
        return settings

    @property
    def uses_supabase(self) -> bool:
        return self.supabase_url is not None

    @property
    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(idle=self.session_idle_hours * 3600, remembered_idle=self.remember_me_days * 86400,
                             absolute=self.session_max_days * 86400)


AUTH_PROVIDERS = ("github", "google")
LIVE_CHANNELS = ("memory", "redis", "postgres")


def live_channel_named(environ: Mapping[str, str]) -> str:
    """The live channel the environment asks for (unchecked): ``REDIS_URL`` alone picks Redis.
    gunicorn.conf.py asks too, to size its workers before any setting is checked."""
    return (environ.get("LIVE_CHANNEL") or "").strip() or ("redis" if (environ.get("REDIS_URL") or "").strip()
                                                          else "memory")


def _live(read: _Reader) -> dict[str, object]:
    """How processes share live events: in memory (one process), Redis, or PostgreSQL."""
    redis_url = read.url("REDIS_URL", ("redis", "rediss"), None)
    channel = read.choice("LIVE_CHANNEL", LIVE_CHANNELS, live_channel_named(read.environ))
    database_url = read.str("DATABASE_URL") or ""
    postgres_url = read.url("LIVE_POSTGRES_URL", ("postgres", "postgresql", "postgresql+psycopg"), None) or (
        database_url if database_url.startswith(("postgres:", "postgresql:", "postgresql+psycopg:")) else None)
    if channel == "redis" and not redis_url:
        raise ConfigError("REDIS_URL", "is required with LIVE_CHANNEL=redis (like redis://127.0.0.1:6379/0)")
    if channel == "postgres" and not postgres_url:
        raise ConfigError("LIVE_POSTGRES_URL", "is required with LIVE_CHANNEL=postgres unless DATABASE_URL is a "
                                               "PostgreSQL URL (on Supabase: the session pooler's connection string)")
    return dict(live_channel=channel, redis_url=redis_url, live_postgres_url=postgres_url,
                reply_lease=read.number("REPLY_LEASE_SECONDS", 30.0, float, minimum=3))


@dataclass(frozen=True)
class RateLimitSettings:
    """How much of anything one client may ask for (``limits`` notation: "5 per minute; 20 per hour")."""
    login_per_account: str = "5 per minute; 20 per hour"  # failed log-ins to one account
    login_per_address: str = "20 per minute; 200 per hour"  # log-in attempts from one address
    signup_per_address: str = "5 per hour"
    reset_per_address: str = "5 per hour"  # password-reset emails asked for
    sends_per_user: str = "20 per minute"  # messages sent and replies regenerated
    socket_commands: str = "10 per second"  # per user, over all their sockets
    replies_per_user: int = 3  # replies being written at once
    sockets_per_user: int = 20  # live views open at once


def _limits(read: _Reader) -> RateLimitSettings:
    defaults = RateLimitSettings()
    return RateLimitSettings(
        login_per_account=read.rate("LOGIN_LIMIT_PER_ACCOUNT", defaults.login_per_account),
        login_per_address=read.rate("LOGIN_LIMIT_PER_ADDRESS", defaults.login_per_address),
        signup_per_address=read.rate("SIGNUP_LIMIT_PER_ADDRESS", defaults.signup_per_address),
        reset_per_address=read.rate("RESET_LIMIT_PER_ADDRESS", defaults.reset_per_address),
        sends_per_user=read.rate("SEND_LIMIT_PER_USER", defaults.sends_per_user),
        socket_commands=read.rate("SOCKET_COMMAND_LIMIT", defaults.socket_commands),
        replies_per_user=read.number("MAX_REPLIES_PER_USER", defaults.replies_per_user, int, minimum=1),
        sockets_per_user=read.number("MAX_SOCKETS_PER_USER", defaults.sockets_per_user, int, minimum=1),
    )


def _sessions(read: _Reader) -> dict[str, object]:
    store = read.choice("SESSION_STORE", ("database", "redis"), "database")
    if store == "redis" and not read.str("REDIS_URL"):
        raise ConfigError("REDIS_URL", "is required with SESSION_STORE=redis (like redis://127.0.0.1:6379/0)")
    return dict(session_idle_hours=read.number("SESSION_IDLE_HOURS", 12.0, float),
                remember_me_days=read.number("REMEMBER_ME_DAYS", 30.0, float),
                session_max_days=read.number("SESSION_MAX_DAYS", 30.0, float),
                session_store=store)


def _models(read: _Reader, environ: Mapping[str, str]) -> ModelsConfig:
    """The model providers: MODELS_CONFIG's file, or the OPENAI_* variables as one provider."""
    path = read.str("MODELS_CONFIG")
    if not path:
        return models_config.from_openai_variables(
            read.str("OPENAI_API_KEY"), read.url("OPENAI_BASE_URL", ("http", "https"), None),
            read.str("OPENAI_MODEL") or "gpt-4o-mini", read.str("OPENAI_MODELS"))
    try:
        return models_config.from_file(path, environ)
    except ValueError as error:
        raise ConfigError("MODELS_CONFIG", str(error)) from None


def _supabase(read: _Reader, environ: Mapping[str, str]) -> dict[str, object]:
    """The Supabase settings: a project URL and both its keys, or none of them.

    The new key names come first; the legacy JWT keys (anon, service_role) are accepted
    under their old names. A key in the wrong variable stops start-up: a secret key used
    where the publishable one belongs would bypass every RLS policy."""
    url = read.url("SUPABASE_URL", ("http", "https"), None)
    publishable_name, publishable = read.first("SUPABASE_PUBLISHABLE_KEY", "SUPABASE_ANON_KEY")
    secret_name, secret = read.first("SUPABASE_SECRET_KEY", "SUPABASE_SERVICE_ROLE_KEY")
    providers = tuple(p.strip().lower() for p in (read.str("SUPABASE_AUTH_PROVIDERS") or "").split(",") if p.strip())
    if url is None:
        if publishable or secret or providers:
            raise ConfigError("SUPABASE_URL", "is required with the other SUPABASE_ variables")
        return {}
    if urlsplit(url).path.strip("/") or urlsplit(url).query:
        raise ConfigError("SUPABASE_URL", "must be the project's URL alone, like https://abcdefgh.supabase.co")
    if not publishable:
        raise ConfigError("SUPABASE_PUBLISHABLE_KEY", "is required with SUPABASE_URL (or the legacy SUPABASE_ANON_KEY)")
    if not secret:
        raise ConfigError("SUPABASE_SECRET_KEY", "is required with SUPABASE_URL (or the legacy SUPABASE_SERVICE_ROLE_KEY)")
    if _key_role(publishable) != "anon":
        raise ConfigError(publishable_name, "must hold the publishable (anon) key, not a secret one")
    if _key_role(secret) != "service_role":
        raise ConfigError(secret_name, "must hold the secret (service_role) key")
    if read.str("DATABASE_URL"):
        raise ConfigError("DATABASE_URL", "must not be set with SUPABASE_URL: Supabase holds the data")
    unknown = set(providers) - set(AUTH_PROVIDERS)
    if unknown:
        raise ConfigError("SUPABASE_AUTH_PROVIDERS", f"must list only {', '.join(AUTH_PROVIDERS)}, "
                                                     f"not {', '.join(sorted(unknown))}")
    return dict(supabase_url=url.rstrip("/"), supabase_publishable_key=publishable, supabase_secret_key=secret,
                supabase_auth_providers=providers)


def _key_role(key: str) -> str | None:
    """"anon" or "service_role", by the key's prefix (new keys) or its JWT's role claim (legacy)."""
    if key.startswith("sb_publishable_"):
        return "anon"
    if key.startswith("sb_secret_"):
        return "service_role"
    try:
        payload = key.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("role")
    except (IndexError, ValueError, binascii.Error, AttributeError):
        return None


class _Reader:
    """Reads and checks one variable at a time, so errors can name it."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def str(self, name: str) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or None

    def first(self, *names: str) -> tuple[str, str | None]:
        """The first of ``names`` that is set, and its value (else the first name, None)."""
        for name in names:
            if self.str(name):
                return name, self.str(name)
        return names[0], None

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

    def rate(self, name: str, default: str) -> str:
        """A rate limit such as "5 per minute; 20 per hour" (or "5/minute")."""
        from limits import parse_many

        value = self.str(name) or default
        try:
            parse_many(value)
        except ValueError:
            raise ConfigError(name, f"must be a rate like \"5 per minute; 20 per hour\", not {value!r}") from None
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
