"""Presets: a user's named ways to start a chat (a system prompt, a model and its
parameters); the rules for saving, finding and deleting them."""
from __future__ import annotations

from typing import Mapping

from .chats import MAX_SYSTEM_PROMPT
from .errors import InvalidInput, NotFound
from .models.catalog import Catalog
from .models.parameters import parse as parse_parameters
from .store import DuplicateName, Preset, Store

MAX_NAME = 100


def list_presets(store: Store, owner_id: str) -> list[Preset]:
    return store.presets(owner_id)


def get_preset(store: Store, owner_id: str, preset_id: str) -> Preset:
    """The preset, if ``owner_id`` owns it; NotFound otherwise (someone else's included)."""
    preset = store.preset(owner_id, preset_id)
    if preset is None:
        raise NotFound(preset_id)
    return preset


def save_preset(store: Store, models: Catalog, owner_id: str, form: Mapping[str, str],
                preset_id: str | None = None) -> Preset:
    """A new preset from the form's name, system prompt, model and parameters, or, with
    ``preset_id``, that preset changed to them. InvalidInput naming the first field that is
    wrong (nothing is saved then); NotFound if ``preset_id`` is not the owner's."""
    name = " ".join((form.get("name") or "").split())
    if not name:
        raise InvalidInput("name", "Give the preset a name.")
    if len(name) > MAX_NAME:
        raise InvalidInput("name", f"Keep the name under {MAX_NAME} characters.")
    prompt = (form.get("system_prompt") or "").strip()
    if len(prompt) > MAX_SYSTEM_PROMPT:
        raise InvalidInput("system_prompt", f"Keep the system prompt under {MAX_SYSTEM_PROMPT:,} characters.")
    parameters = parse_parameters(form)
    model = models.pick(form.get("model") or None).name  # on offer, or refused
    try:
        if preset_id is None:
            return store.add_preset(owner_id, name, prompt, model, parameters)
        saved = store.update_preset(owner_id, preset_id, name=name, system_prompt=prompt, model=model,
                                    parameters=parameters)
    except DuplicateName:
        raise InvalidInput("name", f"You have a preset called “{name}” already: give this one another name.") from None
    if saved is None:
        raise NotFound(preset_id)
    return saved


def delete_preset(store: Store, owner_id: str, preset_id: str) -> None:
    if not store.delete_preset(owner_id, preset_id):
        raise NotFound(preset_id)
