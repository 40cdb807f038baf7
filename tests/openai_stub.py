"""A loopback OpenAI-compatible server for the tests: the real ``openai`` client talks
to it over HTTP. The requested model name picks the behaviour:

| model           | answer                                                            |
|-----------------|-------------------------------------------------------------------|
| ``stub``        | streams REPLY in chunks, then usage and [DONE]                     |
| ``stub-json``   | ignores stream=True and answers with one JSON completion          |
| ``stub-echo``   | streams back the conversation it received, as JSON                |
| ``stub-slow``   | like ``stub`` with a pause before each chunk (SLOW_DELAY seconds) |
| ``stub-stall``  | two chunks, then silence for STALL_SECONDS                        |
| ``stub-drop``   | two chunks, then the connection is cut (no terminating chunk)     |
| ``stub-in-band-error`` | two chunks, then an error object inside the stream         |
| ``stub-garbled`` | two chunks, then an event that is not JSON                       |
| ``stub-429`` / ``stub-500`` | that status, every time                              |
| ``stub-429-later`` | 429 with ``Retry-After: 20``                                   |
| ``stub-context`` | 400 ``context_length_exceeded``, as OpenAI words it              |
| ``stub-502-html`` | 502 with an HTML page for a body, as a proxy in front answers   |
| ``stub-keepalive`` | two chunks, then only ``: keepalive`` comments, 5 a second     |
| ``stub-empty-deltas`` | two chunks, then only chunks with empty content, 5 a second |
| ``stub-silent`` | accepts the request and never answers (for STALL_SECONDS)          |
| ``stub-429-once`` | 429 with ``Retry-After: 1`` to its first request, then ``stub`` |
| ``stub-429-long`` | 429 with ``Retry-After: 30``                                    |
| ``stub-length`` | REPLY, ended by ``finish_reason: length``; asked again with the reply last, the rest |

Every error answer carries ``x-request-id: req_stub_<n>``, as OpenAI's do.
| anything else   | 404 model_not_found                                               |

A request whose bearer token is not ``API_KEY`` gets 401, as OpenAI answers.
``GET /v1/models`` lists ``models`` (counted in ``listings``). A request for a chat's title
(the app's title prompt) is answered with ``title``, whatever the model, and kept in ``titles``.
"""
from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from chatbot.models import titles

API_KEY = "sk-test-stub"
REPLY = ["Hello", " from", " the", " stub", "", " model", "."]
SLOW_DELAY = 0.15  # longer than the pacing window of an idle worker: each token is its own read
STALL_SECONDS = 5.0


# What GET /v1/models lists unless told otherwise: the models above, and one that is no chat model.
MODELS = ("stub", "stub-json", "stub-echo", "stub-slow", "text-embedding-3-small")


class StubOpenAI:
    def __init__(self, models: tuple[str, ...] = MODELS) -> None:
        self.requests: list[dict] = []  # every request body received, for assertions
        self.request_headers: list[dict] = []  # and their headers, alike
        self.models = models  # what GET /v1/models lists
        self.listings = 0  # GET /v1/models requests answered
        self.titles: list[dict] = []  # requests for a chat's title (not in ``requests``)
        self.title = "**Title:** Rock pools at low tide."  # how it answers them
        self.server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def __enter__(self) -> StubOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # cut and stalled connections end in socket errors on purpose


def _chunk(content: str | None = None, finish: str | None = None, usage: dict | None = None) -> dict:
    choices = [] if usage else [{"index": 0, "delta": {"content": content} if content is not None else {},
                                 "finish_reason": finish}]
    return {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": "stub",
            "choices": choices, **({"usage": usage} if usage else {})}


