"""Replies from any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, LM Studio)."""
from __future__ import annotations

import copy
from fnmatch import fnmatchcase
import json
import threading
import time
import urllib.request
import weakref
from typing import Callable, Generator, Iterator
from urllib.parse import urlsplit

import httpx2
import openai

from ..conversation.pacing import Pace
from ..errors import wait_words
from ..logs import REQUEST_ID
from . import Finished, ModelError, OnOpen, Piece, Usage, titles
from .config import REASONING
from .parameters import Parameters
from .transport import ModelTransport


class OpenAICompatible:
    offline = False

    def __init__(self, *, model: str, api_key: str | None, base_url: str | None, timeout: float,
                 max_retries: int, pace: Pace | None = None, first_token_timeout: float = 60.0,
                 connect_timeout: float = 5.0, name: str | None = None, reasoning: tuple[str, ...] = REASONING) -> None:
        self.model = model  # as the provider knows it
        self.name = name or model  # as replies store it: "provider/model" (catalog)
        self.reasoning = reasoning  # patterns of the provider's models that reason (take a reasoning effort)
        self.openai_itself = urlsplit(base_url or "https://api.openai.com/v1").hostname == "api.openai.com"
        self.pace = pace or Pace()  # the reply runner's: how often a stream is read
        # Deadlines of our own (``_Watch``), which mean what they say: ``first_token_timeout``
        # from asking to the first text, retries included; ``timeout`` without new text once
        # it started (a keep-alive comment is not text). The client's own read timeout (time
        # between bytes) would be reset by every comment, and multiplied by every retry.
        self.first_token_timeout, self.idle_timeout = first_token_timeout, timeout
        self.max_retries = max_retries  # ours, honouring Retry-After within the first-token budget
        # One connection per reply being written, as many as the worker holds sockets. Our
        # own transport reads streams for a fraction of the CPU; httpx's handles proxies.
        transport = None if _proxied(base_url or "https://api.openai.com/v1") else ModelTransport()
        http_client = openai.DefaultHttpxClient(
            transport=transport, limits=httpx2.Limits(max_connections=10_000, max_keepalive_connections=1_000))
        weakref.finalize(self, http_client.close)  # we made it, so we close it
        self.connect_timeout = connect_timeout
        self.client = openai.OpenAI(
            api_key=api_key or "not-needed",  # local servers (Ollama, vLLM) ignore the key
            base_url=base_url,
            timeout=httpx2.Timeout(max(timeout, first_token_timeout), connect=connect_timeout),
            max_retries=0,
            http_client=http_client,
        )

    def for_model(self, model: str, name: str) -> OpenAICompatible:
        """The same provider (its client and connections shared) answering as ``model``."""
        other = copy.copy(self)
        other.model, other.name = model, name
        return other

    def list_models(self) -> list[str]:
        """The ids of the models the provider serves (its ``/models``), asked within its
        connect timeout and a few seconds: a provider that is down must not hold anyone."""
        try:
            page = self.client.with_options(timeout=httpx2.Timeout(LIST_TIMEOUT, connect=self.connect_timeout)).models.list()
            return [model.id for model in page.data]
        except openai.APIStatusError as error:
            raise ModelError(_status_reason(error), status=error.status_code, request_id=error.request_id,
                             detail=_provider_said(error) or f"status {error.status_code}") from error
        except (openai.APIError, httpx2.HTTPError, ValueError) as error:
            raise ModelError("The model provider could not be reached.", detail=type(error).__name__) from error

    def options(self, parameters: Parameters) -> dict:
        """The request's fields for the parameters set: OpenAI itself takes the reply's
        length as max_completion_tokens (its reasoning models refuse max_tokens), other
        servers as max_tokens; reasoning effort goes only to a model that reasons."""
        options: dict[str, object] = {}
        if parameters.temperature is not None:
            options["temperature"] = parameters.temperature
        if parameters.top_p is not None:
            options["top_p"] = parameters.top_p
        if parameters.max_tokens is not None:
            options["max_completion_tokens" if self.openai_itself else "max_tokens"] = parameters.max_tokens
        if parameters.reasoning_effort is not None and self.reasons:
            options["reasoning_effort"] = parameters.reasoning_effort
        return options

    @property
    def reasons(self) -> bool:
        """Whether this model thinks before it answers (and takes a reasoning effort)."""
        return any(fnmatchcase(self.model, pattern) for pattern in self.reasoning)

    def title(self, question: str, reply: str) -> str:
        return titles.read(self.stream(titles.conversation(question, reply)))

    def stream(self, conversation: list[dict[str, str]], on_open: OnOpen = None,
               parameters: Parameters | None = None) -> Generator[Piece, None, None]:
        # The client's own post(): its auth, base URL and error mapping, but the raw
        # response, parsed here line by line. The typed path validates the request through
        # typed dicts and builds an object per token, which a busy worker cannot afford.
        body = {"model": self.model, "messages": conversation, "stream": True,
                "stream_options": {"include_usage": True}, **self.options(parameters or Parameters())}
        watch = _Watch(self.first_token_timeout, self.idle_timeout)
        try:
            response = self._ask(body, watch)
            if on_open:
                on_open(response.close)  # closing it wakes a read that is waiting on the model
            watch.guard(response.close)
            try:
                if "json" in response.headers.get("content-type", ""):
                    # Some OpenAI-compatible servers ignore stream=True and answer at once.
                    yield from _whole(json.loads(response.read()))
                else:
                    raw = response.iter_raw() if response.headers.get("content-encoding", "identity") == "identity" \
                        else response.iter_bytes()  # nothing to decode: the raw bytes skip httpx's decoder
                    yield from watch.texts(_pieces(watch.chunks(_paced(raw, self.pace))))
            finally:
                watch.done()
                response.close()  # on an early exit (a stop), this ends the upstream request
        except ModelError:
            if watch.expired:  # our deadline closed the connection, which the reader saw end
                raise watch.expired from None
            raise
        except openai.APIStatusError as error:
            raise ModelError(_status_reason(error), status=error.status_code, request_id=error.request_id,
                             detail=_provider_said(error)) from error
        except (openai.APITimeoutError, httpx2.TimeoutException) as error:
            raise watch.late() from error
        except (openai.APIConnectionError, httpx2.TransportError) as error:
            if watch.expired:  # our deadline closed the connection
                raise watch.expired from error
            raise ModelError("The connection to the model was lost.", detail=type(error).__name__) from error

    def _ask(self, body: dict, watch: _Watch) -> httpx2.Response:
        """Send the request, again on a refusal worth retrying (rate limits, server errors,
        a lost connection) up to ``max_retries`` times, after the wait the provider asks for
        (Retry-After) or a short backoff; never past the first-token deadline."""
        for attempt in range(self.max_retries + 1):
            # Waiting for the answer's headers counts against the first-token deadline too.
            timeout = httpx2.Timeout(max(0.1, watch.left()), connect=min(self.connect_timeout, max(0.1, watch.left())))
            try:
                return self.client.post("/chat/completions", body=body, cast_to=httpx2.Response, stream=True,
                                        options={"timeout": timeout, "headers": _request_id_header()})
            except openai.APIStatusError as error:
                if error.status_code not in RETRIED or attempt == self.max_retries:
                    raise
                wait = _retry_after(error.response)
                if wait is not None and wait > watch.left():
                    raise  # the provider asks for longer than the reply may wait: say when to retry
            except (openai.APIConnectionError, openai.APITimeoutError):
                if attempt == self.max_retries or watch.left() <= 0:
                    raise
                wait = None
            wait = min(wait if wait is not None else 0.5 * 2 ** attempt, watch.left())
            time.sleep(wait)  # cooperative under gevent
        raise AssertionError("unreachable")  # the last attempt returns or raises


