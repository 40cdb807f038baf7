"""Configuration: read once from the environment; a bad value stops start-up naming it."""
import re
import subprocess
import sys

import pytest

from chatbot import create_app
from chatbot.backends import backends, settings
from chatbot.models.offline import OfflineResponder
from chatbot.models.openai_compatible import OpenAICompatible
from chatbot.settings import ConfigError
from tests.conftest import make_config
from tests.servers import ROOT


def test_development_generates_a_secret_key_once_and_keeps_it(tmp_path):
    config = make_config(tmp_path)
    del config["SECRET_KEY"]
    first = create_app(config)
    second = create_app(config)
    key_file = tmp_path / "instance" / "secret_key"
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert first.secret_key == second.secret_key == key_file.read_text().strip()
    assert len(first.secret_key) >= 64


def test_production_requires_a_secret_key(tmp_path):
    config = make_config(tmp_path, CHATBOT_ENV="production")
    del config["SECRET_KEY"]
    with pytest.raises(ConfigError) as error:
        create_app(config)
    assert error.value.variable == "SECRET_KEY"
    assert not (tmp_path / "instance" / "secret_key").exists()


@pytest.mark.parametrize("variable, value", [
    ("CHATBOT_ENV", "staging"),
    ("DATABASE_URL", "mysql://localhost/chat"),
    ("DATABASE_URL", "not a url"),
    ("OPENAI_BASE_URL", "localhost:11434/v1"),
    ("OPENAI_BASE_URL", "http://localhost:port/v1"),
    ("OPENAI_BASE_URL", "http:///v1"),
    ("OPENAI_TIMEOUT", "soon"),
    ("OPENAI_MAX_RETRIES", "-1"),
    ("OPENAI_MAX_RETRIES", "1.5"),
    ("MESSAGE_MAX_CHARS", "0"),
    ("CONTEXT_TOKENS", "lots"),
    ("LIVE_CHANNEL", "kafka"),
    ("REDIS_URL", "http://127.0.0.1:6379/0"),
    ("REDIS_URL", "redis://127.0.0.1:port/0"),
    ("LIVE_POSTGRES_URL", "mysql://localhost/live"),
    ("REPLY_LEASE_SECONDS", "1"),
])
def test_a_malformed_value_names_its_variable(tmp_path, variable, value):
    with pytest.raises(ConfigError) as error:
        create_app(make_config(tmp_path, **{variable: value}))
    assert error.value.variable == variable
    assert str(error.value.code).startswith(f"chatbot: configuration error: {variable}: ")


@pytest.mark.parametrize("settings, variable", [
    ({"LIVE_CHANNEL": "redis"}, "REDIS_URL"),
    ({"LIVE_CHANNEL": "postgres"}, "LIVE_POSTGRES_URL"),  # the database is SQLite: nothing to share
])
def test_a_shared_channel_without_its_server_names_the_missing_variable(tmp_path, settings, variable):
    with pytest.raises(ConfigError) as error:
        create_app(make_config(tmp_path, **settings))
    assert error.value.variable == variable


def test_the_live_channel_follows_the_settings(tmp_path):
    from chatbot.settings import Settings

    def read(**env):
        return Settings.from_env({"CHATBOT_ENV": "development", "SECRET_KEY": "x", **env}, str(tmp_path))
    assert read().live_channel == "memory"
    assert (read(REDIS_URL="redis://cache:6379/0").live_channel, read(REDIS_URL="redis://cache:6379/0").redis_url) \
        == ("redis", "redis://cache:6379/0")
    postgres = read(LIVE_CHANNEL="postgres", DATABASE_URL="postgresql://db/chat")
    assert (postgres.live_channel, postgres.live_postgres_url) == ("postgres", "postgresql://db/chat")
    assert read(LIVE_CHANNEL="postgres", LIVE_POSTGRES_URL="postgres://pooler:5432/postgres").live_postgres_url \
        == "postgres://pooler:5432/postgres"
    assert "cache" not in repr(read(REDIS_URL="redis://:secret@cache:6379/0"))  # a URL may hold a password