def _handler(stub: StubOpenAI):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            if self.path.rstrip("/") != "/v1/models":
                return self._json(404, {"error": {"message": "Not found", "type": "invalid_request_error"}})
            if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                return self._json(401, {"error": {"message": "Incorrect API key provided",
                                                  "type": "invalid_request_error", "code": "invalid_api_key"}})
            stub.listings += 1
            self._json(200, {"object": "list", "data": [
                {"id": model, "object": "model", "created": 0, "owned_by": "stub"} for model in stub.models]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if body["messages"][0]["content"] == titles.PROMPT:  # the app naming a chat
                stub.titles.append(body)
                return self._stream(re.findall(r"\S+\s*", stub.title), finish=True)
            stub.requests.append(body)
            stub.request_headers.append(dict(self.headers))
            if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                return self._json(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                                  "code": "invalid_api_key"}})
            model = body.get("model")
            if model == "stub-429":
                return self._json(429, {"error": {"message": "Rate limit reached", "type": "requests"}},
                                  {"Retry-After": "0"})
            if model == "stub-429-later":
                return self._json(429, {"error": {"message": "Rate limit reached", "type": "requests"}},
                                  {"Retry-After": "20"})
            if model == "stub-keepalive":
                return self._stream(REPLY[:2], then=lambda: self._every(lambda: self._write(b": keepalive\n\n")))
            if model == "stub-empty-deltas":
                return self._stream(REPLY[:2], then=lambda: self._every(lambda: self._event(_chunk(""))))
            if model == "stub-silent":
                time.sleep(STALL_SECONDS)
                return self._cut()
            if model == "stub-429-once" and sum(r.get("model") == model for r in stub.requests) == 1:
                return self._json(429, {"error": {"message": "Rate limit reached", "type": "requests"}},
                                  {"Retry-After": "1"})
            if model == "stub-429-once":
                return self._stream(REPLY, finish=True)
            if model == "stub-429-long":
                return self._json(429, {"error": {"message": "Rate limit reached", "type": "requests"}},
                                  {"Retry-After": "30"})
            if model == "stub-context":
                return self._json(400, {"error": {
                    "message": "This model's maximum context length is 8192 tokens. However, your messages "
                               "resulted in 9120 tokens. Please reduce the length of the messages.",
                    "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}})
            if model == "stub-502-html":
                return self._raw(502, b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
                                 "text/html")
            if model == "stub-500":
                return self._json(500, {"error": {"message": "The server had an error", "type": "server_error"}})
            if model == "stub-json":
                return self._json(200, {
                    "id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(REPLY)},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 6, "total_tokens": 17}})
            if model == "stub-echo":
                return self._stream([json.dumps(body["messages"])], finish=True)
            if model == "stub-length":  # cut off at its limit; asked to carry on, it finishes
                if body["messages"][-1]["role"] == "assistant":
                    return self._stream([" And", " the rest."], finish=True)
                return self._stream(REPLY, finish="length")
            if model in ("stub", "stub-slow"):
                return self._stream(REPLY, finish=True, delay=SLOW_DELAY if model == "stub-slow" else 0)
            if model == "stub-stall":
                return self._stream(REPLY[:2], then=lambda: time.sleep(STALL_SECONDS))
            if model == "stub-drop":
                return self._stream(REPLY[:2], then=self._cut)
            if model == "stub-garbled":
                return self._stream(REPLY[:2], then=lambda: self._write(b'data: {"choices": [\n\n'))
            if model == "stub-in-band-error":
                return self._stream(REPLY[:2], then=lambda: self._event(
                    {"error": {"message": "overloaded", "type": "server_error"}}))
            return self._json(404, {"error": {"message": f"The model `{model}` does not exist",
                                              "type": "invalid_request_error", "code": "model_not_found"}})

        def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
            self._raw(status, json.dumps(payload).encode(), "application/json", headers)

        def _raw(self, status: int, data: bytes, content_type: str, headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            if status >= 400:
                self.send_header("x-request-id", f"req_stub_{len(stub.requests)}")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, pieces, finish=False, delay=0.0, then=None) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in pieces:
                if delay:
                    time.sleep(delay)
                self._event(_chunk(piece))
            if then:
                then()
                return self._cut()
            self._event(_chunk(finish=finish if isinstance(finish, str) else "stop"))
            self._event(_chunk(usage={"prompt_tokens": 11, "completion_tokens": len(pieces), "total_tokens": 11 + len(pieces)}))
            self._write(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")

        def _every(self, send, interval: float = 0.2) -> None:
            """Keep the connection busy without any text, until the client hangs up."""
            deadline = time.monotonic() + STALL_SECONDS
            try:
                while time.monotonic() < deadline:
                    send()
                    time.sleep(interval)
            except OSError:
                pass  # the client closed it: what we are testing

        def _event(self, payload: dict) -> None:
            self._write(f"data: {json.dumps(payload)}\n\n".encode())

        def _write(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _cut(self) -> None:
            self.close_connection = True
            self.connection.shutdown(2)  # mid-body: the client sees an incomplete chunked stream

    return Handler