LIST_TIMEOUT = 5.0  # seconds for a provider to list its models
RETRIED = (408, 409, 429, 500, 502, 503, 504)  # the statuses worth asking again


class _Watch:
    """The reply's deadlines: its first text within ``first`` seconds of asking (retries
    included), then new text at least every ``idle`` seconds. Only text counts: keep-alive
    comments and empty deltas keep a connection open, not a reply alive. Checked at every
    chunk, and by a timer that closes the connection when a deadline passes in silence."""

    def __init__(self, first: float, idle: float) -> None:
        self.first, self.idle = first, idle
        self.asked = time.monotonic()
        self.last_text: float | None = None
        self.expired: ModelError | None = None
        self._over = threading.Event()

    def deadline(self) -> float:
        return self.last_text + self.idle if self.last_text is not None else self.asked + self.first

    def left(self) -> float:
        return self.deadline() - time.monotonic()

    def late(self) -> ModelError:
        if self.last_text is None:
            return ModelError(f"The model did not start answering within {self.first:g} seconds. Try again.",
                              detail="first-token deadline")
        return ModelError("The model stopped sending text, so the reply was cut off.", detail="content-idle deadline")

    def chunks(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            if self.left() <= 0:
                self.expired = self.late()
                raise self.expired
            yield chunk

    def texts(self, pieces: Iterator[Piece]) -> Iterator[Piece]:
        for piece in pieces:
            if isinstance(piece, str):
                self.last_text = time.monotonic()
            yield piece

    def guard(self, close: Callable[[], None]) -> None:
        """Close the connection if a deadline passes with nothing arriving at all."""
        def watch() -> None:
            while not self._over.wait(max(0.05, min(self.left(), 1.0))):
                if self.left() <= 0:
                    self.expired = self.late()
                    close()
                    return
        threading.Thread(target=watch, daemon=True, name="model-deadline").start()

    def done(self) -> None:
        self._over.set()


def _paced(chunks: Iterator[bytes], pace: Pace) -> Iterator[bytes]:
    """``chunks``, read no more often than once per window (``pace``): what arrives in
    between waits in the socket's buffer and comes with the next read, to be read, parsed
    and published in one step. Live text goes out once per window anyway, so reading each
    token as it came would cost a wake-up, a read and a parse per token for nothing. The
    first read is not held back."""
    for chunk in chunks:
        due = time.monotonic() + pace.window
        yield chunk
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)


