"""A chat's model parameters: how the model writes its replies (temperature, top-p, the
longest reply, and how hard a reasoning model thinks), as the user set them; each unset one
is left to the model's own default and never sent."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Mapping

from ..errors import InvalidInput

REASONING_EFFORTS = ("minimal", "low", "medium", "high")
MAX_OUTPUT_TOKENS = 1_000_000


@dataclass(frozen=True)
class Parameters:
    temperature: float | None = None  # 0 to 2: how freely it picks words
    top_p: float | None = None  # above 0, up to 1: the share of likely words it picks from
    max_tokens: int | None = None  # the longest reply, in tokens
    reasoning_effort: str | None = None  # for models that reason first: one of REASONING_EFFORTS

    def as_json(self) -> str:
        return json.dumps({name: value for name, value in asdict(self).items() if value is not None},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | Mapping | None) -> Parameters:
        """As stored (JSON text, or the object itself where the database parses it); what is
        not understood is left out, never an error: the chat still opens."""
        try:
            values = json.loads(text) if isinstance(text, str) else dict(text or {})
            return parse({name: str(value) for name, value in values.items() if value is not None})
        except (ValueError, TypeError, InvalidInput):
            return cls()


def parse(form: Mapping[str, str]) -> Parameters:
    """The parameters from a form's fields (blank: the model's default). InvalidInput
    naming the field, with what is allowed, for anything else."""
    return Parameters(
        temperature=_number(form, "temperature", "Temperature", 0, 2),
        top_p=_number(form, "top_p", "Top-p", 0, 1, above_minimum=True),
        max_tokens=_whole(form, "max_tokens", "Longest reply", 1, MAX_OUTPUT_TOKENS),
        reasoning_effort=_choice(form, "reasoning_effort"),
    )


def _number(form, field: str, label: str, low: float, high: float, above_minimum: bool = False) -> float | None:
    text = (form.get(field) or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (low < value <= high if above_minimum else low <= value <= high):
        raise InvalidInput(field, f"{label} is a number {'above' if above_minimum else 'from'} {low:g} "
                                  f"{'and up to' if above_minimum else 'to'} {high:g}, or blank for the model's default.")
    return value


def _whole(form, field: str, label: str, low: int, high: int) -> int | None:
    text = (form.get(field) or "").strip().replace(",", "")
    if not text:
        return None
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidInput(field, f"{label} is a whole number of tokens from {low:,} to {high:,}, "
                                  "or blank for the model's default.")
    return int(text)


def _choice(form, field: str) -> str | None:
    text = (form.get(field) or "").strip()
    if not text:
        return None
    if text not in REASONING_EFFORTS:
        raise InvalidInput(field, f"Reasoning effort is one of {', '.join(REASONING_EFFORTS)}, or blank.")
    return text
