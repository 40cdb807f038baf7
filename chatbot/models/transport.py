"""A lean HTTP/1.1 transport under the `openai` client (its ``http_client`` seam).

A streamed reply arrives as dozens of small chunks. Through httpx's default transport
(httpcore + h11) every chunk is an event object and a trip through a connection pool: on
a busy worker, reading model streams that way cost about a quarter of the CPU. This
transport speaks only what a model server needs (keep-alive connections, ``Content-Length``
and chunked bodies, TLS, timeouts) and hands over everything one read brought at once, so
a burst of tokens costs one wake-up, not one per token.

The `openai` client still builds the request, retries, maps status codes to its errors and
owns the response; this only moves the bytes. Proxies are httpx's business: with a proxy
configured in the environment, the model falls back to httpx's own transport.
"""
from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from typing import Iterator

import httpx2

MAX_HEAD_BYTES = 64 * 1024
READ_SIZE = 64 * 1024
KEEP_IDLE = 1000  # idle connections kept per server, for the next replies
WATCH_EVERY = 0.25  # seconds: how often the watchdog looks for bodies that went quiet


class ModelTransport(httpx2.BaseTransport):
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl_context = ssl_context
        self._idle: dict[tuple[str, str, int], list[socket.socket]] = {}
        self._lock = threading.Lock()
        self._watched: set[_Body] = set()  # bodies being read, for the watchdog
        self._watchdog = 0  # the process whose watchdog runs (a forked worker starts its own)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        timeouts = request.extensions.get("timeout") or {}
        message = _request_head(request) + request.read()
        for attempt in (1, 2):
            connection, reused = self._checkout(origin, timeouts, request)
            try:
                connection.settimeout(timeouts.get("write"))
                connection.sendall(message)
                connection.settimeout(timeouts.get("read"))
                status, reason, headers, rest = _read_head(connection, request)
            except _StaleConnection:
                connection.close()
                if reused and attempt == 1:
                    continue  # the server dropped a kept-alive connection: one fresh try
                raise httpx2.RemoteProtocolError("Server disconnected without sending a response.",
                                                 request=request) from None
            except socket.timeout as error:
                connection.close()
                raise httpx2.ReadTimeout(str(error) or "timed out", request=request) from None
            except OSError as error:
                connection.close()
                raise httpx2.ReadError(str(error), request=request) from None
            body = _Body(self, origin, connection, request, headers, rest, status)
            self._watch(body, timeouts.get("read"))
            return httpx2.Response(status, headers=headers, stream=body,
                                   extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason})
        raise AssertionError("unreachable")

    def _checkout(self, origin, timeouts, request) -> tuple[socket.socket, bool]:
        with self._lock:
            idle = self._idle.get(origin)
            if idle:
                return idle.pop(), True
        scheme, host, port = origin
        try:
            connection = socket.create_connection((host, port), timeout=timeouts.get("connect"))
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                if self._ssl_context is None:
                    self._ssl_context = httpx2.create_ssl_context()
                connection = self._ssl_context.wrap_socket(connection, server_hostname=host)
        except socket.timeout as error:
            raise httpx2.ConnectTimeout(str(error) or "timed out", request=request) from None
        except OSError as error:
            raise httpx2.ConnectError(str(error), request=request) from None
        return connection, False

    def _watch(self, body: _Body, timeout: float | None) -> None:
        """Read the body without a socket timeout: under gevent each read with one arms and
        cancels a timer, which was a tenth of the cost of reading a stream. One watchdog per
        process ends bodies that stay silent for ``timeout`` instead (to WATCH_EVERY)."""
        if timeout is None:
            return
        body.timeout = timeout
        body.connection.settimeout(None)
        self._watched.add(body)
        if self._watchdog != os.getpid():
            self._watchdog = os.getpid()
            threading.Thread(target=self._run_watchdog, daemon=True, name="model-watchdog").start()

    def _run_watchdog(self) -> None:
        while True:
            time.sleep(WATCH_EVERY)
            now = time.monotonic()
            for body in list(self._watched):
                if not body.done and now - body.last_read > body.timeout:
                    body.expire()

    def release(self, origin, connection: socket.socket) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < KEEP_IDLE:
                idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            connections = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for connection in connections:
            connection.close()


class _StaleConnection(Exception):
    """The connection ended before the response's first byte."""


def _request_head(request: httpx2.Request) -> bytes:
    lines = [b"%s %s HTTP/1.1" % (request.method.encode(), request.url.raw_path)]
    lines += [b"%s: %s" % (name, value) for name, value in request.headers.raw]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _read_head(connection: socket.socket, request) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
    """Status, reason, headers, and whatever of the body came with them."""
    buffer = b""
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(buffer) > MAX_HEAD_BYTES:
            raise httpx2.RemoteProtocolError("The response's headers are too large.", request=request)
        data = connection.recv(READ_SIZE)
        if not data:
            if not buffer:
                raise _StaleConnection()
            raise httpx2.RemoteProtocolError("Server disconnected in the middle of the headers.", request=request)
        buffer += data
    status_line, *header_lines = buffer[:end].split(b"\r\n")
    try:
        version, code, *reason = status_line.split(b" ", 2)
        if not version.startswith(b"HTTP/1."):
            raise ValueError(version)
        status = int(code)
        headers = [(name.strip(), value.strip()) for name, _, value in (line.partition(b":") for line in header_lines)]
    except ValueError:
        raise httpx2.RemoteProtocolError(f"Malformed response: {status_line[:100]!r}", request=request) from None
    return status, reason[0] if reason else b"", headers, buffer[end + 4:]