def _pieces(chunks: Iterator[bytes]) -> Iterator[Piece]:
    """The text (and usage) in a stream of server-sent events. All the text that one read
    brought comes out as one piece: a burst of tokens is one step for the caller."""
    finished = done = False
    pending = b""  # an incomplete line, waiting for the rest
    for chunk in chunks:
        *lines, pending = (pending + chunk).split(b"\n")
        payloads: list[bytes] = []
        for line in lines:
            if not line.startswith(b"data:"):
                continue  # blank separators, comments, "event:" lines
            data = line[5:].strip()
            if data == b"[DONE]":
                done = True
                break
            payloads.append(data)
        texts: list[str] = []
        try:
            for event in _events(payloads):
                if "error" in event:  # some servers report a failure inside the stream
                    message = (event["error"] or {}).get("message") or "unknown error"
                    raise ModelError(f"The model reported an error: {message}")
                for choice in event.get("choices") or ():
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        texts.append(text)
                    if choice.get("finish_reason"):
                        finished = True
                        yield from _flush(texts)
                        yield Finished(choice["finish_reason"])
                usage = event.get("usage")
                if usage:
                    yield from _flush(texts)
                    yield Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
        except ModelError:
            yield from _flush(texts)  # what came before the failure is kept
            raise
        yield from _flush(texts)
        if done:
            return
    if not finished:  # neither [DONE] nor a finish_reason: the stream was cut short
        raise ModelError("The connection to the model was lost.")


def _events(payloads: list[bytes]) -> list[dict] | Iterator[dict]:
    """The events of one read, parsed as one JSON array: one call into the parser for the
    whole burst, not one per token. If that fails, one at a time, to keep those before the
    one that cannot be read."""
    if not payloads:
        return []
    try:
        events = json.loads(b"[" + b",".join(payloads) + b"]")
    except ValueError:
        return _each(payloads)
    # A payload such as `1, 2` parses inside the array but is no event of its own.
    return events if len(events) == len(payloads) else _each(payloads)


def _each(payloads: list[bytes]) -> Iterator[dict]:
    for data in payloads:
        try:
            yield json.loads(data)
        except ValueError:
            raise ModelError("The model sent a response that could not be read.") from None


def _flush(texts: list[str]) -> Iterator[str]:
    if texts:
        yield "".join(texts)
        texts.clear()


def _whole(completion: dict) -> Iterator[Piece]:
    for choice in completion.get("choices") or ():
        text = (choice.get("message") or {}).get("content")
        if text:
            yield text
        if choice.get("finish_reason"):
            yield Finished(choice["finish_reason"])
    usage = completion.get("usage")
    if usage:
        yield Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))


def _proxied(url: str) -> bool:
    """Whether the environment sends requests for ``url`` through a proxy."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    return bool(proxies.get(parts.scheme) or proxies.get("all")) and not urllib.request.proxy_bypass(parts.hostname or "")


def _status_reason(error: openai.APIStatusError) -> str:
    """What a refusal means, in words the user (or, for a bad key or model, the operator) can act on."""
    status = error.status_code
    if status in (401, 403):
        return "The model provider rejected the API key: the operator must check its key."
    if status == 404:
        return "The model provider does not know this model: the operator must check the models configured."
    if status == 429:
        wait = _retry_after(error.response)
        when = f"in {wait_words(wait)}" if wait is not None else "in a minute"
        return f"The model provider is rate-limiting requests. Retry {when}."
    if status in (400, 413) and _too_long(error):
        return ("This conversation is longer than the model can read. Start a new chat, or send a "
                "shorter message.")
    if status >= 500:
        return f"The model provider had an internal error ({status}). Retry in a minute."
    return f"The model provider refused the request ({status})."


def _retry_after(response: httpx2.Response) -> float | None:
    """Seconds until the provider takes requests again, as its headers say (OpenAI sends
    retry-after-ms too)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(0.0, float(response.headers[name]) * scale)
        except (KeyError, ValueError):
            continue
    return None


def _too_long(error: openai.APIStatusError) -> bool:
    said = _provider_said(error).lower()
    return getattr(error, "code", None) == "context_length_exceeded" or any(
        words in said for words in ("context length", "context window", "maximum context", "too many tokens",
                                    "prompt is too long"))


def _provider_said(error: openai.APIStatusError) -> str:
    """The provider's own message, short and on one line (an HTML error page is not one)."""
    body = error.body if isinstance(error.body, dict) else None
    message = (body or {}).get("message") or ""
    if not message and "json" in error.response.headers.get("content-type", ""):
        message = error.message
    return " ".join(str(message).split())[:300]


def _request_id_header() -> dict[str, str]:
    """The id of the request this reply is for, in the header OpenAI logs (and shows its
    support) as the client's own: one id finds the request in both logs."""
    request_id = REQUEST_ID.get()
    return {"X-Client-Request-Id": request_id} if request_id else {}
