"""The model seam: something that turns a conversation into a stream of text.

Two implementations: ``openai_compatible.OpenAICompatible`` (any OpenAI-style endpoint,
through the official client) and ``offline.OfflineResponder`` (built in, no network).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generator, Optional, Protocol, Union

from .parameters import Parameters


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None
    completion_tokens: int | None


@dataclass(frozen=True)
class Finished:
    """Why the model ended its reply, as it said: "stop", or "length" when its output limit
    (the longest reply) cut it off, which Continue carries on from."""
    reason: str


# A stream yields pieces of text, at most one Finished and, last, at most one Usage.
Piece = Union[str, Finished, Usage]
# Called by a model once its request is in flight, with a function that aborts it: a Stop
# must not wait for the next token of a model that has gone quiet.
OnOpen = Optional[Callable[[Callable[[], None]], None]]


class ModelError(Exception):
    """Generation failed. ``str(error)`` is a sentence fit to show the user.
    Text yielded before the error was real output and is kept by the caller.

    For the log (never shown, never holding a key): the provider's HTTP ``status`` and its
    ``request_id`` (what its support asks for), and ``detail``, what the provider said."""

    def __init__(self, message: str, *, status: int | None = None, request_id: str | None = None,
                 detail: str = "") -> None:
        super().__init__(message)
        self.status, self.request_id, self.detail = status, request_id, detail


class ChatModel(Protocol):
    name: str  # the model name stored with each reply
    offline: bool  # True for the built-in responder, so the UI can say so
    reasons: bool  # whether it thinks before it answers (and so takes a reasoning effort)

    def stream(self, conversation: list[dict], on_open: OnOpen = None,
               parameters: Parameters | None = None) -> Generator[Piece, None, None]:
        """Yield the reply to ``conversation`` ([{"role", "content"}, ...]; a content is text,
        or a list of text and image parts when files are attached) piece by piece, written
        as ``parameters`` say (those set; the model's defaults for the rest).
        Raise ModelError (possibly after some pieces) when the model fails. Closing the
        generator early (a stop) ends the request to the model."""
        ...

    def title(self, question: str, reply: str) -> str:
        """A few words naming a chat that began with ``question`` and ``reply`` (raw: the
        caller cleans it). Raise ModelError if the model fails."""
        ...


def text_of(content: str | list[dict]) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts
    (text and images, in the OpenAI chat format)."""
    if isinstance(content, str):
        return content
    return "\n".join(part.get("text", "") for part in content if part.get("type") == "text")


def estimate_tokens(text: str) -> int:
    """A provider-independent estimate (about four characters a token in English)."""
    return len(text) // 4 + 1