class _Body(httpx2.SyncByteStream):
    """The response body. Each item is everything one read made available."""

    def __init__(self, transport: ModelTransport, origin, connection: socket.socket, request,
                 headers: list[tuple[bytes, bytes]], rest: bytes, status: int) -> None:
        self.transport, self.origin, self.connection, self.request = transport, origin, connection, request
        self.rest = rest
        fields = {name.lower(): value.lower() for name, value in headers}
        self.keep_alive = fields.get(b"connection") != b"close"
        if status in (204, 304) or 100 <= status < 200 or request.method == "HEAD":
            self.framing, self.length = "length", 0
        elif b"chunked" in fields.get(b"transfer-encoding", b""):
            self.framing, self.length = "chunked", None
        elif b"content-length" in fields:
            self.framing, self.length = "length", _content_length(fields[b"content-length"], request)
        else:
            self.framing, self.length, self.keep_alive = "close", None, False
        self.done = False
        self.timeout: float | None = None  # set when the transport's watchdog keeps time
        self.last_read = time.monotonic()
        self.expired = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            if self.framing == "chunked":
                yield from self._chunked()
            elif self.framing == "length":
                yield from self._sized()
            else:
                yield from self._until_close()
        except socket.timeout as error:
            raise httpx2.ReadTimeout(str(error) or "timed out", request=self.request) from None
        except OSError as error:
            raise httpx2.ReadError(str(error), request=self.request) from None

    def _recv(self) -> bytes:
        connection = self.connection
        if connection is None:  # closed (a stop) between two reads
            raise OSError("The response was closed.")
        try:
            data = connection.recv(READ_SIZE)
        except OSError:
            if self.expired:
                raise socket.timeout("timed out") from None
            raise
        if self.expired:
            raise socket.timeout("timed out")
        self.last_read = time.monotonic()
        return data

    def expire(self) -> None:
        """Silent for longer than the read timeout (the watchdog says): wake the read."""
        connection, self.expired = self.connection, True
        if connection is not None:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _read(self) -> bytes:
        data = self._recv()
        if not data:
            raise httpx2.RemoteProtocolError("The server closed the connection before the response was complete.",
                                             request=self.request)
        return data

    def _sized(self) -> Iterator[bytes]:
        remaining = self.length
        data = self.rest[:remaining]
        while True:
            remaining -= len(data)
            self.done = remaining <= 0  # before the last yield: a reader may stop at it
            if data:
                yield data
            if self.done:
                return
            data = self._read()[:remaining]

    def _until_close(self) -> Iterator[bytes]:
        if self.rest:
            yield self.rest
        while data := self._recv():
            yield data

    def _chunked(self) -> Iterator[bytes]:
        buffer, position, remaining = self.rest, 0, -1  # remaining: bytes left of the current chunk; -1 between chunks
        while True:
            out = []
            while True:
                if remaining > 0:  # inside a chunk's data
                    piece = buffer[position:position + remaining]
                    out.append(piece)
                    position += len(piece)
                    remaining -= len(piece)
                    if remaining:
                        break
                if remaining == 0:  # the CRLF after a chunk's data
                    if len(buffer) - position < 2:
                        break
                    if buffer[position:position + 2] != b"\r\n":
                        raise httpx2.RemoteProtocolError("Malformed chunked body.", request=self.request)
                    position, remaining = position + 2, -1
                end = buffer.find(b"\r\n", position)
                if end < 0:
                    break
                size_field = buffer[position:end].split(b";", 1)[0]
                try:
                    size = int(size_field, 16)
                except ValueError:
                    raise httpx2.RemoteProtocolError("Malformed chunked body.", request=self.request) from None
                if size == 0:  # the last chunk: skip any trailers up to the blank line
                    if buffer.find(b"\r\n\r\n", end) < 0:
                        break
                    self.done = True  # before the last yield: a reader may stop at it
                    if out:
                        yield b"".join(out)
                    return
                position, remaining = end + 2, size
            if out:
                data = b"".join(out)
                if data:
                    yield data
            buffer, position = buffer[position:], 0
            if len(buffer) > MAX_HEAD_BYTES and remaining < 0:
                raise httpx2.RemoteProtocolError("Malformed chunked body.", request=self.request)
            buffer += self._read()

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        self.transport._watched.discard(self)
        if self.done and self.keep_alive and not self.expired:
            self.transport.release(self.origin, connection)
            return
        try:
            # Unlike close(), shutdown() also wakes a thread blocked reading this socket,
            # which is how a stop aborts a reply whose model has gone quiet.
            connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        connection.close()


def _content_length(value: bytes, request) -> int:
    try:
        length = int(value.split(b",")[0])
    except ValueError:
        length = -1
    if length < 0:
        raise httpx2.RemoteProtocolError("Malformed Content-Length.", request=request)
    return length
