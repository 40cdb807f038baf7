"""Pages, fragments, stylesheets and scripts travel compressed; streams, sockets, downloads
and small bodies do not. Checked on the wire, against the real server."""
from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import brotli
import pytest
import requests
from flask import Response
from websockets.sync.client import connect

from chatbot.store import STREAMING
from tests.live_client import User
from tests.servers import embedded_server
from tests.sse import events

STATIC = Path(__file__).resolve().parent.parent / "chatbot" / "static"
BROWSER = "gzip, deflate, br, zstd"  # what Chromium sends
DECODE = {"gzip": gzip.decompress, "br": brotli.decompress, None: lambda body: body}
JS_BUDGET = 25_000  # bytes of gzipped JavaScript for a chat page


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # Slow tokens, so a reply is still being written when its first event is read.
    with embedded_server(tmp_path_factory.mktemp("compression"), OFFLINE_TOKEN_DELAY="0.05") as running:
        yield running


@pytest.fixture(scope="module")
def ada(server):
    return User(server, "ada@example.com")


@pytest.fixture(scope="module")
def chat_url(server, ada):
    return f"{ada.server.url}/chats/{ada.new_chat()}"


def fetch(http, url, accept_encoding, method="GET", **kwargs):
    """The response with ``.body`` as it came over the wire (``None``: no Accept-Encoding)."""
    headers = {"Accept-Encoding": accept_encoding, **kwargs.pop("headers", {})}
    with http.request(method, url, headers=headers, stream=True, timeout=30, **kwargs) as response:
        response.body = response.raw.read(decode_content=False)
    return response


def decoded(response) -> bytes:
    body = DECODE[response.headers.get("Content-Encoding")](response.body)
    assert int(response.headers["Content-Length"]) == len(response.body)
    return body


