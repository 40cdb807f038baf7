"""The nginx harness itself, against tiny upstreams: round-robin, unbuffered streams, WebSockets."""
from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from websockets.sync.client import connect
from websockets.sync.server import serve

from tests.conftest import require_service
from tests.nginx import NginxProxy, nginx_available


@pytest.fixture(autouse=True)
def _need_nginx():
    if nginx_available() is None:
        require_service("nginx is not installed")


class Upstream:
    """An HTTP server on a free loopback port that names itself and can hold a stream open."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.release = threading.Event()  # the test lets /stream finish once it saw the first event
        self.finished = threading.Event()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/stream":
                    return self.stream()
                body = json.dumps({"name": upstream.name, "host": self.headers["Host"],
                                   "proto": self.headers["X-Forwarded-Proto"],
                                   "for": self.headers["X-Forwarded-For"]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = len(self.rfile.read(int(self.headers["Content-Length"])))
                body = str(length).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def stream(self) -> None:
                # No length, closed at the end: nginx must pass each event on as it comes.
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.write(b"data: first\n\n")
                self.wfile.flush()
                upstream.release.wait(timeout=10)
                self.wfile.write(b"data: last\n\n")
                self.wfile.flush()
                upstream.finished.set()
                self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstreams():
    pair = [Upstream("a"), Upstream("b")]
    yield pair
    for upstream in pair:
        upstream.close()


def test_requests_alternate_between_upstreams(upstreams, tmp_path):
    with NginxProxy([u.port for u in upstreams], tmp_path) as proxy:
        replies = [requests.get(proxy.url + "/", timeout=5).json() for _ in range(6)]
    names = [reply["name"] for reply in replies]
    assert set(names) == {"a", "b"}
    assert all(first != second for first, second in zip(names, names[1:])), names
    # The app sees what the browser sent: Host with the port, and who asked over what.
    assert {reply["host"] for reply in replies} == {f"127.0.0.1:{proxy.port}"}
    assert {reply["proto"] for reply in replies} == {"http"}
    assert {reply["for"] for reply in replies} == {"127.0.0.1"}


def test_a_stream_arrives_before_the_upstream_finishes(upstreams, tmp_path):
    with NginxProxy([u.port for u in upstreams], tmp_path) as proxy:
        connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
        connection.request("GET", "/stream")
        response = connection.getresponse()
        assert response.status == 200
        received = b""
        while b"data: first\n\n" not in received:  # times out (5 s) if nginx holds it back
            chunk = response.read1(1024)
            assert chunk, "the stream ended before its first event"
            received += chunk
        assert not any(u.finished.is_set() for u in upstreams)
        for upstream in upstreams:
            upstream.release.set()
        received += response.read()
        connection.close()
    assert received == b"data: first\n\ndata: last\n\n"


def test_an_upload_larger_than_nginx_defaults_passes(upstreams, tmp_path):
    """2 MB: over the default 1 MB limit, and spooled to the temp path the worker must write."""
    with NginxProxy([u.port for u in upstreams], tmp_path) as proxy:
        reply = requests.post(proxy.url + "/upload", data=b"x" * (2 << 20), timeout=10)
        assert reply.status_code == 200, proxy.log()
    assert reply.text == str(2 << 20)


def test_a_websocket_handshake_passes_through(tmp_path):
    def echo(websocket) -> None:
        for message in websocket:
            websocket.send(f"{websocket.request.headers['Host']} {message}")

    with serve(echo, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.socket.getsockname()[1]
        with NginxProxy([port], tmp_path) as proxy:
            with connect(f"ws://127.0.0.1:{proxy.port}/live", open_timeout=5) as websocket:
                websocket.send("hello")
                assert websocket.recv(timeout=5) == f"127.0.0.1:{proxy.port} hello"
        server.shutdown()


def test_a_failed_start_raises_with_the_error_log(tmp_path):
    proxy = NginxProxy([1], tmp_path)  # the upstream is never contacted
    proxy.config_text += "nonsense on;\n"
    with pytest.raises(RuntimeError, match='unknown directive "nonsense"'):
        with proxy:
            pass
