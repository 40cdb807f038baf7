"""What ``chatbot check`` asks of a configuration: each backend it names, reached within a
few seconds, and what is wrong said in plain words. Each check: (what, problem or None, detail)."""
from __future__ import annotations

from typing import Iterator

from .settings import Settings

Check = tuple[str, "str | None", str]
TIMEOUT = 3.0  # seconds for each connection


def run_checks(settings: Settings) -> Iterator[Check]:
    yield _database(settings)
    yield _channel(settings)
    if settings.redis_url and settings.live_channel != "redis":  # rate limits and sessions keep there too
        yield _redis("Redis", settings.redis_url)
    yield from _providers(settings)


def _database(settings: Settings) -> Check:
    if settings.uses_supabase:
        return _supabase(settings)
    from .database import head_revision, make_engine, revision

    engine = make_engine(settings.database_url)
    kind = "SQLite" if engine.dialect.name == "sqlite" else "PostgreSQL"
    try:
        at = revision(engine)
    except Exception as error:  # noqa: BLE001 - said in words, whatever it is
        return "database", f"{kind} at {engine.url.render_as_string(hide_password=True)} cannot be reached: " \
                           f"{_first_line(error)} (DATABASE_URL)", ""
    finally:
        engine.dispose()
    newest = head_revision()
    if at is None:
        return "database", None, f"{kind}, empty: the server makes its schema as it starts (or `chatbot db upgrade`)"
    if at != newest:
        return "database", f"{kind} is at schema revision {at or 'none'}, the newest is {newest}: run " \
                           "`chatbot db upgrade` (the server also does this as it starts)", ""
    return "database", None, f"{kind}, schema revision {at} (the newest)"


def _supabase(settings: Settings) -> Check:
    from .supabase_backend import SupabaseProject

    project = SupabaseProject(settings.supabase_url, settings.supabase_publishable_key, settings.supabase_secret_key,
                              timeout=TIMEOUT)
    try:
        project.shared_chats().shared("check" * 8)  # as anyone: the publishable key and the migrations
    except Exception as error:  # noqa: BLE001
        return "database", f"Supabase at {settings.supabase_url} did not answer with the publishable key: " \
                           f"{_first_line(error)} (SUPABASE_URL, SUPABASE_PUBLISHABLE_KEY; are the migrations in " \
                           "supabase/migrations/ applied?)", ""
    try:
        project.directory().setting("signup_policy")  # the server's own: the secret key
    except Exception as error:  # noqa: BLE001
        return "database", f"Supabase refused the secret key: {_first_line(error)} (SUPABASE_SECRET_KEY)", ""
    return "database", None, f"Supabase at {settings.supabase_url}, both keys accepted"


def _channel(settings: Settings) -> Check:
    if settings.live_channel == "redis":
        return _redis("live channel", settings.redis_url or "")
    if settings.live_channel == "postgres":
        import psycopg

        try:
            with psycopg.connect(settings.live_postgres_url or "", connect_timeout=int(TIMEOUT)) as db:
                db.execute("select 1")
        except Exception as error:  # noqa: BLE001
            return "live channel", f"PostgreSQL cannot be reached: {_first_line(error)} (DATABASE_URL)", ""
        return "live channel", None, "PostgreSQL (LISTEN/NOTIFY), shared by every worker"
    return "live channel", None, "in this process: one worker (set REDIS_URL to run several)"


def _redis(name: str, url: str) -> Check:
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT).ping()
    except Exception as error:  # noqa: BLE001
        return name, f"Redis cannot be reached: {_first_line(error)} (REDIS_URL)", ""
    return name, None, "Redis answers" + (", shared by every worker" if name == "live channel" else "")


def _providers(settings: Settings) -> Iterator[Check]:
    if settings.uses_offline_responder:
        yield "models", None, "the built-in offline responder (set OPENAI_API_KEY, OPENAI_BASE_URL or MODELS_CONFIG " \
                              "to connect a model)"
        return
    from .models import ModelError
    from .models.openai_compatible import OpenAICompatible

    for config in settings.models.providers:
        client = OpenAICompatible(model="", name=config.name, api_key=config.api_key, base_url=config.base_url,
                                  timeout=TIMEOUT, first_token_timeout=TIMEOUT, connect_timeout=TIMEOUT, max_retries=0)
        where = config.base_url or "OpenAI"
        try:
            served = client.list_models()
        except ModelError as error:
            yield f"models: {config.name}", f"{where}: {error} ({error.detail})", ""
            continue
        yield f"models: {config.name}", None, f"{where} serves {len(served)} model{'s' if len(served) != 1 else ''}"


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
