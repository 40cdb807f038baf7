"""The models on offer: the operator's providers and the models each one serves (asked of
its ``/v1/models`` now and then, in the background), the names they are shown by, the
default, which ones users may pick (the admin's choice), and which model answers a message.

A model's id is ``provider/model`` ("ollama/llama3.2"): what chats and replies store. With
no provider configured, the built-in offline responder is the only model.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Callable, Iterable, Protocol

from ..errors import InvalidInput, Unavailable
from . import ChatModel, ModelError
from .config import ProviderConfig

log = logging.getLogger(__name__)

FIRST_WAIT = 2.0  # seconds a page waits for a provider's first list of models (later ones never wait)
RETRY_FAILED = 30.0  # seconds before a provider that did not answer is asked again
RESTRICTION_SECONDS = 5.0  # how long a process trusts the admin's restriction it read
ALLOWED_MODELS = "allowed_models"  # the directory setting: a JSON list of ids, or absent for all
OFFLINE_LABEL = "offline responder"
OFFLINE_ID = "offline-responder"


@dataclass(frozen=True)
class Choice:
    id: str  # "provider/model"
    label: str  # the name it is shown by
    group: str  # its provider's label: the picker groups models under it


class Lister(Protocol):
    """A provider's client: it lists the provider's models and answers as any one of them."""

    def list_models(self) -> list[str]: ...
    def for_model(self, model: str, name: str) -> ChatModel: ...  # with ``reasons``: whether it takes a reasoning effort


class Provider:
    """One configured provider: its client, and the models it serves, as it last listed
    them. The list is refreshed in the background once it is older than the provider's
    ``refresh``; a provider that does not answer keeps its last list (or, never having
    answered, offers the operator's list or nothing) and is asked again later."""

    def __init__(self, config: ProviderConfig, client: Lister) -> None:
        self.config, self.client = config, client
        self._listed: tuple[str, ...] | None = None  # its last answer
        self._fresh_until = 0.0
        self._refreshing: threading.Event | None = None
        self._lock = threading.Lock()
        self._models: dict[str, ChatModel] = {}

    @property
    def name(self) -> str:
        return self.config.name

    def served(self) -> tuple[str, ...]:
        """The models it offers: what it lists, narrowed by the operator's ``models`` or
        ``exclude``. Only the first call waits (briefly) for its answer."""
        refreshing = self._refresh_if_due()
        if self._listed is None and refreshing is not None:
            refreshing.wait(FIRST_WAIT)
        listed, wanted = self._listed, self.config.models
        if listed is None:
            return wanted or ()
        if wanted is not None:
            return tuple(m for m in wanted if m in listed)
        return tuple(m for m in listed if not any(fnmatchcase(m, p) for p in self.config.exclude))

    def model(self, model: str) -> ChatModel:
        if model not in self._models:
            self._models[model] = self.client.for_model(model, f"{self.name}/{model}")
        return self._models[model]

    def label(self, model: str) -> str:
        return self.config.names.get(model, model)

    def _refresh_if_due(self) -> threading.Event | None:
        """Start asking for the list if it is due; the event of the asking under way, if any."""
        with self._lock:
            if self._refreshing is None and time.monotonic() >= self._fresh_until:
                self._refreshing = threading.Event()
                threading.Thread(target=self._refresh, args=(self._refreshing,), daemon=True,
                                 name=f"models-{self.name}").start()
            return self._refreshing

    def _refresh(self, done: threading.Event) -> None:
        fresh_for = min(self.config.refresh, RETRY_FAILED)
        try:
            self._listed = tuple(sorted(self.client.list_models()))
            fresh_for = self.config.refresh
        except ModelError as error:
            log.warning("provider %s did not list its models (%s): %s", self.name, error.detail or error,
                        "its last list stays" if self._listed is not None else "none of its models are offered yet")
        except Exception:  # noqa: BLE001 - a surprise in one provider must not break the pages
            log.exception("provider %s: listing its models failed", self.name)
        finally:
            with self._lock:
                self._fresh_until = time.monotonic() + fresh_for
                self._refreshing = None
            done.set()


class Catalog:
    """Every model on offer and which one answers. Built from the providers (``providers``)
    or around one fixed model (``Catalog.of``: the offline responder, or a test's)."""

    def __init__(self, providers: Iterable[Provider] = (), default: str | None = None, *,
                 fixed: ChatModel | None = None, setting: Callable[[str], str | None] | None = None,
                 set_setting: Callable[[str, str], None] | None = None) -> None:
        self.providers = {p.name: p for p in providers}
        self.default, self.fixed = default, fixed
        self._setting, self._set_setting = setting, set_setting  # the directory's: where the restriction lives
        self._restriction: tuple[float, frozenset[str] | None] = (0.0, None)

    @classmethod
    def of(cls, model: ChatModel) -> Catalog:
        return cls(fixed=model)

    @property
    def offline(self) -> bool:
        """Whether the built-in responder, not a language model, answers: the UI says so."""
        return self.fixed is not None and self.fixed.offline

    # What is on offer
    def choices(self) -> list[Choice]:
        """Every model the providers offer, by provider in the configured order. The
        configured default is always among them, first of its provider's, even while its
        provider does not list it (a provider without /models, or one that is down)."""
        if self.fixed is not None:
            return [Choice(self.fixed.name, self.label(self.fixed.name), "")]
        default_provider, _, default_model = (self.default or "").partition("/")
        choices = []
        for provider in self.providers.values():
            served = provider.served()
            if provider.name == default_provider and default_model not in served:
                served = (default_model, *served)
            choices += [Choice(f"{provider.name}/{m}", provider.label(m), provider.config.label) for m in served]
        return choices

    def offered(self) -> list[Choice]:
        """The choices users may pick: those the admin allows (all, unless restricted)."""
        allowed = self.restriction()
        return [c for c in self.choices() if allowed is None or c.id in allowed]

    def reasons(self, model_id: str) -> bool:
        """Whether the model thinks before it answers (so a reasoning effort applies)."""
        provider, _, model = model_id.partition("/")
        return provider in self.providers and self.providers[provider].model(model).reasons

    def price(self, model_id: str | None) -> tuple[float, float] | None:
        """What the operator says the model costs per million tokens, in and out (None: unknown)."""
        provider, _, model = (model_id or "").partition("/")
        if model_id == OFFLINE_ID or (self.fixed is not None and model_id == self.fixed.name and self.fixed.offline):
            return (0.0, 0.0)  # the built-in responder costs nothing
        return self.providers[provider].config.prices.get(model) if provider in self.providers else None

    def label(self, model_id: str) -> str:
        if self.fixed is not None and model_id == self.fixed.name:
            return OFFLINE_LABEL if self.fixed.offline else model_id
        if model_id == OFFLINE_ID:
            return OFFLINE_LABEL
        provider, _, model = model_id.partition("/")
        return self.providers[provider].label(model) if provider in self.providers else model_id

    # Which model answers
    def pick(self, requested: str | None = None, remembered: str | None = None) -> ChatModel:
        """The model to answer with: ``requested`` (what the picker sent), which must be on
        offer; without one, ``remembered`` (the chat's) while it is on offer; else the default.
        InvalidInput (field "model") for a model not on offer; Unavailable if none is."""
        if self.fixed is not None:
            return self.fixed
        offered = [c.id for c in self.offered()]
        if requested:
            if requested not in offered:
                raise InvalidInput("model", "That model is not available. Pick another one.")
            return self._model(requested)
        chosen = self.chosen(offered, remembered)
        if chosen is None:
            raise Unavailable("No model is available just now: the model providers are not answering. "
                              "Try again in a minute.", retry_after=RETRY_FAILED)
        return self._model(chosen)

    def chosen(self, offered: list[str], remembered: str | None = None) -> str | None:
        """Of the ids ``offered``, the one a message that names no model goes to (and the
        picker shows chosen): ``remembered`` (the chat's) while offered, else the default,
        else the first; None if nothing is offered."""
        for candidate in (remembered, self.default):
            if candidate in offered:
                return candidate
        return offered[0] if offered else None

    def _model(self, model_id: str) -> ChatModel:
        provider, _, model = model_id.partition("/")
        return self.providers[provider].model(model)

    # The admin's restriction
    def restriction(self) -> frozenset[str] | None:
        """The ids users may pick, or None for every model on offer (read from the directory,
        trusted for a few seconds: another process's change applies that much later)."""
        if self._setting is None:
            return None
        read_at, allowed = self._restriction
        if time.monotonic() - read_at >= RESTRICTION_SECONDS:
            try:
                value = self._setting(ALLOWED_MODELS)
            except Unavailable:
                return allowed  # the database is away: the last restriction read stands meanwhile
            allowed = frozenset(json.loads(value)) if value else None
            self._restriction = (time.monotonic(), allowed)
        return allowed

    def restrict(self, allowed: Iterable[str] | None) -> None:
        """Let users pick only ``allowed`` (None: everything on offer)."""
        if self._set_setting is None:
            raise RuntimeError("this catalog has no directory to keep a restriction in")
        allowed = None if allowed is None else frozenset(allowed)
        self._set_setting(ALLOWED_MODELS, "" if allowed is None else json.dumps(sorted(allowed)))
        self._restriction = (time.monotonic(), allowed)