def assets(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/[^"]+\.(?:css|js)\?v=[0-9a-f]+)"', page)


@pytest.mark.server
@pytest.mark.parametrize("accept, coding", [(BROWSER, "br"), ("gzip", "gzip"), ("gzip;q=1, br;q=0.5", "gzip")])
def test_a_chat_page_comes_compressed_as_the_browser_asks(ada, chat_url, accept, coding):
    response = fetch(ada.http, chat_url, accept)
    assert response.headers["Content-Encoding"] == coding
    assert {"Accept-Encoding", "HX-Request"} <= {v.strip() for v in response.headers["Vary"].split(",")}
    page = decoded(response).decode()
    assert page.startswith("<!doctype html>") and "htmx-4.0.1.min.js" in page


@pytest.mark.server
@pytest.mark.parametrize("accept", [None, "identity", "deflate"])
def test_a_browser_that_takes_no_coding_we_have_gets_the_page_as_it_is(ada, chat_url, accept):
    response = fetch(ada.http, chat_url, accept)
    assert "Content-Encoding" not in response.headers
    assert "Accept-Encoding" in response.headers["Vary"]  # a cache must still ask per coding
    assert decoded(response).startswith(b"<!doctype html>")


@pytest.mark.server
@pytest.mark.parametrize("accept, coding", [(BROWSER, "br"), ("gzip", "gzip"), (None, None)])
def test_stylesheets_and_scripts_come_compressed_and_are_kept_for_a_year(server, ada, chat_url, accept, coding):
    urls = assets(ada.http.get(chat_url).text)
    assert any("app.css" in u for u in urls) and any("htmx-4.0.1.min.js" in u for u in urls)
    for url in urls:
        name = url.split("?")[0].rsplit("/", 1)[1]
        response = fetch(requests, server.url + url, accept)
        assert response.status_code == 200 and decoded(response) == (STATIC / name).read_bytes(), name
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert "Accept-Encoding" in response.headers["Vary"]
        coding_here = coding if len((STATIC / name).read_bytes()) >= 500 else None
        assert response.headers.get("Content-Encoding") == coding_here, name
        # A compressed variant never shares the original's strong ETag.
        assert response.headers["ETag"].startswith("W/") == (coding_here is not None), name


@pytest.mark.server
def test_an_htmx_fragment_comes_compressed(server, ada):
    chat_id = ada.new_chat()
    response = fetch(ada.http, f"{server.url}/chats/{chat_id}/messages", "gzip", method="POST",
                     data={"content": "Hello there", "csrf_token": ada.token}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"
    fragment = decoded(response).decode()
    assert not fragment.startswith("<!doctype") and "Hello there" in fragment


@pytest.mark.server
def test_the_reply_stream_is_not_compressed_and_arrives_event_by_event(server, ada):
    chat_id = ada.new_chat()
    response = ada.http.post(f"{server.url}/chats/{chat_id}/messages", headers={"HX-Request": "true"},
                             data={"content": "Why do lighthouses have such tall towers?", "csrf_token": ada.token})
    url = server.url + re.search(r'hx-sse:connect="([^"]+)"', response.text).group(1).replace("&amp;", "&")
    reply_id = re.search(r"/messages/([^/]+)/events", url).group(1)
    owner = server.store.user_by_email(ada.email).id
    with ada.http.get(url, headers={"Accept-Encoding": BROWSER}, stream=True, timeout=30) as stream:
        assert "Content-Encoding" not in stream.headers and "Accept-Encoding" not in stream.headers.get("Vary", "")
        received = events(stream)
        first = next(e for e in received if e["id"] is not None)  # events that show text carry an id
        # The first piece of text is here while the reply is still being written.
        assert server.store.message(owner, reply_id).status == STREAMING, first
        rest = list(received)
    assert f'id="m-{reply_id}"' in rest[-1]["data"]  # and the stream ran to the finished message


@pytest.mark.server
def test_an_attachment_download_is_not_compressed(server, ada):
    notes = ("Lighthouse keepers' log: fog again, the lamp lit at dusk.\n" * 60).encode()
    chat_id = ada.new_chat()
    page = ada.http.post(f"{server.url}/chats/{chat_id}/messages", data={"content": "notes", "csrf_token": ada.token},
                         files={"files": ("notes.txt", notes)}).text
    [path] = re.findall(r'href="(/attachments/[^"]+)" download', page)
    response = fetch(ada.http, server.url + path, BROWSER)
    assert response.status_code == 200 and "Content-Encoding" not in response.headers
    assert response.body == notes


@pytest.mark.server
def test_a_websocket_handshake_is_not_compressed(server, ada, chat_url):
    url = chat_url.replace("http", "ws") + "/live?since=1"
    cookies = "; ".join(f"{k}={v}" for k, v in ada.http.cookies.items())
    with connect(url, additional_headers={"Cookie": cookies, "Accept-Encoding": BROWSER}, origin=server.url,
                 open_timeout=10) as socket:
        assert socket.response.status_code == 101 and "Content-Encoding" not in socket.response.headers


@pytest.mark.server
def test_revalidation_and_head_agree_with_the_compressed_get(server, ada, chat_url):
    [css] = [u for u in assets(ada.http.get(chat_url).text) if "app.css" in u]
    got = fetch(requests, server.url + css, "gzip")
    again = fetch(requests, server.url + css, "gzip", headers={"If-None-Match": got.headers["ETag"]})
    assert again.status_code == 304 and again.body == b"" and again.headers["ETag"] == got.headers["ETag"]
    plain = fetch(requests, server.url + css, None, headers={"If-None-Match": got.headers["ETag"]})
    assert plain.status_code == 304  # the same file, whichever coding the browser kept
    for url, http in ((server.url + css, requests), (chat_url, ada.http)):
        head = fetch(http, url, "gzip", method="HEAD")
        get = fetch(http, url, "gzip")
        assert head.status_code == 200 and head.body == b"" and head.headers["Content-Encoding"] == "gzip"
        if http is requests:  # a page differs per request (its fresh ids), a file never
            assert head.headers["Content-Length"] == get.headers["Content-Length"]


@pytest.mark.server
def test_a_chat_pages_javascript_is_within_its_budget_gzipped(server, ada, chat_url):
    page = fetch(ada.http, chat_url, "gzip")
    rows = [("page", len(decoded(page)), len(page.body), len(fetch(ada.http, chat_url, "br").body))]
    for url in assets(decoded(page).decode()):
        plain, packed, br = (fetch(requests, server.url + url, a) for a in (None, "gzip", "br"))
        rows.append((url.split("?")[0].rsplit("/", 1)[1], len(plain.body), len(packed.body), len(br.body)))
    scripts = sum(packed for name, _, packed, _ in rows if name.endswith(".js"))
    table = "\n".join(f"{name:24} {raw:7} raw {packed:7} gzip {br:7} br" for name, raw, packed, br in rows)
    assert scripts <= JS_BUDGET, f"{scripts} bytes of gzipped JavaScript:\n{table}"


# Without a server: what the hook does with responses the app does not make yet, or rarely.

def test_a_streamed_page_passes_through_chunk_by_chunk(app):
    made = []

    def chunks():
        for n in range(3):
            made.append(n)
            yield f"<p>{'word ' * 200}{n}</p>"

    app.add_url_rule("/streamed", "streamed", lambda: Response(chunks(), mimetype="text/html"))
    with app.test_client().get("/streamed", headers={"Accept-Encoding": BROWSER}, buffered=False) as response:
        assert "Content-Encoding" not in response.headers
        first = next(iter(response.response))
        assert first.startswith(b"<p>word") and made == [0]  # nothing was read ahead
        assert b"".join(response.response).endswith(b"2</p>")


def test_small_bodies_and_ranges_are_sent_as_they_are(client):
    small = client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small.headers
    with client.get("/static/app.css", headers={"Accept-Encoding": "gzip", "Range": "bytes=0-99"}) as part:
        assert part.status_code == 206 and "Content-Encoding" not in part.headers
        assert part.data == (STATIC / "app.css").read_bytes()[:100]


def test_a_static_file_is_compressed_once_per_version(app, tmp_path, monkeypatch):
    from chatbot import compression

    made = []
    real = compression._compress
    monkeypatch.setattr(compression, "_compress", lambda *args: made.append(args[1]) or real(*args))
    app.static_folder = str(tmp_path)
    client = app.test_client()
    for text, modified in (("a { color: red }\n" * 100, 1), ("b { color: blue }\n" * 100, 2)):
        (tmp_path / "x.css").write_text(text)
        os.utime(tmp_path / "x.css", (modified, modified))  # a new release: a new modified time
        for _ in range(3):
            with client.get("/static/x.css", headers={"Accept-Encoding": "gzip"}) as response:
                assert gzip.decompress(response.data).decode() == text
    assert made == ["gzip", "gzip"]  # once for each version, not once per request
    for n in range(3):  # a missing file's 404 page is compressed as a page, and never kept
        client.get(f"/static/missing-{n}.css", headers={"Accept-Encoding": "gzip"}).close()
    assert set(app.extensions["chatbot.compression"].files) == {("x.css", "gzip")}
