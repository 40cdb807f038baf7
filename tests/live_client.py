"""A browserless client of the real server: forms over HTTP, and a chat page's socket
whose frames it applies to a small model of the page (messages, chat list, composer)."""
from __future__ import annotations

import html
import json
import re
import threading
import time

import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import csrf_token, empty_chat
from tests.servers import app_like


class User:
    """A signed-in browser session: cookies and the page's CSRF token."""

    def __init__(self, server, email: str) -> None:
        self.server, self.email = server, email
        self.http = requests.Session()
        token = csrf_token(self.http.get(server.url + "/signup").text)
        response = self.http.post(server.url + "/signup",
                                  data={"email": email, "password": "correct horse", "csrf_token": token})
        assert response.status_code == 200, response.text
        self.token = csrf_token(response.text)

    def another_browser(self) -> User:
        """The same account, signed in again from a second browser (a session of its own)."""
        other = object.__new__(User)
        other.server, other.email, other.http = self.server, self.email, requests.Session()
        token = csrf_token(other.http.get(self.server.url + "/login").text)
        response = other.http.post(self.server.url + "/login",
                                   data={"email": self.email, "password": "correct horse", "csrf_token": token})
        assert response.status_code == 200, response.text
        other.token = csrf_token(response.text)
        return other

    def post(self, path: str, **data) -> requests.Response:
        return self.http.post(self.server.url + path, data={**data, "csrf_token": self.token})

    def new_chat(self) -> str:
        """A chat with no messages yet (the app makes a chat only with its first message:
        made as the app would make it, by an app of the server's configuration)."""
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        return empty_chat(app_like(self.server), cookies)

    def open(self, chat_id: str, since: int = 1, origin: str | None = None, via: str | None = None) -> LiveView:
        """The chat page's socket, through the server (or ``via``: one instance of several)."""
        return LiveView(self, chat_id, since, origin, via or self.server.url)


class LiveView:
    """One open chat page's socket."""

    def __init__(self, user: User, chat_id: str, since: int, origin: str | None, base: str) -> None:
        self.user, self.chat_id = user, chat_id
        self.messages: dict[str, dict] = {}  # id -> {"seq", "role", "status", "text"}
        self.titles: list[str] = []  # the chat list, as last shown
        self.composer_error: str | None = None
        self.composer_updates = 0  # the server answers each send with a fresh composer
        self.gone = False
        self.frames: list[str] = []
        self.changed = threading.Condition()
        cookies = "; ".join(f"{k}={v}" for k, v in user.http.cookies.items())
        url = base.replace("http", "ws") + f"/chats/{chat_id}/live?since={since}"
        # websockets sends Host with its port, as browsers do (the server compares Origin to it)
        self.socket = connect(url, additional_headers={"Cookie": cookies}, origin=origin or base, open_timeout=10)
        self.closed = False
        self.close_code: int | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def send(self, content: str, token: str | None = None) -> None:
        self.command("send", content=content, csrf_token=token or self.user.token)

    def stop(self, message_id: str) -> None:
        self.command("stop", message_id=message_id, csrf_token=self.user.token)

    def command(self, kind: str, **values) -> None:
        self.socket.send(json.dumps({"type": kind, **values}))

    def close(self) -> None:
        self.socket.close()

    def wait(self, condition, timeout: float = 15.0):
        """Wait until ``condition(self)`` is truthy; return it."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not (result := condition(self)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out; frames: {self.frames[-5:]}")
                self.changed.wait(left)
        return result

    def replies(self) -> list[dict]:
        return sorted((m for m in self.messages.values() if m["role"] == "assistant"), key=lambda m: m["seq"])

    def _read(self) -> None:
        try:
            while True:
                frame = self.socket.recv()
                with self.changed:
                    self.frames.append(frame)
                    self._apply(frame)
                    self.changed.notify_all()
        except ConnectionClosed as closed:
            with self.changed:
                self.closed = True
                self.close_code = closed.rcvd.code if closed.rcvd else None
                self.changed.notify_all()

    def _apply(self, frame: str) -> None:
        if 'hx-swap-oob="innerHTML:#messages"' in frame:  # another version shown: the conversation anew
            self.messages.clear()
        for mid in re.findall(r'<div id="m-([^"]+)" hx-swap-oob="delete">', frame):
            self.messages.pop(mid, None)
        for mid, seq, role, status, body in re.findall(
                r'<article id="m-([^"]+)" data-seq="(\d+)" class="message (\w+) status-(\w+)"[^>]*>(.*?)</article>',
                frame, re.S):
            text = re.search(r'<div (?:id="t-[^"]+" )?class="message-text [^"]+"[^>]*>(.*?)</div>', body, re.S)
            self.messages[mid] = {"seq": int(seq), "role": role, "status": status, "id": mid,
                                  "text": _text(text.group(1))}
            tail = re.search(r'<p id="tail-[^"]+" class="tail">(?:<span>(.*?)</span>)?</p>', text.group(1), re.S)
            if tail:  # being written: rendered blocks, then the raw tail
                self.messages[mid].update(blocks=_text(text.group(1)[:tail.start()]), tail=html.unescape(tail.group(1) or ""))
        # A reply being written: finished blocks go in before its raw tail, which restarts;
        # or text joins the tail.
        for mid, blocks in re.findall(r'beforebegin:#tail-([^"]+)">(.*?)</div><div hx-swap-oob', frame, re.S):
            if mid in self.messages:
                self.messages[mid]["blocks"] = self.messages[mid].get("blocks", "") + _text(blocks)
        for how, mid, text in re.findall(r'(innerHTML|beforeend):#tail-([^"]+)">(?:<span>(.*?)</span>)?</div>', frame, re.S):
            if mid in self.messages:
                message = self.messages[mid]
                message["tail"] = (message.get("tail", "") if how == "beforeend" else "") + html.unescape(text)
                message["text"] = message.get("blocks", "") + message["tail"]
        if '<nav id="chat-list"' in frame:
            self.titles = [html.unescape(t) for t in re.findall(r'<li><a href="/chats/[^"]+"[^>]*>([^<]*)</a>', frame)]
        if '<form id="composer"' in frame:
            error = re.search(r'<p class="field-error" id="content-error">(.*?)</p>', frame)
            self.composer_error = html.unescape(error.group(1)) if error else None
            self.composer_updates += 1
        if 'class="composer gone"' in frame:
            self.gone = True


def _text(fragment: str) -> str:
    """What a person reads in an HTML fragment."""
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))
