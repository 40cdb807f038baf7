"""The operator's model providers, as configured: a small TOML file (``MODELS_CONFIG``), or,
without one, the ``OPENAI_*`` variables as a single provider. Read once at start-up; a
mistake raises ValueError with a sentence naming the key, which settings turns into a
configuration error that stops the server.

    default = "ollama/llama3.2"          # optional: the model new chats start with

    [providers.openai]
    api_key_env = "OPENAI_API_KEY"       # the variable holding the key (kept out of the file)
    models = ["gpt-4o-mini", "gpt-4o"]   # optional: only these of what it serves

    [providers.ollama]
    label = "Ollama on the GPU box"      # optional: the heading of its models in the picker
    base_url = "http://gpu-box:11434/v1"
    names = { "llama3.2" = "Llama 3.2" } # optional: models shown under other names
    exclude = ["*embed*"]                # optional: patterns of models never offered
    reasoning = ["qwq*"]                 # optional: patterns of models that take a reasoning effort
    prices = { "llama3.2" = [0, 0] }     # optional: per million tokens, in and out (the usage page's costs)
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlsplit

# What /v1/models lists besides chat models (OpenAI's embeddings, speech, images...):
# never offered unless a provider's ``exclude`` says otherwise.
NOT_CHAT = ("*embed*", "*tts*", "*whisper*", "dall-e*", "*moderation*", "*realtime*", "*transcribe*", "*audio*",
            "*image*", "davinci*", "babbage*", "*search*")
# Models that think before they answer, and so take a reasoning effort (by their names).
REASONING = ("o1*", "o3*", "o4*", "gpt-5*", "*reasoner*", "*-r1*", "deepseek-r1*", "qwq*")
REFRESH_SECONDS = 300.0  # how long a provider's list of models is trusted before it is asked again
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")
_PROVIDER_KEYS = {"label", "base_url", "api_key", "api_key_env", "models", "exclude", "names", "refresh_seconds",
                  "reasoning", "prices"}


@dataclass(frozen=True)
class ProviderConfig:
    name: str  # the first part of its models' ids: "ollama" in "ollama/llama3.2"
    label: str  # the heading of its models in the picker
    base_url: str | None  # None: OpenAI's own
    api_key: str | None = field(default=None, repr=False)  # never shown, never logged
    models: tuple[str, ...] | None = None  # only these are offered (None: all it serves)
    exclude: tuple[str, ...] = NOT_CHAT  # patterns (fnmatch) of models never offered
    names: Mapping[str, str] = field(default_factory=dict)  # model -> the name it is shown by
    refresh: float = REFRESH_SECONDS
    reasoning: tuple[str, ...] = REASONING  # patterns of its models that take a reasoning effort
    prices: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # model -> per million tokens in, out


@dataclass(frozen=True)
class ModelsConfig:
    providers: tuple[ProviderConfig, ...] = ()  # none: the built-in offline responder answers
    default: str | None = None  # "provider/model"; None: the first model on offer


def from_file(path: str, environ: Mapping[str, str]) -> ModelsConfig:
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path} is not valid TOML: {error}") from None
    unknown = set(data) - {"default", "providers"}
    if unknown:
        raise ValueError(f"{path}: unknown key {sorted(unknown)[0]!r} (expected default and [providers.NAME] tables)")
    tables = data.get("providers")
    if not isinstance(tables, dict) or not tables:
        raise ValueError(f"{path}: no providers: add a [providers.NAME] table for each")
    providers = tuple(_provider(name, table, environ) for name, table in tables.items())
    return ModelsConfig(providers, _default(data.get("default"), providers))


def from_openai_variables(api_key: str | None, base_url: str | None, model: str, models: str | None) -> ModelsConfig:
    """OPENAI_API_KEY / OPENAI_BASE_URL as one provider, "openai"; OPENAI_MODEL its default
    and OPENAI_MODELS (comma-separated) the only models offered, if set."""
    if not (api_key or base_url):
        return ModelsConfig()
    listed = tuple(m.strip() for m in (models or "").split(",") if m.strip())
    label = "OpenAI" if base_url is None else (urlsplit(base_url).hostname or base_url)
    provider = ProviderConfig("openai", label, base_url, api_key, models=listed or None)
    return ModelsConfig((provider,), f"openai/{model}")


def _provider(name: str, table: object, environ: Mapping[str, str]) -> ProviderConfig:
    where = f"providers.{name}"
    if not _NAME.fullmatch(name):
        raise ValueError(f"{where}: a provider's name is lowercase letters, digits, '.', '_' or '-' "
                         f"(it starts every model id, as in {name.lower()}/model)")
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table")
    unknown = set(table) - _PROVIDER_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_PROVIDER_KEYS))})")
    base_url = table.get("base_url")
    if base_url is not None and (not isinstance(base_url, str) or urlsplit(base_url).scheme not in ("http", "https")
                                 or not urlsplit(base_url).hostname):
        raise ValueError(f"{where}.base_url must be an http(s) URL, such as http://localhost:11434/v1")
    api_key = table.get("api_key")
    if "api_key_env" in table:
        variable = table["api_key_env"]
        if not isinstance(variable, str) or not environ.get(variable):
            raise ValueError(f"{where}.api_key_env names {variable!r}, which is not set")
        api_key = environ[variable]
    if base_url is None and not api_key:
        raise ValueError(f"{where} needs a base_url, or an API key (api_key_env) for OpenAI itself")
    refresh = table.get("refresh_seconds", REFRESH_SECONDS)
    if not isinstance(refresh, (int, float)) or refresh <= 0:
        raise ValueError(f"{where}.refresh_seconds must be a number of seconds above 0")
    names = table.get("names", {})
    if not isinstance(names, dict) or not all(isinstance(v, str) and v.strip() for v in names.values()):
        raise ValueError(f'{where}.names must map models to names, as {{ "llama3.2" = "Llama 3.2" }}')
    label = table.get("label", name)
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"{where}.label must be a name")
    reasoning = _strings(table, "reasoning", where)
    return ProviderConfig(name, label.strip(), base_url, api_key, _strings(table, "models", where),
                          _strings(table, "exclude", where) or (NOT_CHAT if "exclude" not in table else ()),
                          {model: shown.strip() for model, shown in names.items()}, float(refresh),
                          REASONING if reasoning is None else reasoning, _prices(table.get("prices", {}), where))


def _prices(prices: object, where: str) -> dict[str, tuple[float, float]]:
    """Prices per million tokens, in and out: ``{ "gpt-4o-mini" = [0.15, 0.60] }``."""
    def valid(pair: object) -> bool:
        return (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(p, (int, float)) and not isinstance(p, bool) and p >= 0 for p in pair))
    if not isinstance(prices, dict) or not all(valid(pair) for pair in prices.values()):
        raise ValueError(f'{where}.prices must map models to [price in, price out] per million tokens, '
                         f'as {{ "gpt-4o-mini" = [0.15, 0.60] }}')
    return {model: (float(pair[0]), float(pair[1])) for model, pair in prices.items()}


def _strings(table: dict, key: str, where: str) -> tuple[str, ...] | None:
    if key not in table:
        return None
    values = table[key]
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f'{where}.{key} must be a list of names, as ["a", "b"]')
    return tuple(values)


def _default(default: object, providers: tuple[ProviderConfig, ...]) -> str | None:
    if default is None:
        return None
    names = [p.name for p in providers]
    if not isinstance(default, str) or default.partition("/")[0] not in names or not default.partition("/")[2]:
        raise ValueError(f"default must be a model id of a configured provider, as {names[0]}/MODEL")
    provider = providers[names.index(default.partition("/")[0])]
    if provider.models is not None and default.partition("/")[2] not in provider.models:
        raise ValueError(f"default {default!r} is not among providers.{provider.name}.models")
    return default