def test_start_up_stops_with_one_clear_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "CHATBOT_ENV": "development", "INSTANCE_PATH": str(tmp_path),
           "OPENAI_BASE_URL": "ftp://example.com"}
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "chatbot: configuration error: OPENAI_BASE_URL: must be a URL starting with http: or https:"]


def test_dotenv_file_is_read_and_real_variables_win(tmp_path):
    (tmp_path / ".env").write_text("OPENAI_MODEL=from-dotenv\nMESSAGE_MAX_CHARS=123\nCHATBOT_ENV=development\n")
    code = ("from chatbot import create_app; from chatbot.backends import settings; app = create_app();"
            "s = settings(app); print(s.openai_model, s.message_max_chars)")
    env = {"PATH": "/usr/bin:/bin", "INSTANCE_PATH": str(tmp_path / "i"), "MESSAGE_MAX_CHARS": "456",
           "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.split() == ["from-dotenv", "456"], result.stderr


def test_settings_are_typed(app):
    s = settings(app)
    assert s.message_max_chars == 32000 and isinstance(s.openai_timeout, float)
    assert s.database_url.startswith("sqlite:///")


def test_offline_responder_without_a_key_or_url(app):
    assert isinstance(backends(app).model, OfflineResponder)


@pytest.mark.parametrize("variable, value", [("OPENAI_API_KEY", "sk-x"), ("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")])
def test_openai_compatible_with_a_key_or_url(tmp_path, variable, value):
    app = create_app(make_config(tmp_path, **{variable: value}, OPENAI_MODEL="llama3.2"))
    model = backends(app).model
    assert isinstance(model, OpenAICompatible) and (model.name, model.model) == ("openai/llama3.2", "llama3.2")
    # A deliberate policy, not the client's 600 s and 2 retries: our own deadlines and retries
    # (the client's would be reset by keep-alive comments, and multiplied by each retry).
    assert model.client.max_retries == 0 and model.max_retries == 1
    assert (model.first_token_timeout, model.idle_timeout, model.connect_timeout) == (60.0, 60.0, 5.0)


def test_sockets_ping_and_cap_message_size(app):
    options = app.config["SOCK_SERVER_OPTIONS"]
    assert options["ping_interval"] == 25  # keep-alive through proxies; dead peers found
    assert options["max_message_size"] == 256 * 1024


def test_gunicorn_configuration_is_deliberate(monkeypatch, tmp_path):
    import runpy

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # (else the settings make one, for this process)
    config = runpy.run_path(str(ROOT / "chatbot" / "gunicorn_conf.py"))
    assert config["worker_class"] == "gevent" and config["preload_app"] is False
    assert config["worker_connections"] == 2000 and config["graceful_timeout"] == 30
    assert config["workers"] == 1 and config["accesslog"] is None  # the app logs each request itself
    assert all(callable(config[hook]) for hook in ("on_starting", "when_ready", "post_worker_init", "worker_exit",
                                                   "child_exit", "on_exit"))
    # From a checkout, gunicorn.conf.py is the same settings.
    assert "from chatbot.gunicorn_conf import *" in (ROOT / "gunicorn.conf.py").read_text()


def test_gunicorn_refuses_a_bad_configuration_in_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "CHATBOT_ENV": "production", "INSTANCE_PATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:0",
                             "wsgi:app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "chatbot: configuration error: SECRET_KEY: is required in production" in result.stderr
    assert "Traceback" not in result.stderr


def test_readme_lists_every_variable():
    source = (ROOT / "chatbot" / "settings.py").read_text()
    variables = set(re.findall(r'read\.\w+\(\s*"([A-Z_]+)"', source)) | {"INSTANCE_PATH"}
    table = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    assert variables and {name for name in variables if f"| `{name}` |" not in table} == set()


# Supabase: a project URL and both its keys, or none of them

LEGACY_ANON = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.c2ln"  # {"role": "anon"}
LEGACY_SERVICE = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2ln"  # {"role": "service_role"}
SUPABASE = {"SUPABASE_URL": "https://abcdefgh.supabase.co", "SUPABASE_PUBLISHABLE_KEY": "sb_publishable_x",
            "SUPABASE_SECRET_KEY": "sb_secret_y"}


def supabase_settings(tmp_path, **variables):
    from chatbot.settings import Settings

    return Settings.from_env({"CHATBOT_ENV": "development", "SECRET_KEY": "k", **variables}, str(tmp_path))


def test_supabase_is_chosen_by_its_url_and_keys(tmp_path):
    chosen = supabase_settings(tmp_path, **SUPABASE, SUPABASE_AUTH_PROVIDERS="GitHub, google")
    assert chosen.uses_supabase and chosen.supabase_url == "https://abcdefgh.supabase.co"
    assert chosen.supabase_auth_providers == ("github", "google")
    assert not supabase_settings(tmp_path).uses_supabase


def test_the_legacy_key_names_are_accepted(tmp_path):
    chosen = supabase_settings(tmp_path, SUPABASE_URL="https://abcdefgh.supabase.co",
                               SUPABASE_ANON_KEY=LEGACY_ANON, SUPABASE_SERVICE_ROLE_KEY=LEGACY_SERVICE)
    assert (chosen.supabase_publishable_key, chosen.supabase_secret_key) == (LEGACY_ANON, LEGACY_SERVICE)


@pytest.mark.parametrize("variable, changes", [
    ("SUPABASE_URL", {"SUPABASE_URL": "abcdefgh.supabase.co"}),
    ("SUPABASE_URL", {"SUPABASE_URL": "https://abcdefgh.supabase.co/rest/v1"}),
    ("SUPABASE_URL", {"SUPABASE_URL": ""}),  # keys without a project
    ("SUPABASE_PUBLISHABLE_KEY", {"SUPABASE_PUBLISHABLE_KEY": ""}),
    ("SUPABASE_SECRET_KEY", {"SUPABASE_SECRET_KEY": ""}),
    ("SUPABASE_PUBLISHABLE_KEY", {"SUPABASE_PUBLISHABLE_KEY": "sb_secret_y"}),  # a secret where a page-safe key goes
    ("SUPABASE_SECRET_KEY", {"SUPABASE_SECRET_KEY": "sb_publishable_x"}),
    ("SUPABASE_ANON_KEY", {"SUPABASE_PUBLISHABLE_KEY": "", "SUPABASE_ANON_KEY": LEGACY_SERVICE}),
    ("SUPABASE_AUTH_PROVIDERS", {"SUPABASE_AUTH_PROVIDERS": "github,myspace"}),
    ("DATABASE_URL", {"DATABASE_URL": "postgresql://db/chat"}),
])
def test_a_bad_supabase_setting_names_its_variable(tmp_path, variable, changes):
    with pytest.raises(ConfigError) as error:
        supabase_settings(tmp_path, **{**SUPABASE, **changes})
    assert error.value.variable == variable


def test_production_on_supabase_needs_the_public_url(tmp_path):
    with pytest.raises(ConfigError) as error:
        supabase_settings(tmp_path, **SUPABASE, CHATBOT_ENV="production")
    assert error.value.variable == "PUBLIC_URL"


def test_the_keys_never_show_in_the_settings_repr(tmp_path):
    shown = repr(supabase_settings(tmp_path, **SUPABASE, OPENAI_API_KEY="sk-live-zzz"))
    assert "https://abcdefgh.supabase.co" in shown
    for secret in ("sb_publishable_x", "sb_secret_y", "sk-live-zzz", "secret_key="):
        assert secret not in shown
